package server_test

import (
	"bytes"
	"strings"
	"testing"
)

// SMTP smuggling on LMTP: the data ends exactly at CRLF "." CRLF, as the
// MTA in front sees it. A bare LF or CR never ends it; "\r\r\n.\r\n"
// does (it holds CRLF.CRLF). Whatever follows the end is read as
// commands and answered, never stored.
func TestLMTPSmuggling(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil, "bob", "eve")
	cases := []struct {
		name string
		body string // after the header, before the final CRLF.CRLF
		// smuggled is what an attacker hopes runs as a second transaction.
		inMessage bool // the smuggled lines must be stored in bob's message
	}{
		{"bare LF dot bare LF", "one\n.\nMAIL FROM:<x@example.net>\nRCPT TO:<eve@example.org>\nDATA\nsmuggled\n.\n", true},
		{"bare LF dot CRLF", "one\n.\r\nMAIL FROM:<x@example.net>\r\nRCPT TO:<eve@example.org>\r\nDATA\r\nsmuggled\r\n", true},
		{"bare CR dot CRLF", "one\r.\r\nMAIL FROM:<x@example.net>\r\nRCPT TO:<eve@example.org>\r\nDATA\r\nsmuggled\r\n", true},
		{"bare CR dot bare CR", "one\r.\rMAIL FROM:<x@example.net>\r\n", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(onDisk(t, ts.cfg, "bob", "INBOX"))
			eve := len(onDisk(t, ts.cfg, "eve", "INBOX"))
			c := dialLine(t, ts.lmtp, "")
			c.line()
			c.send("LHLO mta.example.net\r\n")
			c.until("250 ")
			c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
			c.line()
			c.line()
			if l := c.line(); !strings.HasPrefix(l, "354") {
				t.Fatalf("DATA: %q", l)
			}
			c.send("Subject: " + tc.name + "\r\n\r\n" + tc.body + "\r\n.\r\nNOOP\r\n")
			if l := c.line(); !strings.HasPrefix(l, "250 2.0.0 <bob@example.org>") {
				t.Fatalf("end of data: %q", l)
			}
			if l := c.line(); !strings.HasPrefix(l, "250 2.0.0 OK") {
				t.Fatalf("NOOP after the data: %q (want it answered as a command)", l)
			}
			got := ts.inboxInUIDOrder(t, "bob")
			if len(got) != before+1 {
				t.Fatalf("bob has %d messages, want %d", len(got), before+1)
			}
			if n := len(onDisk(t, ts.cfg, "eve", "INBOX")); n != eve {
				t.Fatalf("a smuggled transaction delivered to eve")
			}
			msg := got[len(got)-1].Bytes
			if tc.inMessage && !bytes.Contains(msg, []byte("MAIL FROM:<x@example.net>")) {
				t.Fatalf("the body lost its smuggled-looking lines:\n%q", msg)
			}
			if bytes.Contains(msg, []byte("NOOP")) {
				t.Fatalf("the command after the end was stored:\n%q", msg)
			}
		})
	}

	// "\r\r\n.\r\n" ends the data where an MTA sees it end: the line
	// "one\r" + CRLF, then the dot line. What follows runs as commands
	// (here a second, legitimate transaction for eve, as an MTA would
	// have sent it).
	t.Run("CR CRLF dot CRLF", func(t *testing.T) {
		bob := len(onDisk(t, ts.cfg, "bob", "INBOX"))
		eve := len(onDisk(t, ts.cfg, "eve", "INBOX"))
		c := dialLine(t, ts.lmtp, "")
		c.line()
		c.send("LHLO mta.example.net\r\n")
		c.until("250 ")
		c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
		c.line()
		c.line()
		c.line()
		c.send("Subject: cr\r\n\r\none\r\r\n.\r\nMAIL FROM:<x@example.net>\r\nRCPT TO:<eve@example.org>\r\nDATA\r\n")
		for _, want := range []string{"250 2.0.0 <bob@example.org>", "250", "250", "354"} {
			if l := c.line(); !strings.HasPrefix(l, want) {
				t.Fatalf("got %q, want %s (the session must not wait for a timeout)", l, want)
			}
		}
		c.send("Subject: second\r\n\r\ntwo\r\n.\r\nQUIT\r\n")
		if l := c.line(); !strings.HasPrefix(l, "250 2.0.0 <eve@example.org>") {
			t.Fatalf("second message: %q", l)
		}
		if l := c.line(); !strings.HasPrefix(l, "221") {
			t.Fatalf("QUIT: %q", l)
		}
		got := ts.inboxInUIDOrder(t, "bob")
		if len(got) != bob+1 || len(onDisk(t, ts.cfg, "eve", "INBOX")) != eve+1 {
			t.Fatal("want one message each for bob and eve")
		}
		if msg := got[len(got)-1].Bytes; bytes.Contains(msg, []byte("MAIL FROM")) || !bytes.HasSuffix(msg, []byte("one\r\r\n")) {
			t.Fatalf("bob's message: %q", msg)
		}
	})

	// A dot-stuffed line comes back unstuffed; a refused (too big) body is
	// read to its end and the session goes on.
	t.Run("stuffing and refusal stay in step", func(t *testing.T) {
		c := dialLine(t, ts.lmtp, "")
		c.line()
		c.send("LHLO mta.example.net\r\nMAIL FROM:<s@example.net> SIZE=999999999999\r\n")
		c.until("250 ")
		if l := c.line(); !strings.HasPrefix(l, "552 5.3.4") {
			t.Fatalf("SIZE over the limit: %q", l)
		}
		c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n")
		c.line()
		c.line()
		c.line()
		c.send("Subject: dots\r\n\r\n..hidden\r\n...\r\n.\r\nNOOP\r\n")
		c.line()
		if l := c.line(); !strings.HasPrefix(l, "250 2.0.0 OK") {
			t.Fatalf("NOOP: %q", l)
		}
		got := ts.inboxInUIDOrder(t, "bob")
		if msg := got[len(got)-1].Bytes; !bytes.HasSuffix(msg, []byte("\r\n.hidden\r\n..\r\n")) {
			t.Fatalf("unstuffed body: %q", msg)
		}
	})
}
