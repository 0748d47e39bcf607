package server

import (
	"fmt"
	"strings"

	"github.com/storaged/storaged/admin"
)

// startAdmin opens the admin socket ([admin] socket), through which the
// CLI runs its verbs inside this process (admin package doc).
func (s *Server) startAdmin() error {
	path := s.Config.Admin.Socket
	if path == "" {
		return nil
	}
	l, err := admin.Listen(path)
	if err != nil {
		return err
	}
	s.admin = &admin.Server{Log: s.Log, Env: &admin.Env{
		Config: s.Config, Users: s.Users, Accounts: s.Accounts,
		Sessions: s.sessions, Reload: s.Reload, Stop: s.requestStop,
	}}
	s.Log.Info("listening", "proto", "admin", "addr", path)
	go s.admin.Serve(l)
	return nil
}

// Reload does what SIGHUP does and says what it did.
func (s *Server) Reload() (string, error) {
	var done []string
	if s.certs != nil {
		if err := s.ReloadTLS(); err != nil {
			return "", fmt.Errorf("TLS certificates not reloaded (the previous ones stay): %w", err)
		}
		done = append(done, "TLS certificates reloaded")
	}
	// The users file is read again whenever it changes; a reload makes
	// sure of it at once.
	s.Users.Refresh()
	done = append(done, fmt.Sprintf("users file read (%d users)", s.Users.Len()))
	return strings.Join(done, "; "), nil
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
	return out
}
