package server_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/storaged/storaged/config"
)

// Cleartext logins off the trusted networks (RFC 8314 §5.1, RFC 9051
// §6.2.3, RFC 2595, RFC 5804): only 127.0.0.1 is trusted, the client
// comes from 127.0.0.2. It sees no mechanism, is refused before any
// password is asked for, and logs in once in TLS.
func TestLoginCleartextRefused(t *testing.T) {
	ts, files := startTLSServer(t, func(c *config.Config) {
		c.Auth.TrustedNetworks = []string{"127.0.0.1"}
	}, "ann")
	const stranger = "127.0.0.2"

	t.Run("imap", func(t *testing.T) {
		c := dialLine(t, ts.imap, stranger)
		g := c.line()
		if !strings.Contains(g, " STARTTLS LOGINDISABLED") || strings.Contains(g, "AUTH=") {
			t.Fatalf("greeting %q: want STARTTLS LOGINDISABLED and no AUTH=", g)
		}
		c.send("a LOGIN ann secret-ann\r\n")
		if l := c.line(); !strings.HasPrefix(l, "a NO [PRIVACYREQUIRED]") {
			t.Fatalf("LOGIN in clear: %q", l)
		}
		// The password literal is refused before it is sent: no "+".
		c.send("b LOGIN ann {10}\r\n")
		if l := c.line(); !strings.HasPrefix(l, "b NO [PRIVACYREQUIRED]") {
			t.Fatalf("LOGIN with a literal in clear: %q", l)
		}
		c.send("c AUTHENTICATE PLAIN\r\n")
		if l := c.line(); !strings.HasPrefix(l, "c NO [PRIVACYREQUIRED]") {
			t.Fatalf("AUTHENTICATE in clear: %q (a challenge would invite the password)", l)
		}
		c.send("d STARTTLS\r\n")
		c.line()
		c.upgrade(files.client("localhost"))
		c.send("e CAPABILITY\r\n")
		if caps := c.until("e "); strings.Contains(caps[0], "LOGINDISABLED") || !strings.Contains(caps[0], "AUTH=PLAIN") {
			t.Fatalf("CAPABILITY in TLS: %q", caps)
		}
		c.send("f AUTHENTICATE PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00ann\x00secret-ann")) + "\r\n")
		if l := c.line(); !strings.HasPrefix(l, "f OK") {
			t.Fatalf("AUTHENTICATE in TLS: %q", l)
		}
	})

	t.Run("imap trusted", func(t *testing.T) {
		c := dialLine(t, ts.imap, "127.0.0.1")
		if g := c.line(); strings.Contains(g, "LOGINDISABLED") || !strings.Contains(g, "AUTH=PLAIN") {
			t.Fatalf("greeting from a trusted address %q", g)
		}
		c.send("a LOGIN ann secret-ann\r\n")
		if l := c.line(); !strings.HasPrefix(l, "a OK") {
			t.Fatalf("LOGIN from a trusted address: %q", l)
		}
	})

	t.Run("pop3", func(t *testing.T) {
		c := dialLine(t, ts.pop3, stranger)
		c.line()
		c.send("CAPA\r\n")
		capa := strings.Join(c.until("."), "\n")
		if strings.Contains(capa, "USER") || strings.Contains(capa, "SASL") || !strings.Contains(capa, "STLS") {
			t.Fatalf("CAPA in clear:\n%s", capa)
		}
		for _, cmd := range []string{"USER ann", "PASS secret-ann", "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00ann\x00secret-ann"))} {
			c.send(cmd + "\r\n")
			if l := c.line(); !strings.HasPrefix(l, "-ERR [AUTH]") {
				t.Fatalf("%s in clear: %q", strings.Fields(cmd)[0], l)
			}
		}
		c.send("STLS\r\n")
		c.line()
		c.upgrade(files.client("localhost"))
		c.send("USER ann\r\nPASS secret-ann\r\n")
		c.line()
		if l := c.line(); !strings.HasPrefix(l, "+OK maildrop") {
			t.Fatalf("PASS in TLS: %q", l)
		}
	})

	t.Run("managesieve", func(t *testing.T) {
		c := dialLine(t, ts.addr("managesieve"), stranger)
		if caps := strings.Join(c.until("OK"), "\n"); !strings.Contains(caps, `"SASL" ""`) {
			t.Fatalf("capabilities in clear:\n%s", caps)
		}
		plain := base64.StdEncoding.EncodeToString([]byte("\x00ann\x00secret-ann"))
		c.send(`AUTHENTICATE "PLAIN" "` + plain + "\"\r\n")
		if l := c.line(); !strings.HasPrefix(l, "NO (ENCRYPT-NEEDED)") {
			t.Fatalf("AUTHENTICATE in clear: %q", l)
		}
		c.send("STARTTLS\r\n")
		c.line()
		c.upgrade(files.client("localhost"))
		c.until("OK")
		c.send(`AUTHENTICATE "PLAIN" "` + plain + "\"\r\n")
		if l := c.line(); !strings.HasPrefix(l, "OK") {
			t.Fatalf("AUTHENTICATE in TLS: %q", l)
		}
	})
}

// Without TLS configured, a stranger cannot log in at all and is told
// so; STARTTLS is not offered (nothing to offer).
func TestLoginNoTLSStranger(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil, "ann")
	c := dialLine(t, ts.imap, "127.0.0.2")
	// 127.0.0.0/8 is trusted by default: narrow it to see the refusal.
	if g := c.line(); strings.Contains(g, "LOGINDISABLED") {
		t.Fatalf("default trusted networks refuse 127.0.0.2: %q", g)
	}
	ts2 := startServer(t, t.TempDir(), func(c *config.Config) { c.Auth.TrustedNetworks = []string{"::1"} }, "ann")
	c = dialLine(t, ts2.imap, "127.0.0.2")
	g := c.line()
	if !strings.Contains(g, "LOGINDISABLED") || strings.Contains(g, "STARTTLS") || strings.Contains(g, "AUTH=") {
		t.Fatalf("greeting without TLS, untrusted: %q", g)
	}
	c.send("a LOGIN ann secret-ann\r\n")
	if l := c.line(); !strings.HasPrefix(l, "a NO [PRIVACYREQUIRED]") {
		t.Fatalf("LOGIN: %q", l)
	}
}
