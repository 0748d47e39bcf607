package server_test

import (
	"fmt"
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

// The IMAP command limits come from config (issue 13 point 5): a line
// over [imap] max_line_length is BAD and the session goes on; a literal
// over max_literal_size is refused before its octets are sent; a command
// over max_command_size is BAD; the defaults take what fits under them.
func TestIMAPCommandLimitsFromConfig(t *testing.T) {
	ts := startServer(t, t.TempDir(), func(c *config.Config) {
		c.IMAP.MaxLineLength = 8000
		c.IMAP.MaxLiteralSize = 1000
		c.IMAP.MaxCommandSize = 12000
	}, "ann")
	deliverMsgs(t, ts, "ann", []byte("Subject: hello\r\n\r\nbody\r\n"))
	c := ts.raw(t)
	if _, st := c.cmd("LOGIN ann secret-ann"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("LOGIN: %s", st)
	}
	c.cmd("SELECT INBOX")
	if _, st := c.cmd("SEARCH SUBJECT " + strings.Repeat("x", 7900)); !strings.HasPrefix(st, "OK") {
		t.Errorf("a 7.9 kB line under max_line_length 8000: %s", st)
	}
	if _, st := c.cmd("SEARCH SUBJECT " + strings.Repeat("x", 8100)); st != "BAD command line too long" {
		t.Errorf("an 8.1 kB line over max_line_length 8000: %q", st)
	}
	// A synchronising literal over max_literal_size: refused at once,
	// no continuation request.
	fmt.Fprintf(c.conn, "l1 SEARCH SUBJECT {1001}\r\n")
	if l := c.line(); !strings.HasPrefix(l, "l1 BAD ") {
		t.Errorf("a 1001-octet literal over max_literal_size 1000: %q", l)
	}
	fmt.Fprintf(c.conn, "l2 SEARCH SUBJECT {1000}\r\n")
	if l := c.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("a 1000-octet literal: %q, want a continuation", l)
	}
	fmt.Fprintf(c.conn, "%s\r\n", strings.Repeat("y", 1000))
	if _, st := c.until("l2"); !strings.HasPrefix(st, "OK") {
		t.Errorf("a 1000-octet literal: %s", st)
	}
	// Lines and literals together over max_command_size (12000): 900-
	// octet literals, each within the other limits, one after another.
	fmt.Fprintf(c.conn, "l3 SEARCH SUBJECT {900}\r\n")
	sent := 0
	for {
		l := c.line()
		if strings.HasPrefix(l, "l3 ") {
			if !strings.HasPrefix(l, "l3 BAD ") || sent < 10000 || sent > 12000 {
				t.Errorf("after %d octets of literals: %q, want BAD near max_command_size 12000", sent, l)
			}
			break
		}
		if !strings.HasPrefix(l, "+ ") || sent > 20000 {
			t.Fatalf("after %d octets of literals: %q", sent, l)
		}
		fmt.Fprintf(c.conn, "%s OR SUBJECT {900}\r\n", strings.Repeat("z", 900))
		sent += 900
	}
	if _, st := c.cmd("NOOP"); !strings.HasPrefix(st, "OK") {
		t.Errorf("NOOP after the refusals: %s", st)
	}
}
