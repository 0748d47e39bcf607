package server_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/storaged/storaged/config"
)

// rcptCode is the reply to RCPT TO:<addr> in a new transaction: 250 or
// the refusal's code.
func rcptCode(t *testing.T, ts *testServer, addr string) int {
	t.Helper()
	c := ts.lmtpClient()
	defer c.Close()
	if err := c.Mail("s@example.net", nil); err != nil {
		t.Fatal(err)
	}
	err := c.Rcpt(addr, nil)
	var se *smtp.SMTPError
	switch {
	case err == nil:
		return 250
	case errors.As(err, &se):
		return se.Code
	}
	t.Fatalf("RCPT %s: %v", addr, err)
	return 0
}

func deliverTo(t *testing.T, ts *testServer, rcpts []string, subject string) {
	t.Helper()
	c := ts.lmtpClient()
	defer c.Close()
	replies, err := send(c, "s@example.net", rcpts, []byte("Subject: "+subject+"\r\n\r\nbody\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	for r, e := range replies {
		if e != nil {
			t.Fatalf("%s: %v", r, e)
		}
	}
	if len(replies) != len(rcpts) {
		t.Fatalf("replies %v for %v", replies, rcpts)
	}
}

func imapLogin(t *testing.T, ts *testServer, user, password string) (*imapclient.Client, error) {
	t.Helper()
	c := ts.imapClient(t, nil)
	return c, c.Login(user, password).Wait()
}

func inboxCount(t *testing.T, c *imapclient.Client) uint32 {
	t.Helper()
	d, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return d.NumMessages
}

// Full-address users in the users file: two domains hold alice, neither
// local; a plain alice of the local domains; detail addresses into their
// folder with save_to_detail_mailbox.
func TestUsersAndDomains(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, func(c *config.Config) { c.LMTP.SaveToDetailMailbox = true },
		"alice", "bob", "alice@a.example", "alice@b.example")
	ctx := context.Background()
	acct, err := ts.Accounts.Open(ctx, "alice@b.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := acct.CreateMailbox("Lists", ""); err != nil {
		t.Fatal(err)
	}

	deliverTo(t, ts, []string{"alice@a.example", "ALICE@B.example", "alice@example.org", "bob@localhost"}, "one")
	deliverTo(t, ts, []string{"Alice+Lists@b.example"}, "to the list folder")
	deliverTo(t, ts, []string{"bob+nowhere@example.org"}, "no such folder: INBOX")
	for _, c := range []struct {
		user, mailbox string
		n             int
	}{
		{"alice@a.example", "INBOX", 1}, {"alice@b.example", "INBOX", 1}, {"alice@b.example", "Lists", 1},
		{"alice", "INBOX", 1}, {"bob", "INBOX", 2},
	} {
		if got := ts.stored(t, c.user, c.mailbox); got != c.n {
			t.Errorf("%s %s: %d messages on disk, want %d", c.user, c.mailbox, got, c.n)
		}
	}
	// Stores are one directory per user, named by the whole address; no
	// domain directory appears, and plain users keep theirs.
	for _, d := range []string{"alice@a.example", "alice@b.example", "alice", "bob"} {
		if st, err := os.Stat(filepath.Join(dir, "mail", d)); err != nil || !st.IsDir() {
			t.Errorf("mail/%s: %v", d, err)
		}
	}
	for _, d := range []string{"a.example", "b.example"} {
		if _, err := os.Stat(filepath.Join(dir, "mail", d)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("mail/%s exists: %v", d, err)
		}
	}
	for addr, want := range map[string]int{
		"carol@a.example":               550, // a users' domain, no such user
		"alice@c.example":               550, // nobody's domain
		"bob@a.example":                 550, // plain users only at the local domains
		`"alice@a.example"@example.org`: 550,
	} {
		if got := rcptCode(t, ts, addr); got != want {
			t.Errorf("RCPT %s: %d, want %d", addr, got, want)
		}
	}

	// IMAP: each alice sees her own mail; names are lower-cased first.
	for _, c := range []struct{ login, password, mailbox string }{
		{"alice@a.example", "secret-alice@a.example", "INBOX"},
		{"ALICE@A.EXAMPLE", "secret-alice@a.example", "INBOX"},
		{"alice@b.example", "secret-alice@b.example", "Lists"},
		{"alice", "secret-alice", "INBOX"},
		{"Alice@Example.org", "secret-alice", "INBOX"}, // a local domain: the plain user
	} {
		cl, err := imapLogin(t, ts, c.login, c.password)
		if err != nil {
			t.Errorf("LOGIN %s: %v", c.login, err)
			continue
		}
		d, err := cl.Select(c.mailbox, nil).Wait()
		if err != nil || d.NumMessages != 1 {
			t.Errorf("%s: %s has %v messages (%v), want 1", c.login, c.mailbox, d, err)
		}
	}
	for _, c := range [][2]string{{"alice@b.example", "secret-alice@a.example"}, {"alice@c.example", "secret-alice"}, {"bob@a.example", "secret-bob"}} {
		if _, err := imapLogin(t, ts, c[0], c[1]); imapCode(err) != "AUTHENTICATIONFAILED" {
			t.Errorf("LOGIN %s with %s: %v", c[0], c[1], err)
		}
	}

	// POP3 the same way.
	p := dialPOP3(t, ts.pop3)
	p.ok("USER Alice@B.example")
	if l := p.ok("PASS secret-alice@b.example"); !strings.HasPrefix(l, "+OK maildrop has 1 messages") {
		t.Errorf("POP3 alice@b.example: %s", l)
	}
	p = dialPOP3(t, ts.pop3)
	p.ok("USER alice@example.org")
	if l := p.ok("PASS secret-alice"); !strings.HasPrefix(l, "+OK maildrop has 1 messages") {
		t.Errorf("POP3 alice@example.org (plain alice): %s", l)
	}
}

// users.file = "users/%d": each domain's users in a file of its own,
// lines by local part, as Dovecot's passwd-file /etc/dovecot/users/%d.
func TestPerDomainUsersFile(t *testing.T) {
	dir := t.TempDir()
	udir := filepath.Join(dir, "users")
	os.MkdirAll(udir, 0o700)
	os.WriteFile(filepath.Join(udir, "a.example"), []byte("alice:{PLAIN}pa\n"), 0o600)
	os.WriteFile(filepath.Join(udir, "b.example"), []byte("alice:{PLAIN}pb\nbob@b.example:{PLAIN}pbob\n"), 0o600)
	ts := startServer(t, dir, func(c *config.Config) { c.Users.File = filepath.Join(udir, "%d") })
	if n := ts.Users.Len(); n != 3 {
		t.Fatalf("%d users", n)
	}
	deliverTo(t, ts, []string{"alice@a.example", "alice@b.example", "bob@b.example"}, "hello")
	deliverTo(t, ts, []string{"Alice@B.Example"}, "again")
	if got := rcptCode(t, ts, "alice@example.org"); got != 550 {
		t.Errorf("a plain name with per-domain files: %d", got)
	}
	if got := rcptCode(t, ts, "eve@a.example"); got != 550 {
		t.Errorf("unknown user of a domain: %d", got)
	}
	for user, n := range map[string]uint32{"alice@a.example": 1, "alice@b.example": 2, "bob@b.example": 1} {
		pw := map[string]string{"alice@a.example": "pa", "alice@b.example": "pb", "bob@b.example": "pbob"}[user]
		c, err := imapLogin(t, ts, user, pw)
		if err != nil {
			t.Fatalf("LOGIN %s: %v", user, err)
		}
		if got := inboxCount(t, c); got != n {
			t.Errorf("%s: %d messages, want %d", user, got, n)
		}
		if _, err := os.Stat(filepath.Join(dir, "mail", user, "cur")); err != nil {
			t.Errorf("store of %s: %v", user, err)
		}
	}
	if _, err := imapLogin(t, ts, "alice@a.example", "pb"); imapCode(err) != "AUTHENTICATIONFAILED" {
		t.Errorf("b.example's password for alice@a.example: %v", err)
	}
	p := dialPOP3(t, ts.pop3)
	p.ok("USER bob@b.example")
	if l := p.ok("PASS pbob"); !strings.HasPrefix(l, "+OK maildrop has 1 messages") {
		t.Errorf("POP3: %s", l)
	}
	// A domain added while the server runs is found at the next login.
	os.WriteFile(filepath.Join(udir, "c.example"), []byte("carol:{PLAIN}pc\n"), 0o600)
	if _, err := imapLogin(t, ts, "carol@c.example", "pc"); err != nil {
		t.Errorf("a new domain's file: %v", err)
	}
	// ManageSieve logs in the same users.
	m := dialLine(t, ts.addr("managesieve"), "")
	m.until("OK")
	m.send(fmt.Sprintf("AUTHENTICATE \"PLAIN\" \"%s\"\r\n", b64s("\x00alice@b.example\x00pb")))
	if l := m.line(); l != `OK "Logged in."` {
		t.Errorf("ManageSieve: %q", l)
	}
}
