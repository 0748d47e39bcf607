package server_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/storaged/storaged/config"
)

// [mail] layout = "fs" is Dovecot's mail_location LAYOUT=fs for every
// user without a location of their own; a user whose userdb_mail names
// a location keeps that location's layout (here: none, Maildir++).
func TestMailLayoutDefault(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, withFormat("maildir", func(c *config.Config) { c.Mail.Layout = "fs" }), "ann")
	if err := ts.Users.Add("bob", "secret-bob", map[string]string{"userdb_mail": "maildir:~/Maildir"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user        string
		nested, dot string
		wantNested  bool
	}{
		{"ann", filepath.Join("Work", "Sub", "cur"), ".Work.Sub", true},
		{"bob", filepath.Join("Work", "Sub", "cur"), ".Work.Sub", false},
	} {
		im := ts.login(t, c.user, nil)
		if err := im.Create("Work/Sub", nil).Wait(); err != nil {
			t.Fatalf("%s: CREATE: %v", c.user, err)
		}
		im.Logout().Wait()
		root := filepath.Join(ts.cfg.Mail.Dir, c.user)
		_, errNested := os.Stat(filepath.Join(root, c.nested))
		_, errDot := os.Stat(filepath.Join(root, c.dot))
		if c.wantNested && (errNested != nil || errDot == nil) {
			t.Errorf("%s: want Work/Sub nested (LAYOUT=fs): nested %v, Maildir++ %v", c.user, errNested, errDot)
		}
		if !c.wantNested && (errNested == nil || errDot != nil) {
			t.Errorf("%s: want .Work.Sub (Maildir++, the user's own location): nested %v, Maildir++ %v", c.user, errNested, errDot)
		}
	}
}
