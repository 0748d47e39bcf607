package pop3

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/storaged/storaged/internal/netserve"
)

// serveTCP serves e's server on a loopback port and connects to it, so
// that the connection has an address to count by.
func (e *testEnv) serveTCP(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go e.srv.Serve(l)
	return l.Addr().String()
}

func dialRaw(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}
}

// A connection past the per-address bound hears why (RFC 2449 SYS/TEMP)
// and is closed; the place is free again once one ends.
func TestConnectionsPerAddress(t *testing.T) {
	e := newEnv(t, Config{Limits: netserve.NewLimits(0, 2, nil)}, 0)
	addr := e.serveTCP(t)
	a, b := dialRaw(t, addr), dialRaw(t, addr)
	a.expect("greeting", "+OK storaged POP3 ready")
	b.expect("greeting", "+OK storaged POP3 ready")
	c := dialRaw(t, addr)
	c.expect("third", "-ERR [SYS/TEMP] too many connections, try again later")
	if !c.closed() {
		t.Fatal("a refused connection stays open")
	}
	a.do("QUIT", "+OK bye")
	if !a.closed() {
		t.Fatal("open after QUIT")
	}
	d := dialRaw(t, addr)
	d.expect("after a quit", "+OK storaged POP3 ready")
}

// Dovecot's mail_max_userip_connections: after the password, -ERR
// [IN-USE]; the session may try again once a slot is free.
func TestConnectionsPerUserAddress(t *testing.T) {
	e := newEnv(t, Config{MaxConnectionsPerUserAddress: 1}, 1)
	a := e.dial(t)
	a.do("USER u", "+OK send PASS")
	a.do("PASS p", "+OK maildrop has 1 messages (26 octets)")
	b := e.dial(t)
	b.do("USER u", "+OK send PASS")
	b.do("PASS p", "-ERR [IN-USE] too many connections for this user from this address")
	a.do("QUIT", "+OK storaged signing off (1 messages left)")
	b.do("USER u", "+OK send PASS")
	b.do("PASS p", "+OK maildrop has 1 messages (26 octets)")
}
