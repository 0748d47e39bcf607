package server_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mbsync synced against Dovecot, then pointed at storaged after storaged
// adopted Dovecot's Maildir in place: its next run transfers nothing
// either way, changes no flag and finds no UIDVALIDITY changed, which is
// what "clients see no change" means to a client that keeps state.
func TestMbsyncAfterAdoption(t *testing.T) {
	mbsync, err := exec.LookPath("mbsync")
	if err != nil {
		t.Skip("mbsync (Debian package isync) is not installed; make test installs it when apt-get can")
	}
	dv := startDovecot(t)
	fillDovecot(t, dv).Logout().Wait()

	dir := t.TempDir()
	local := filepath.Join(dir, "local")
	os.MkdirAll(local, 0o700)
	rc := filepath.Join(dir, "mbsyncrc")
	writeRC := func(addr, user, pass string) {
		host, port, _ := strings.Cut(addr, ":")
		os.WriteFile(rc, []byte(fmt.Sprintf(`IMAPAccount test
Host %s
Port %s
User %s
Pass %s
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account test

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel test
Far :remote:
Near :local:
Patterns *
Create Near
SyncState *
`, host, port, user, pass, local, local)), 0o600)
	}
	run := func(what string) string {
		t.Helper()
		out, err := exec.Command(mbsync, "-V", "-c", rc, "-a").CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync against %s: %v\n%s", what, err, out)
		}
		return string(out)
	}
	// mbsync 1.4 prints no totals when its output is not a terminal:
	// what it did shows in the local tree (every file, flags in the
	// name, its sync state) and on the far side.
	tree := func() string {
		var b strings.Builder
		filepath.Walk(local, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				data, _ := os.ReadFile(p)
				if strings.HasSuffix(p, ".mbsyncstate") {
					// The state's header (UIDVALIDITYs, the last UIDs seen)
					// must stay; its per-message lines too.
					fmt.Fprintf(&b, "%s:\n%s\n", strings.TrimPrefix(p, local), data)
				} else {
					fmt.Fprintf(&b, "%s %d\n", strings.TrimPrefix(p, local), len(data))
				}
			}
			return nil
		})
		return b.String()
	}
	writeRC(dv.imapAd, "u1", "pw")
	run("Dovecot")
	before := tree()
	if !strings.Contains(before, "/INBOX/cur/") {
		t.Fatalf("the first sync against Dovecot fetched nothing:\n%s", before)
	}
	dv.stop(t)

	sdir := t.TempDir()
	root := filepath.Join(newConfig(t, sdir).Mail.Dir, "u1")
	os.MkdirAll(filepath.Dir(root), 0o700)
	if err := os.Rename(filepath.Join(dv.dir, "home", "u1", "Maildir"), root); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, sdir, nil, "u1")
	sc := ts.login(t, "u1", nil)
	far := fmt.Sprint(imapSnapshot(t, sc))
	writeRC(ts.imap, "u1", "secret-u1")
	out := run("storaged")
	if strings.Contains(strings.ToLower(out), "uidvalidity") {
		t.Errorf("mbsync saw a UIDVALIDITY change:\n%s", out)
	}
	if after := tree(); after != before {
		t.Errorf("mbsync changed the local side after the adoption:\nbefore\n%s\nafter\n%s\n%s", before, after, out)
	}
	if after := fmt.Sprint(imapSnapshot(t, sc)); after != far {
		t.Errorf("mbsync changed storaged's side:\nbefore %s\nafter  %s\n%s", far, after, out)
	}
}
