package server_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/storaged/storaged/admin"
)

// Importing from a running Dovecot over IMAP keeps what its clients have
// cached: UIDs, UIDVALIDITY, UIDNEXT, flags, keywords, internal dates,
// folders and subscriptions; over POP3, the UIDLs byte for byte. Both go
// through the admin socket of a running storaged, the password on
// standard input.
func TestImportFromDovecot(t *testing.T) {
	dv := startDovecot(t)
	c := fillDovecot(t, dv)
	want := imapSnapshot(t, c)
	c.Logout().Wait()
	wantUIDL := pop3UIDL(t, dv.pop3, "u1", "pw")

	ts := startServer(t, t.TempDir(), nil, "u2", "u3")
	run := func(args ...string) string {
		t.Helper()
		var out, errout bytes.Buffer
		code, err := admin.Call(ts.cfg.Admin.Socket, args, strings.NewReader("pw\n"), &out, &errout)
		if err != nil || code != 0 {
			t.Fatalf("%v: %d %v\n%s%s", args, code, err, out.String(), errout.String())
		}
		return out.String()
	}
	out := run("import", "u2", "imap://u1@"+dv.imapAd+"/")
	t.Logf("import over IMAP:\n%s", out)
	sc := ts.login(t, "u2", nil)
	names := map[string]bool{}
	for _, m := range want {
		names[m.Name] = true
	}
	// storaged's own special folders exist before the import, subscribed:
	// the import fills the empty Drafts with Dovecot's UIDs but leaves
	// its subscription as the user had it. The others are no part of
	// the comparison.
	snap := func() string {
		var out []mboxSnap
		for _, m := range imapSnapshot(t, sc) {
			if names[m.Name] {
				if m.Name == "Drafts" {
					m.Subscribed = false
				}
				out = append(out, m)
			}
		}
		return fmt.Sprint(out)
	}
	got := snap()
	if w := fmt.Sprint(want); got != w {
		t.Errorf("storaged after the IMAP import:\n%s\nDovecot:\n%s", got, w)
	}
	// A second run adds nothing: every message is recognised.
	if out := run("import", "u2", "imap://u1@"+dv.imapAd+"/"); !strings.Contains(out, "(4 folders)            0 ") {
		t.Errorf("second run:\n%s", out)
	}
	if again := snap(); again != got {
		t.Errorf("the second run changed the store:\n%s\nwas\n%s", again, got)
	}

	run("import", "u3", "pop3://u1@"+dv.pop3)
	if g := pop3UIDL(t, ts.pop3, "u3", "secret-u3"); g != wantUIDL {
		t.Errorf("POP3 UIDL after the POP3 import: storaged\n%s\nDovecot\n%s", g, wantUIDL)
	}
	// The password is refused on the command line.
	var errout bytes.Buffer
	if code, _ := admin.Call(ts.cfg.Admin.Socket, []string{"import", "u3", "pop3://u1:pw@" + dv.pop3}, strings.NewReader("pw\n"), &bytes.Buffer{}, &errout); code == 0 || !strings.Contains(errout.String(), "password in the URL") {
		t.Errorf("a password in the URL: %d %s", code, errout.String())
	}
}
