package server_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storaged/storaged/admin"
	"github.com/storaged/storaged/auth"
)

// Dovecot with mail_location = maildir:~/Maildir:LAYOUT=fs keeps folders
// as nested directories (Work/Sub/cur). Its store, filled over Dovecot's
// LMTP and IMAP, is (a) adopted in place by a user whose location says
// LAYOUT=fs, and (b) imported from a copy into another user; over
// storaged's IMAP both show Dovecot's UIDs, UIDVALIDITY, UIDNEXT, flags,
// keywords, dates and subscriptions, and POP3 UIDLs are byte-equal.
func TestDovecotLayoutFS(t *testing.T) {
	dv := startDovecotAt(t, "maildir:~/Maildir:LAYOUT=fs")
	c := fillDovecot(t, dv)
	want := imapSnapshot(t, c)
	c.Logout().Wait()
	wantUIDL := pop3UIDL(t, dv.pop3, "u1", "pw")
	dv.stop(t)

	md := filepath.Join(dv.dir, "home", "u1", "Maildir")
	for _, p := range []string{"Work/Sub/cur", "Work/Sub/dovecot-uidlist", "Drafts/cur", "subscriptions"} {
		if _, err := os.Stat(filepath.Join(md, p)); err != nil {
			t.Fatalf("Dovecot's LAYOUT=fs store has no %s: %v", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(md, ".Drafts")); err == nil {
		t.Fatal("Dovecot wrote Maildir++ folders: LAYOUT=fs not in effect")
	}
	src := filepath.Join(t.TempDir(), "Maildir")
	if out, err := exec.Command("cp", "-a", md, src).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}

	dir := t.TempDir()
	cfg := newConfig(t, dir)
	mailRoot := filepath.Join(cfg.Mail.Dir, "u1")
	os.MkdirAll(filepath.Dir(mailRoot), 0o700)
	if err := os.Rename(md, mailRoot); err != nil {
		t.Fatal(err)
	}
	// The user's location is there before the server's first look at the
	// store (start-up repair opens it).
	users, err := auth.Open(cfg.Users.File, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	users.SetHashParams(cheapHash)
	if err := users.Add("u1", "secret-u1", map[string]string{"userdb_mail": "maildir:~/Maildir:LAYOUT=fs"}); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, dir, nil, "u1", "u2")

	// (a) adopted in place.
	sc := ts.login(t, "u1", nil)
	if g, w := fmt.Sprint(imapSnapshot(t, sc)), fmt.Sprint(want); g != w {
		t.Errorf("storaged after adopting the LAYOUT=fs store:\n%s\nDovecot before:\n%s", g, w)
	}
	if g := pop3UIDL(t, ts.pop3, "u1", "secret-u1"); g != wantUIDL {
		t.Errorf("POP3 UIDL: storaged\n%s\nDovecot\n%s", g, wantUIDL)
	}
	// The store keeps its layout: a folder created here is nested.
	if err := sc.Create("New/Deep", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(mailRoot, "New", "Deep", "cur")); err != nil {
		t.Errorf("a folder created after adoption is not nested: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mailRoot, ".New.Deep")); err == nil {
		t.Error("a folder created after adoption is Maildir++")
	}
	sc.Logout().Wait()

	// (b) imported from the copy, through the running server.
	var out, errout bytes.Buffer
	code, err := admin.Call(ts.cfg.Admin.Socket, []string{"import", "u2", src}, nil, &out, &errout)
	if err != nil || code != 0 {
		t.Fatalf("import: %d %v\n%s%s", code, err, out.String(), errout.String())
	}
	t.Logf("import:\n%s", out.String())
	if !strings.Contains(out.String(), "maildir-fs") {
		t.Errorf("the source was not recognised as LAYOUT=fs:\n%s", out.String())
	}
	names := map[string]bool{}
	for _, m := range want {
		names[m.Name] = true
	}
	sc = ts.login(t, "u2", nil)
	var got []mboxSnap
	for _, m := range imapSnapshot(t, sc) {
		if names[m.Name] {
			if m.Name == "Drafts" {
				// storaged's own Drafts was there, subscribed, before the
				// import (TestImportFromDovecot).
				m.Subscribed = false
			}
			got = append(got, m)
		}
	}
	if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
		t.Errorf("storaged after importing the LAYOUT=fs store:\n%s\nDovecot:\n%s", g, w)
	}
	if g := pop3UIDL(t, ts.pop3, "u2", "secret-u2"); g != wantUIDL {
		t.Errorf("POP3 UIDL after import: storaged\n%s\nDovecot\n%s", g, wantUIDL)
	}
}
