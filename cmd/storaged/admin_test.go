package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The admin verbs give the same answers with the server stopped (they
// open the store themselves) and running (through the admin socket,
// while the server holds every index); an expunge through the socket
// reaches an IMAP session that has the mailbox selected, who lists that
// session, and stop ends the server.
func TestAdminVerbs(t *testing.T) {
	e := newEnv(t, "ann", "bob")
	imapAddr := freePort(t)
	conf, _ := os.ReadFile(e.cfg)
	conf = []byte(strings.Replace(string(conf), `[imap]
listen = ["127.0.0.1:0"]`, fmt.Sprintf("[imap]\nlisten = [%q]", imapAddr), 1))
	os.WriteFile(e.cfg, conf, 0o600)
	for i, from := range []string{"alice@example.net", "carol@example.net", "carol@example.net"} {
		msg := fmt.Sprintf("From: %s\nSubject: message %d\n\nbody %d\n", from, i+1, i+1)
		if out, code := e.run(msg, "deliver", "-f", from, "-a", "ann@example.org"); code != 0 {
			t.Fatalf("deliver: %d %s", code, out)
		}
	}
	type check struct {
		args  []string
		stdin string
		code  int
		has   []string
	}
	both := []check{
		{args: []string{"user", "show", "ann"}, has: []string{"user       ann", "format     maildir", "messages   3 (no limit)", "mailboxes  "}},
		{args: []string{"search", "ann", "INBOX", "FROM", "carol"}, has: []string{"2\n3\n"}},
		{args: []string{"search", "ann", "INBOX", "OR", "SUBJECT", `"message 1"`, "UID", "3"}, has: []string{"1\n3\n"}},
		{args: []string{"search", "ann", "INBOX", "FROBNICATE"}, code: 64, has: []string{"search"}},
		{args: []string{"search", "ann", "Nope", "ALL"}, code: 65},
		{args: []string{"fetch", "ann", "INBOX", "2", "--header"}, has: []string{"Subject: message 2\r\n"}},
		{args: []string{"fetch", "ann", "INBOX", "9"}, code: 65, has: []string{"no message with UID 9"}},
		{args: []string{"auth", "test", "ann", "pw-ann"}, has: []string{"auth succeeded: ann"}},
		{args: []string{"auth", "test", "ann"}, stdin: "pw-ann\n", has: []string{"auth succeeded: ann"}},
		{args: []string{"auth", "test", "ann", "wrong"}, code: 77, has: []string{"auth failed: ann: wrong password"}},
		{args: []string{"auth", "test", "zed", "x"}, code: 77, has: []string{"auth failed: zed: unknown user"}},
		{args: []string{"user", "show", "bob"}, has: []string{"(no store yet)"}},
		{args: []string{"expunge", "ann", "INBOX"}, code: 64, has: []string{"--before, --older or --seen"}},
		{args: []string{"expunge", "ann", "INBOX", "--older", "soon"}, code: 64},
		{args: []string{"expunge", "ann", "INBOX", "--before", "2000-01-01", "--dry-run"}, has: []string{"ann   INBOX    0"}},
		{args: []string{"user", "show", "--help"}, has: []string{"storaged expunge USER|-A MAILBOX"}},
	}
	run := func(t *testing.T, c check) string {
		t.Helper()
		out, code := e.run(c.stdin, c.args...)
		if code != c.code {
			t.Fatalf("%v: exit %d, want %d:\n%s", c.args, code, c.code, out)
		}
		for _, h := range c.has {
			if !strings.Contains(out, h) {
				t.Fatalf("%v: output lacks %q:\n%s", c.args, h, out)
			}
		}
		return out
	}
	t.Run("stopped", func(t *testing.T) {
		for _, c := range both {
			run(t, c)
		}
		run(t, check{args: []string{"who"}, code: 75, has: []string{"no server is running"}})
		if _, err := os.Stat(e.dir + "/mail/bob"); !os.IsNotExist(err) {
			t.Fatalf("a read-only verb created bob's store: %v", err)
		}
	})

	p := e.start()
	defer func() {
		if p.cmd.ProcessState == nil {
			p.term(nil)
		}
	}()
	var mu sync.Mutex
	var expunged []uint32
	c, err := imapclient.DialInsecure(imapAddr, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { mu.Lock(); expunged = append(expunged, seq); mu.Unlock() },
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("ann", "pw-ann").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	t.Run("running", func(t *testing.T) {
		for _, c := range both {
			run(t, c)
		}
		run(t, check{args: []string{"who"}, has: []string{"ann", "imap", "INBOX"}})
		out := run(t, check{args: []string{"expunge", "-A", "INBOX", "--seen", "--json"}})
		var res []struct {
			User     string
			Expunged int
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil || len(res) != 1 || res[0].User != "ann" || res[0].Expunged != 1 {
			t.Fatalf("expunge -A: %v %s", err, out)
		}
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		got := fmt.Sprint(expunged)
		mu.Unlock()
		if got != "[1]" {
			t.Fatalf("the selected session saw expunges %s, want [1]", got)
		}
		out = run(t, check{args: []string{"user", "show", "ann", "--json"}})
		var shown struct{ Messages int64 }
		if err := json.Unmarshal([]byte(out), &shown); err != nil || shown.Messages != 2 {
			t.Fatalf("user show --json after expunge: %v %s", err, out)
		}
		run(t, check{args: []string{"reload"}, has: []string{"users file read (2 users)"}})
		run(t, check{args: []string{"stop"}, has: []string{"stopping"}})
		select {
		case err := <-p.done:
			if err != nil {
				t.Fatalf("server exit after stop: %v", err)
			}
			p.cmd.ProcessState = &os.ProcessState{}
		case <-time.After(30 * time.Second):
			t.Fatal("the server did not stop")
		}
	})
}
