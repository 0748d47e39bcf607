package server_test

import (
	"strings"
	"testing"

	"github.com/storaged/storaged/config"
)

// Connections per address add up over IMAP, POP3 and ManageSieve, and
// each protocol says why in its own words; a trusted address is counted
// in the total only (issue 13 point 5).
func TestConnectionsPerAddressAcrossProtocols(t *testing.T) {
	ts, _ := startTLSServer(t, func(c *config.Config) {
		c.Auth.TrustedNetworks = []string{"127.0.0.1"}
		c.Server.MaxConnectionsPerAddress = 2
	}, "ann")
	const stranger = "127.0.0.2"
	imap := dialLine(t, ts.imap, stranger)
	if g := imap.line(); !strings.HasPrefix(g, "* OK ") {
		t.Fatalf("imap greeting %q", g)
	}
	pop := dialLine(t, ts.pop3, stranger)
	if g := pop.line(); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("pop3 greeting %q", g)
	}
	for _, c := range []struct{ proto, addr, want string }{
		{"imap", ts.imap, "* BYE [LIMIT] Too many connections from your address"},
		{"pop3", ts.pop3, "-ERR [SYS/TEMP] too many connections, try again later"},
		{"managesieve", ts.addr("managesieve"), `BYE (TRYLATER) "Too many connections, try again later."`},
	} {
		l := dialLine(t, c.addr, stranger)
		if g := l.line(); g != c.want {
			t.Errorf("%s: third connection from %s: %q, want %q", c.proto, stranger, g, c.want)
		}
	}
	for range 3 {
		l := dialLine(t, ts.imap, "127.0.0.1")
		if g := l.line(); !strings.HasPrefix(g, "* OK ") {
			t.Fatalf("a trusted address is refused: %q", g)
		}
	}
	// One ends: its place is free again.
	pop.send("QUIT\r\n")
	pop.line()
	if _, err := pop.br.ReadByte(); err == nil {
		t.Fatal("POP3 stays open after QUIT")
	}
	again := dialLine(t, ts.imap, stranger)
	if g := again.line(); !strings.HasPrefix(g, "* OK ") {
		t.Fatalf("after a QUIT: %q", g)
	}
}
