package managesieve

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/storaged/storaged/internal/netserve"
)

func (h *harness) dialTCP(addr string) *client {
	h.t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: h.t, c: conn, r: bufio.NewReader(conn)}
}

// RFC 5804 §1.3: BYE with TRYLATER, then the connection closes; a place
// freed by a LOGOUT is free at once.
func TestConnectionsPerAddress(t *testing.T) {
	h := newHarnessWith(t, func(c *Config) { c.Limits = netserve.NewLimits(0, 1, nil) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go h.srv.Serve(l)
	a := h.dialTCP(l.Addr().String())
	a.until(`OK "storaged ManageSieve ready."`)
	b := h.dialTCP(l.Addr().String())
	if got := b.until(""); len(got) != 1 || got[0] != `BYE (TRYLATER) "Too many connections, try again later."` {
		t.Fatalf("second connection: %q", got)
	}
	if _, err := b.r.ReadByte(); err == nil {
		t.Fatal("a refused connection stays open")
	}
	a.do("LOGOUT", `OK "Logout completed."`)
	if _, err := a.r.ReadByte(); err == nil {
		t.Fatal("open after LOGOUT")
	}
	c := h.dialTCP(l.Addr().String())
	c.until(`OK "storaged ManageSieve ready."`)
}

func TestConnectionsPerUserAddress(t *testing.T) {
	h := newHarnessWith(t, func(c *Config) { c.MaxConnectionsPerUserAddress = 1 })
	a, b := h.dial(), h.dial()
	a.login()
	b.do(`AUTHENTICATE "PLAIN" "AGFubgBzZWNyZXQ="`, `NO (TRYLATER) "Too many connections for this user from this address."`)
	a.do("UNAUTHENTICATE", `OK "Unauthenticate completed."`)
	b.login()
}
