package server_test

import (
	"os"
	"path/filepath"
	"testing"
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
