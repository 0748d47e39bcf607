package server_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	imap "github.com/emersion/go-imap/v2"

	"github.com/storaged/storaged/admin"
)

// One user's index overwritten with random octets while the server is
// down (issue 16 §1): the server starts, the other user is served as
// before, and the broken user's index is set aside and rebuilt from the
// files (at the first access, or by `storaged check -repair`): every
// message is there, once, and delivery goes on.
func TestOneUsersIndexBroken(t *testing.T) {
	eachFormat(t, func(t *testing.T, format string) {
		dir := t.TempDir()
		ts := startServer(t, dir, withFormat(format), "ann", "bob")
		msg := func(user string, i int) []byte {
			return []byte(fmt.Sprintf("From: a@example.net\r\nTo: %s@example.org\r\nSubject: %s %d\r\nMessage-ID: <%s-%d@example.net>\r\n\r\nbody %d of %s\r\n", user, user, i, user, i, i, user))
		}
		deliver := func(ts *testServer, user string, i int) {
			t.Helper()
			c := ts.lmtpClient()
			defer c.Close()
			res, err := send(c, "a@example.net", []string{user + "@example.org"}, msg(user, i))
			if err != nil || res[user+"@example.org"] != nil {
				t.Fatalf("deliver %s %d: %v %v", user, i, err, res)
			}
		}
		for i := range 3 {
			deliver(ts, "ann", i)
			deliver(ts, "bob", i)
		}
		ts.stop()

		path := filepath.Join(dir, "index", "ann", "index.db")
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		junk := make([]byte, st.Size())
		rand.Read(junk)
		if err := os.WriteFile(path, junk, 0o600); err != nil {
			t.Fatal(err)
		}

		ts = startServer(t, dir, withFormat(format))
		// bob is untouched by ann's index.
		deliver(ts, "bob", 3)
		subjects := func(user string) []string {
			t.Helper()
			c := ts.login(t, user, nil)
			defer func() { c.Logout().Wait() }()
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				if imapCode(err) != imap.ResponseCodeUnavailable {
					t.Fatalf("%s: SELECT: %v, want it served or NO [UNAVAILABLE]", user, err)
				}
				return nil
			}
			msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Envelope: true}).Collect()
			if err != nil {
				t.Fatalf("%s: FETCH: %v", user, err)
			}
			var out []string
			for _, m := range msgs {
				out = append(out, m.Envelope.Subject)
			}
			return out
		}
		if got := strings.Join(subjects("bob"), ","); got != "bob 0,bob 1,bob 2,bob 3" {
			t.Fatalf("bob after ann's index broke: %q", got)
		}
		got := subjects("ann")
		if got == nil {
			// Not repaired at the first access: the admin repairs it.
			var out, errout bytes.Buffer
			code, err := admin.Call(ts.cfg.Admin.Socket, []string{"check", "-repair", "ann"}, nil, &out, &errout)
			if err != nil || code > 1 {
				t.Fatalf("check -repair: %d %v\n%s%s", code, err, out.String(), errout.String())
			}
			got = subjects("ann")
		}
		if strings.Join(got, ",") != "ann 0,ann 1,ann 2" {
			t.Fatalf("ann after the repair: %q, want her three messages once each", got)
		}
		aside, _ := filepath.Glob(path + ".broken-*")
		if len(aside) != 1 {
			t.Errorf("the broken index is not kept aside: %v", aside)
		}
		deliver(ts, "ann", 3)
		if got := strings.Join(subjects("ann"), ","); got != "ann 0,ann 1,ann 2,ann 3" {
			t.Fatalf("ann after a new delivery: %q", got)
		}
	})
}
