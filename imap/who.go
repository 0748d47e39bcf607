package imap

import (
	"sync"
	"time"
)

// SessionInfo is one connected client, for the admin's who.
type SessionInfo struct {
	ID, User, Remote, Mailbox string
	Since                     time.Time
}

// who is what a session shows of itself to other goroutines: the
// session's own fields belong to its goroutine alone.
type who struct {
	mu   sync.Mutex
	info SessionInfo
}

func (w *who) set(f func(*SessionInfo)) {
	w.mu.Lock()
	f(&w.info)
	w.mu.Unlock()
}

func (w *who) get() SessionInfo {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.info
}

// Sessions lists the connected clients.
func (s *Server) Sessions() []SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SessionInfo, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c.who.get())
	}
	return out
}
