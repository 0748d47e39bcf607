package imap

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/internal/netserve"
)

func dialPlain(t *testing.T, addr string) *session {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &session{t: t, conn: c, r: bufio.NewReader(c)}
}

// RFC 9051 §7.1.5: a BYE greeting refuses the connection; RFC 5530 LIMIT
// says why.
func TestConnectionsPerAddress(t *testing.T) {
	e := newEnvConfig(t, func(c *Config) { c.Limits = netserve.NewLimits(0, 2, nil) })
	addr := e.serveTCP(t, nil, false)
	var open []*session
	for range 2 {
		s := dialPlain(t, addr)
		if g := s.line(); !strings.HasPrefix(g, "* OK [CAPABILITY ") {
			t.Fatalf("greeting %q", g)
		}
		open = append(open, s)
	}
	s := dialPlain(t, addr)
	s.expect("third connection", "* BYE [LIMIT] Too many connections from your address")
	s.closed()
	// One ends: its place is free again.
	open[0].do("a LOGOUT", "* BYE logging out", "a OK LOGOUT completed")
	open[0].closed()
	s = dialPlain(t, addr)
	if g := s.line(); !strings.HasPrefix(g, "* OK [CAPABILITY ") {
		t.Fatalf("after a logout: %q", g)
	}
}

func TestConnectionsTotal(t *testing.T) {
	e := newEnvConfig(t, func(c *Config) { c.Limits = netserve.NewLimits(1, 0, nil) })
	addr := e.serveTCP(t, nil, false)
	s := dialPlain(t, addr)
	if g := s.line(); !strings.HasPrefix(g, "* OK ") {
		t.Fatalf("greeting %q", g)
	}
	s = dialPlain(t, addr)
	s.expect("second connection", "* BYE [LIMIT] Too many connections; try again later")
	s.closed()
}

// Dovecot's mail_max_userip_connections: counted at login, NO [LIMIT],
// the connection stays and may log in once a slot is free.
func TestConnectionsPerUserAddress(t *testing.T) {
	e := newEnvConfig(t, func(c *Config) { c.MaxConnectionsPerUserAddress = 2 })
	a, b := e.dial(t), e.dial(t)
	a.login()
	b.login()
	c := e.dial(t)
	c.do("L1 LOGIN u p", "L1 NO [LIMIT] Too many connections for this user from this address")
	c.do("a CAPABILITY", "* "+c.capsLine(), "a OK CAPABILITY completed")
	// UNAUTHENTICATE gives the slot back, and so does LOGOUT.
	a.do("u1 UNAUTHENTICATE", "u1 OK UNAUTHENTICATE completed")
	c.login()
	a.do("L2 LOGIN u p", "L2 NO [LIMIT] Too many connections for this user from this address")
	b.do("z LOGOUT", "* BYE logging out", "z OK LOGOUT completed")
	b.closed()
	a.send("L3 LOGIN u p\r\n")
	if l := a.line(); !strings.HasPrefix(l, "L3 OK [CAPABILITY ") {
		t.Fatalf("login after a logout: %q", l)
	}
}

// capsLine is what CAPABILITY answers before login.
func (s *session) capsLine() string {
	s.t.Helper()
	s.send("c0 CAPABILITY\r\n")
	l := s.line()
	s.expect("c0 CAPABILITY", "c0 OK CAPABILITY completed")
	return strings.TrimPrefix(l, "* ")
}

// RFC 9051 §5.4: the shorter timer before login.
func TestLoginIdleTimeout(t *testing.T) {
	e := newEnvConfig(t, func(c *Config) { c.IdleTimeout, c.LoginIdleTimeout = time.Hour, 20*time.Millisecond })
	s := e.dial(t)
	s.expect("waiting", "* BYE autologout; idle for too long")
	s.closed()
}

func TestMailboxLimits(t *testing.T) {
	e := newEnvConfig(t, func(c *Config) { c.MaxMailboxes, c.MaxMailboxDepth = 9, 3 })
	// A new account has INBOX and five special-use mailboxes: six of nine.
	s := e.dial(t)
	s.login()
	s.do("a1 CREATE a/b/c", "a1 OK CREATE completed") // a, a/b, a/b/c: nine
	s.do("a2 CREATE x", "a2 NO [LIMIT] Too many mailboxes (at most 9)")
	s.do("a3 CREATE a/b/c", "a3 NO [ALREADYEXISTS] mailbox already exists")
	s.do("a4 DELETE a/b/c", "a4 OK DELETE completed")
	s.do("a5 CREATE a/b/c/d", "a5 NO [LIMIT] Mailbox hierarchy too deep (at most 3 levels)")
	s.do("a6 CREATE x/y", "a6 NO [LIMIT] Too many mailboxes (at most 9)") // x and x/y
	s.do("a7 CREATE x", "a7 OK CREATE completed")
	// RENAME: the children move too, and their depth counts.
	s.do("b1 RENAME a x/y/z", "b1 NO [LIMIT] Mailbox hierarchy too deep (at most 3 levels)")
	s.do("b2 RENAME a/b x/b", "b2 OK RENAME completed")
	s.do("b3 RENAME x/b y/b", "b3 NO [LIMIT] Too many mailboxes (at most 9)") // y is new
	s.do("b4 RENAME INBOX Old", "b4 NO [LIMIT] Too many mailboxes (at most 9)")
	s.do("b5 RENAME nosuch z", "b5 NO [NONEXISTENT] no such mailbox")
}
