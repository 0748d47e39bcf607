package server_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/store"
)

// mbsync (isync) syncs a 200-message account both ways: down to an empty
// local Maildir, then local additions, flag changes and deletions up.
// `make test` installs isync when it can; without it the test skips.
func TestMbsync(t *testing.T) { eachFormat(t, testMbsync) }

func testMbsync(t *testing.T, format string) {
	mbsync, err := exec.LookPath("mbsync")
	if err != nil {
		t.Skip("mbsync (Debian package isync) is not installed; make test installs it when apt-get can")
	}
	dir := t.TempDir()
	ts := startServer(t, dir, withFormat(format), "ann")
	ctx := context.Background()
	inbox := acctMailbox(t, ts, "ann")
	for i := 0; i < 200; i++ {
		msg := fmt.Sprintf("From: s%d@example.net\r\nSubject: message %d\r\nMessage-ID: <%d@mbsync.test>\r\n\r\nbody %d\r\n", i, i, i, i)
		if _, err := inbox.Append(ctx, []byte(msg), store.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	acct, _ := ts.Accounts.Open(ctx, "ann")
	sent, _ := acct.Mailbox("Sent")
	sent.Append(ctx, []byte("Subject: sent one\r\n\r\nx\r\n"), store.AppendOptions{Flags: folder.Flags{Sys: folder.Seen}})

	local := filepath.Join(dir, "local")
	os.MkdirAll(local, 0o700)
	host, port, _ := strings.Cut(ts.imap, ":")
	rc := filepath.Join(dir, "mbsyncrc")
	os.WriteFile(rc, []byte(fmt.Sprintf(`IMAPAccount test
Host %s
Port %s
User ann
Pass secret-ann
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
Create Both
Expunge Both
SyncState *
`, host, port, local, local)), 0o600)
	run := func() {
		out, err := exec.Command(mbsync, "-V", "-c", rc, "-a").CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s\n%s", err, out, rcText(rc))
		}
	}
	run()
	count := func(dir string) int {
		n := 0
		for _, sub := range []string{"cur", "new"} {
			ents, _ := os.ReadDir(filepath.Join(dir, sub))
			n += len(ents)
		}
		return n
	}
	if n := count(filepath.Join(local, "INBOX")); n != 200 {
		t.Fatalf("local INBOX has %d messages after the first sync, want 200", n)
	}
	if n := count(filepath.Join(local, "Sent")); n != 1 {
		t.Fatalf("local Sent has %d", n)
	}
	// Local changes: one new message, one marked seen, one deleted.
	os.WriteFile(filepath.Join(local, "INBOX", "new", "1700000000.local1.host"), []byte("Subject: written locally\nMessage-ID: <local@mbsync.test>\n\nhi\n"), 0o600)
	ents, _ := os.ReadDir(filepath.Join(local, "INBOX", "cur"))
	if len(ents) < 2 {
		ents, _ = os.ReadDir(filepath.Join(local, "INBOX", "new"))
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sub := filepath.Dir(filepath.Join(local, "INBOX", "cur", "x"))
	if _, err := os.Stat(filepath.Join(sub, names[0])); err != nil {
		sub = filepath.Join(local, "INBOX", "new")
	}
	base := func(n string) string { b, _, _ := strings.Cut(n, ":"); return b }
	os.Rename(filepath.Join(sub, names[0]), filepath.Join(local, "INBOX", "cur", base(names[0])+":2,FS"))
	os.Remove(filepath.Join(sub, names[1]))
	run()
	inbox, err = acct.Mailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	info, msgs, _ := inbox.Snapshot()
	var seenFlagged int
	for _, m := range msgs {
		if m.Flags.Sys.Has(folder.Seen | folder.Flagged) {
			seenFlagged++
		}
	}
	if info.Messages != 200 {
		t.Fatalf("server INBOX has %d messages after the second sync, want 200 (+1 local, -1 deleted)", info.Messages)
	}
	if seenFlagged != 1 {
		t.Fatalf("%d messages \\Seen \\Flagged on the server, want 1", seenFlagged)
	}
	// A third run changes nothing.
	run()
	info, _, _ = inbox.Snapshot()
	if info.Messages != 200 || count(filepath.Join(local, "INBOX")) != 200 {
		t.Fatalf("idempotent sync: server %d, local %d", info.Messages, count(filepath.Join(local, "INBOX")))
	}
}

func rcText(p string) string { b, _ := os.ReadFile(p); return string(b) }
