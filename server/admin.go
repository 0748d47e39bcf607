package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"

	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/internal/certs"

	"github.com/storaged/storaged/admin"
)

// listenAdmin opens the admin socket ([admin] socket), through which the
// CLI runs its verbs inside this process (admin package doc); nil when
// it is off. serveAdmin serves it, after the privilege drop.
func (s *Server) listenAdmin() (net.Listener, error) {
	if s.Config.Admin.Socket == "" {
		return nil, nil
	}
	return admin.Listen(s.Config.Admin.Socket)
}

func (s *Server) serveAdmin(l net.Listener) {
	if l == nil {
		return
	}
	path := s.Config.Admin.Socket
	s.admin = &admin.Server{Log: s.Log, Env: &admin.Env{
		Config: s.Config, Users: s.Users, Accounts: s.Accounts, Log: s.Log,
		Sessions: s.sessions, Reload: s.Reload, Stop: s.requestStop,
	}}
	s.Log.Info("listening", "proto", "admin", "addr", path)
	go s.admin.Serve(l)
}

// Reload does what SIGHUP does and says what it did: the configuration
// is read again (LoadConfig), the listeners it adds or drops are opened
// or closed (sessions in flight stay), the certificates and the log
// level take their new values, the users file is read again, and every
// other changed setting is named as waiting for a restart.
func (s *Server) Reload() (string, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	var done []string
	var errs []error
	tlsDone := false
	if s.LoadConfig != nil {
		next, err := s.LoadConfig()
		if err != nil {
			return "", fmt.Errorf("configuration not reloaded (the running one stays): %w", err)
		}
		applied, restart, err := s.applyConfig(next)
		done = append(done, applied...)
		if err != nil {
			errs = append(errs, err)
		}
		if len(restart) > 0 {
			s.Log.Warn("reload: these settings changed and take effect at the next restart", "keys", strings.Join(restart, " "))
			done = append(done, "at the next restart: "+strings.Join(restart, " "))
		}
		tlsDone = slices.ContainsFunc(applied, func(a string) bool { return strings.HasPrefix(a, "TLS") })
	}
	if s.certs != nil && !tlsDone {
		if err := s.ReloadTLS(); err != nil {
			errs = append(errs, fmt.Errorf("TLS certificates not reloaded (the previous ones stay): %w", err))
		} else {
			done = append(done, "TLS certificates reloaded")
		}
	}
	if s.ReopenLog != nil {
		if err := s.ReopenLog(); err != nil {
			errs = append(errs, err)
		} else {
			done = append(done, "log file reopened")
		}
	}
	// The users file is read again whenever it changes; a reload makes
	// sure of it at once.
	s.Users.Refresh()
	done = append(done, fmt.Sprintf("users file read (%d users)", s.Users.Len()))
	return strings.Join(done, "; "), errors.Join(errs...)
}

// applyConfig applies what can change in a running server and returns
// what it did and the changed keys that wait for a restart.
func (s *Server) applyConfig(next *config.Config) (applied, restart []string, err error) {
	last := s.live
	if last == nil {
		last = s.Config
	}
	changed, err := config.Changed(last, next)
	if err != nil {
		return nil, nil, err
	}
	if len(changed) > 0 {
		s.Log.Info("reload: configuration changed", "keys", strings.Join(changed, " "))
	}
	var errs []error
	listeners, err := s.reloadListeners(next)
	applied = append(applied, listeners...)
	if err != nil {
		errs = append(errs, err)
	}
	live := map[string]bool{"lmtp.listen": true, "imap.listen": true, "imap.listen_tls": true, "pop3.listen": true,
		"pop3.listen_tls": true, "managesieve.listen": true, "quota.policy_listen": true}
	if s.LogLevel != nil {
		var lvl slog.Level
		if lvl.UnmarshalText([]byte(next.Log.Level)) == nil && lvl != s.LogLevel.Level() {
			s.LogLevel.Set(lvl)
			applied = append(applied, "log level "+next.Log.Level)
		}
		live["log.level"] = true
	}
	if s.rawlog != nil {
		// New sessions use the new list; traces running go on.
		if !slices.Equal(last.Log.RawlogUsers, next.Log.RawlogUsers) {
			s.rawlog.SetUsers(next.Log.RawlogUsers)
			applied = append(applied, "rawlog users ["+strings.Join(next.Log.RawlogUsers, " ")+"]")
		}
		live["log.rawlog_users"] = true
	}
	if s.certs != nil && next.TLS.Enabled() {
		var pairs []certs.Pair
		for _, p := range next.TLS.Pairs() {
			pairs = append(pairs, certs.Pair{Cert: p.Cert, Key: p.Key})
		}
		if err := s.certs.SetPairs(pairs); err != nil {
			errs = append(errs, fmt.Errorf("TLS certificates not reloaded (the previous ones stay): %w", err))
		} else {
			applied = append(applied, "TLS certificates reloaded ("+strings.Join(s.certs.Names(), " ")+")")
			for _, k := range []string{"tls.cert", "tls.key", "tls.certs"} {
				live[k] = true
			}
		}
	}
	// Against the configuration the server started with: a setting that
	// waits for a restart is named at every reload until then.
	pending, err := config.Changed(s.Config, next)
	if err != nil {
		return applied, nil, err
	}
	for _, k := range pending {
		if !live[k] {
			restart = append(restart, k)
		}
	}
	s.live = next
	return applied, restart, errors.Join(errs...)
}

// requestStop asks the process to stop as SIGTERM would: Stopping fires.
func (s *Server) requestStop() {
	s.stopOnce.Do(func() { close(s.stop) })
}

// Stopping fires when a stop was asked for over the admin socket.
func (s *Server) Stopping() <-chan struct{} { return s.stop }

// sessions lists every connected client of every protocol.
func (s *Server) sessions() []admin.Session {
	var out []admin.Session
	if s.imap != nil {
		for _, x := range s.imap.Sessions() {
			out = append(out, admin.Session{Proto: "imap", ID: x.ID, User: x.User, Remote: x.Remote, Since: x.Since, Mailbox: x.Mailbox})
		}
	}
	if s.pop3 != nil {
		for _, x := range s.pop3.Sessions() {
			out = append(out, admin.Session{Proto: "pop3", ID: x.ID, User: x.User, Remote: x.Remote, Since: x.Since})
		}
	}
	if s.managesieve != nil {
		for _, x := range s.managesieve.Sessions() {
			out = append(out, admin.Session{Proto: "managesieve", ID: x.ID, User: x.User, Remote: x.Remote, Since: x.Since})
		}
	}
	return out
}
