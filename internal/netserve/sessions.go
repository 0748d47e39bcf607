package netserve

import (
	"sync"
	"time"
)

// SessionInfo is one connected client as the admin's who lists it.
type SessionInfo struct {
	ID, User, Remote string
	Since            time.Time
}

// Sessions is a server's table of connected clients, for who. A
// session's goroutine writes its entry; the admin's reads the table: the
// session's own fields stay its goroutine's alone.
type Sessions struct {
	mu sync.Mutex
	m  map[*Session]struct{}
}

// Session is one entry of Sessions. A nil *Session is valid and records
// nothing (sessions built by tests without a server).
type Session struct {
	t    *Sessions
	info SessionInfo
}

// Add enters a session that has just connected.
func (t *Sessions) Add(id, remote string) *Session {
	s := &Session{t: t, info: SessionInfo{ID: id, Remote: remote, Since: time.Now()}}
	t.mu.Lock()
	if t.m == nil {
		t.m = make(map[*Session]struct{})
	}
	t.m[s] = struct{}{}
	t.mu.Unlock()
	return s
}

// SetUser records the user the session logged in as.
func (s *Session) SetUser(user string) {
	if s == nil {
		return
	}
	s.t.mu.Lock()
	s.info.User = user
	s.t.mu.Unlock()
}

// Remove takes the session out of the table when it ends.
func (s *Session) Remove() {
	if s == nil {
		return
	}
	s.t.mu.Lock()
	delete(s.t.m, s)
	s.t.mu.Unlock()
}

// List returns the connected sessions.
func (t *Sessions) List() []SessionInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]SessionInfo, 0, len(t.m))
	for s := range t.m {
		out = append(out, s.info)
	}
	return out
}
