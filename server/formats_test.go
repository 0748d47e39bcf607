package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// TestPerUserFormat: a user's userdb_mail field picks the format over
// mail.format, and an existing store is never opened in another format.
func TestPerUserFormat(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, withFormat("maildir"), "ann")
	if err := ts.Users.Add("bob", "secret-bob", map[string]string{"userdb_mail": "mbox:~/mail:INBOX=/var/mail/%u"}); err != nil {
		t.Fatal(err)
	}
	if err := ts.Users.Add("cat", "secret-cat", map[string]string{"mail": "mh"}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"ann", "bob", "cat"} {
		deliverMsgs(t, ts, u, testMessage(1))
	}
	for p, want := range map[string]bool{"ann/cur": true, "bob/INBOX": true, "cat/inbox/1": true, "bob/cur": false, "cat/cur": false} {
		if _, err := os.Stat(filepath.Join(dir, "mail", p)); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", p, err == nil, want)
		}
	}
	ts.stop()

	// ann's store is Maildir; configured as mbox now, it must not open.
	ts = startServer(t, dir, withFormat("mbox"), "ann")
	c := ts.lmtpClient()
	defer c.Close()
	res, err := send(c, "s@example.net", []string{"ann@example.org"}, testMessage(2))
	if err != nil {
		t.Fatal(err)
	}
	if se := res["ann@example.org"]; se == nil || se.Code != 451 {
		t.Fatalf("delivery into a store of another format: %+v", se)
	}
	if n := len(mailFiles(t, dir, "ann")); n != 1 {
		t.Fatalf("ann's Maildir has %d messages, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "mail", "ann", "INBOX")); err == nil {
		t.Fatal("an mbox INBOX appeared beside the Maildir")
	}
}

// TestMHSequencesFromOutside: an MH program marking a message read
// (removing it from the unseen sequence) reaches IMAP as \Seen; flags MH
// cannot record stay.
func TestMHSequencesFromOutside(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, withFormat("mh"), "ann")
	deliverMsgs(t, ts, "ann", testMessage(1), testMessage(2))
	c := ts.login(t, "ann", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDraft, "$Work"}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	seq := filepath.Join(dir, "mail", "ann", "inbox", ".mh_sequences")
	b, _ := os.ReadFile(seq)
	if !strings.Contains(string(b), "unseen: 1-2") {
		t.Fatalf(".mh_sequences: %q", b)
	}
	// As "mark -sequence unseen -delete 1" and "mark -sequence flagged -add 2" leave it.
	if err := os.WriteFile(seq, []byte("unseen: 2\nflagged: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		msgs, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{Flags: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 2 && containsFlag(msgs[0].Flags, imap.FlagSeen) && containsFlag(msgs[1].Flags, imap.FlagFlagged) {
			if !containsFlag(msgs[0].Flags, imap.FlagDraft) || !containsFlag(msgs[0].Flags, "$Work") {
				t.Fatalf("flags MH does not record were lost: %v", msgs[0].Flags)
			}
			if containsFlag(msgs[1].Flags, imap.FlagSeen) {
				t.Fatalf("message 2 became seen: %v", msgs[1].Flags)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sequence changes not seen: %v / %v", msgs[0].Flags, msgs[1].Flags)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
