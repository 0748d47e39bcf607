package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/storaged/storaged/config"
)

// bound is one listener and the address the configuration named for it
// (a reload compares those, not the port the kernel chose for ":0").
type bound struct {
	proto, addr string
	l           net.Listener
	// retired: closed on purpose (a reload dropped it); its serve loop's
	// error is not a failure of the server.
	retired atomic.Bool
}

// listenSpec is one protocol's configured addresses.
type listenSpec struct {
	proto string
	addrs []string
	// login: the protocol carries passwords.
	login bool
}

func listenSpecs(cfg *config.Config) []listenSpec {
	var policy []string
	if cfg.Quota.PolicyListen != "" {
		policy = []string{cfg.Quota.PolicyListen}
	}
	return []listenSpec{{"lmtp", cfg.LMTP.Listen, false}, {"imap", cfg.IMAP.Listen, true}, {"imaps", cfg.IMAP.ListenTLS, true},
		{"pop3", cfg.POP3.Listen, true}, {"pop3s", cfg.POP3.ListenTLS, true}, {"policy", policy, false},
		{"managesieve", cfg.ManageSieve.Listen, true}}
}

// openListener binds one address; nil, nil is the default ManageSieve
// port already taken, which must not keep delivery from starting (a
// Dovecot managesieved still running during a migration).
func (s *Server) openListener(p listenSpec, addr string) (*bound, error) {
	uid, gid, err := s.Config.SocketOwner()
	if err != nil {
		return nil, err
	}
	l, err := listen(addr, s.Config.SocketPerm(), uid, gid)
	if err != nil && p.proto == "managesieve" && addr == config.DefaultManageSieveListen && errors.Is(err, syscall.EADDRINUSE) {
		s.Log.Warn("managesieve: the default port is taken; ManageSieve is off (set [managesieve] listen)", "addr", addr, "err", err)
		return nil, nil
	}
	if err != nil && errors.Is(err, syscall.EACCES) && os.Geteuid() != 0 && lowPort(addr) {
		// A reload after [server] user took effect: the process that
		// could bind it is gone, and only a restart (as root) brings it back.
		return nil, fmt.Errorf("%s: listen %s: ports below 1024 need root, and storaged runs as uid %d now: restart it to open this port: %w",
			p.proto, addr, os.Geteuid(), err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: listen %s: %w", p.proto, addr, err)
	}
	if p.login && !s.tlsOn && !loopbackOnly(addr) {
		// Logins there work only from auth.trusted_networks, and their
		// passwords cross the network in the clear.
		s.Log.Warn("no TLS on a non-loopback address: logins only from auth.trusted_networks, in the clear; configure [tls]", "proto", p.proto, "addr", addr)
	}
	s.Log.Info("listening", "proto", p.proto, "addr", l.Addr().String())
	return &bound{proto: p.proto, addr: addr, l: l}, nil
}

// lowPort: addr is a TCP address whose port only root may bind.
func lowPort(addr string) bool {
	if strings.HasPrefix(addr, "unix:") {
		return false
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n < 1024
}

// serveListener records b and serves it until it is closed.
func (s *Server) serveListener(b *bound) {
	serve := map[string]func(net.Listener) error{"lmtp": s.lmtp.Serve, "imap": s.imap.Serve, "pop3": s.pop3.Serve,
		"imaps": s.imap.ServeTLS, "pop3s": s.pop3.ServeTLS, "managesieve": s.managesieve.Serve, "policy": s.policy.Serve}[b.proto]
	s.lmu.Lock()
	s.bound = append(s.bound, b)
	s.lmu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := serve(b.l); err != nil && !b.retired.Load() {
			s.errc <- fmt.Errorf("%s %s: %w", b.proto, b.l.Addr(), err)
		}
	}()
}

// reloadListeners opens what next adds and closes what it drops;
// connections already accepted keep running. A listener that cannot be
// opened is reported and the others still change.
func (s *Server) reloadListeners(next *config.Config) (changes []string, err error) {
	want := map[[2]string]bool{}
	specs := listenSpecs(next)
	for _, p := range specs {
		for _, a := range p.addrs {
			want[[2]string{p.proto, a}] = true
		}
	}
	s.lmu.Lock()
	have := map[[2]string]bool{}
	kept := s.bound[:0:0]
	for _, b := range s.bound {
		key := [2]string{b.proto, b.addr}
		if want[key] && !have[key] {
			have[key] = true
			kept = append(kept, b)
			continue
		}
		b.retired.Store(true)
		b.l.Close()
		changes = append(changes, fmt.Sprintf("closed %s %s", b.proto, b.addr))
	}
	s.bound = kept
	s.lmu.Unlock()
	var errs []error
	for _, p := range specs {
		for _, a := range p.addrs {
			if have[[2]string{p.proto, a}] {
				continue
			}
			b, err := s.openListener(p, a)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if b != nil {
				s.serveListener(b)
				changes = append(changes, fmt.Sprintf("opened %s %s", p.proto, b.l.Addr()))
			}
		}
	}
	slices.Sort(changes)
	return changes, errors.Join(errs...)
}
