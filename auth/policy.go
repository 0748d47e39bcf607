package auth

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"

	"github.com/storaged/storaged/internal/netaddr"
)

// Networks are the networks from which a password may cross a cleartext
// connection (RFC 8314 §5.1: otherwise only after TLS). Its zero value
// trusts loopback only.
type Networks []netip.Prefix

// DefaultTrusted is loopback, so that a server on 127.0.0.1 without TLS
// (make run, the tests) works as before.
var DefaultTrusted = Networks{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// ParseNetworks reads CIDR prefixes ("10.0.0.0/8") or single addresses.
func ParseNetworks(list []string) (Networks, error) {
	out := make(Networks, 0, len(list))
	for _, s := range list {
		s = strings.TrimSpace(s)
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%q is not an address or a network like 10.0.0.0/8", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Trusts reports whether a cleartext login from remote is allowed. A
// connection that is not over IP (a unix socket, an in-process pipe) is
// local and trusted: whoever reaches it is already on the machine.
func (n Networks) Trusts(remote net.Addr) bool {
	switch remote.(type) {
	case *net.TCPAddr, *net.UDPAddr:
	default:
		return true
	}
	ip, ok := netaddr.IP(remote)
	if !ok {
		return false // an IP connection without a usable address
	}
	if n == nil {
		n = DefaultTrusted
	}
	for _, p := range n {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// verifySlots bounds how many slow verifications run at once: an argon2id
// hash at Dovecot's cost holds 64 MiB while it runs, so 50 connections
// failing at once would otherwise hold 3 GiB. Waiting costs a connection
// a goroutine, not a hash's memory.
type verifySlots chan struct{}

// DefaultMaxParallel is one verification per CPU: they are CPU-bound,
// so more at once adds memory but no throughput.
func DefaultMaxParallel() int { return max(1, runtime.GOMAXPROCS(0)) }

func (s verifySlots) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s verifySlots) release() { <-s }
