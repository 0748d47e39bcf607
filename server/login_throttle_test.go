package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/config"
)

// Brute force (issue 13): 50 wrong passwords for ann from 127.0.0.1, on
// one connection as a guessing script sends them. The answers slow down
// (each NO comes no sooner than its growing delay: a lower bound, which
// no load can break) and then turn into refusals that check no
// password, the right one included, over every protocol; meanwhile ann
// logs in from 127.0.0.2 and bob from 127.0.0.1. The log says who, from
// where and why, and never holds a password.
func TestBruteForceSlowsThenRefuses(t *testing.T) {
	const base, maxDelay = 20 * time.Millisecond, 320 * time.Millisecond
	ts, logs := startServerLogged(t, t.TempDir(), func(c *config.Config) {
		c.IMAP.AuthFailDelay = config.Duration(base)
		c.POP3.AuthFailDelay = config.Duration(base)
		c.ManageSieve.AuthFailDelay = config.Duration(base)
		c.Auth.FailDelayMax = config.Duration(maxDelay)
		// The defaults: 10 per (user, address), 20 per address, 50 per
		// user, over 15 minutes.
	}, "ann", "bob")
	ts.imap, ts.pop3 = ts.addr("imap"), ts.addr("pop3")
	pairLimit := ts.cfg.Auth.MaxFailuresPerUserAddress

	c := dialLine(t, ts.imap, "127.0.0.1")
	c.c.SetDeadline(time.Now().Add(2 * time.Minute))
	c.line()
	want := base
	failed, refused := 0, 0
	for i := 1; i <= 50; i++ {
		start := time.Now()
		c.send(fmt.Sprintf("a%d LOGIN ann guess-%d\r\n", i, i))
		l := c.line()
		took := time.Since(start)
		switch {
		case strings.HasPrefix(l, fmt.Sprintf("a%d NO [AUTHENTICATIONFAILED]", i)):
			failed++
			if refused > 0 {
				t.Fatalf("attempt %d failed after refusals began: %q", i, l)
			}
			if took < want {
				t.Errorf("attempt %d answered after %v, before its delay %v", i, took, want)
			}
			want = min(2*want, maxDelay)
		case strings.HasPrefix(l, fmt.Sprintf("a%d NO [UNAVAILABLE]", i)):
			refused++
		default:
			t.Fatalf("attempt %d: %q", i, l)
		}
	}
	if failed != pairLimit || refused != 50-pairLimit {
		t.Fatalf("%d failures then %d refusals, want %d then %d", failed, refused, pairLimit, 50-pairLimit)
	}
	c.send("r1 LOGIN ann secret-ann\r\n")
	if l := c.line(); !strings.HasPrefix(l, "r1 NO [UNAVAILABLE]") {
		t.Fatalf("the right password from the refused address: %q", l)
	}
	// POP3 and ManageSieve share the count.
	p := dialLine(t, ts.pop3, "127.0.0.1")
	p.line()
	p.send("USER ann\r\nPASS secret-ann\r\n")
	p.line()
	if l := p.line(); !strings.HasPrefix(l, "-ERR [SYS/TEMP]") {
		t.Fatalf("POP3 from the refused address: %q", l)
	}
	m := dialLine(t, ts.addr("managesieve"), "127.0.0.1")
	m.until("OK")
	m.send(`AUTHENTICATE "PLAIN" "` + b64s("\x00ann\x00secret-ann") + "\"\r\n")
	if l := m.line(); !strings.HasPrefix(l, "NO (TRYLATER)") {
		t.Fatalf("ManageSieve from the refused address: %q", l)
	}

	// The real ann elsewhere, and another user from the same address.
	for _, who := range [][2]string{{"127.0.0.2", "ann"}, {"127.0.0.1", "bob"}} {
		c := dialLine(t, ts.imap, who[0])
		c.line()
		c.send("b LOGIN " + who[1] + " secret-" + who[1] + "\r\n")
		if l := c.line(); !strings.HasPrefix(l, "b OK") {
			t.Fatalf("%s from %s: %q", who[1], who[0], l)
		}
	}

	// The log: each failure with the address and the reason; an unknown
	// user is told apart from a wrong password there, never to the
	// client.
	c.send("u1 LOGIN nobody whatever\r\n")
	if l := c.line(); !strings.HasPrefix(l, "u1 NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("unknown user: %q", l)
	}
	if n := len(logLines(logs, `msg="login failed"`, "proto=imap", "remote=127.0.0.1:", "user=ann", `reason="wrong password"`)); n != pairLimit {
		t.Errorf("%d wrong-password lines, want %d:\n%s", n, pairLimit, logs)
	}
	if n := len(logLines(logs, `msg="login failed"`, "remote=127.0.0.1:", "user=ann", `reason="refused: too many failures for this user from this address"`)); n != 50-pairLimit+3 {
		t.Errorf("%d refusal lines, want %d", n, 50-pairLimit+3)
	}
	if n := len(logLines(logs, `msg="login failed"`, "user=nobody", `reason="unknown user"`)); n != 1 {
		t.Errorf("%d unknown-user lines", n)
	}
	for _, secret := range []string{"guess-1 ", "guess-10", "secret-ann", "whatever"} {
		if strings.Contains(logs.String(), secret) {
			t.Fatalf("the log holds a password (%q):\n%s", secret, logs)
		}
	}
}

// Many addresses against one user: past max_failures_per_user the user
// is refused from addresses it never logged in from, never from one it
// did, so an attacker cannot lock the user out of their own devices.
func TestBruteForceDistributed(t *testing.T) {
	ts := startServer(t, t.TempDir(), func(c *config.Config) {
		c.IMAP.AuthFailDelay = config.Duration(time.Millisecond)
		c.Auth.MaxFailuresPerUserAddress = 2
		c.Auth.MaxFailuresPerUser = 6
	}, "ann")
	login := func(from, password string) string {
		c := dialLine(t, ts.imap, from)
		c.line()
		c.send("a LOGIN ann " + password + "\r\n")
		return c.line()
	}
	if l := login("127.0.0.2", "secret-ann"); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("ann's usual address: %q", l)
	}
	for a := 10; a < 13; a++ {
		for i := 0; i < 2; i++ {
			if l := login(fmt.Sprintf("127.0.0.%d", a), "guess"+fmt.Sprint(i)); !strings.HasPrefix(l, "a NO [AUTHENTICATIONFAILED]") {
				t.Fatalf("attacker %d: %q", a, l)
			}
		}
	}
	if l := login("127.0.0.20", "secret-ann"); !strings.HasPrefix(l, "a NO [UNAVAILABLE]") {
		t.Fatalf("ann from a new address during the attack: %q", l)
	}
	if l := login("127.0.0.2", "secret-ann"); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("ann from her usual address during the attack: %q", l)
	}
}
