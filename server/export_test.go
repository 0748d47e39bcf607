package server_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/storaged/storaged/admin"
)

// fillForExport gives u1 what an export must carry: folders with a
// hierarchy, subscriptions, system flags and keywords, internal dates,
// and holes in the UIDs from expunges.
func fillForExport(t *testing.T, ts *testServer) {
	t.Helper()
	lc := ts.lmtpClient()
	for i := 1; i <= 6; i++ {
		msg := fmt.Sprintf("From: s%d@example.net\r\nTo: u1@example.org\r\nSubject: m%d\r\nMessage-ID: <%d@export.test>\r\n\r\nbody %d\r\n", i, i, i, i)
		if _, err := send(lc, "s@example.net", []string{"u1@example.org"}, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	lc.Close()
	c := ts.login(t, "u1", nil)
	defer c.Logout()
	for _, n := range []string{"Work/Sub", "Projects"} {
		if err := c.Create(n, nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"INBOX", "Work/Sub"} {
		if err := c.Subscribe(n).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	date := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := 0; i < 2; i++ {
		body := []byte(fmt.Sprintf("Subject: ap%d\r\n\r\nappended\r\n", i))
		app := c.Append("Work/Sub", int64(len(body)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen, "projectx"}, Time: date})
		app.Write(body)
		app.Close()
		if _, err := app.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	st := func(ss imap.SeqSet, flags ...imap.Flag) {
		if err := c.Store(ss, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: flags, Silent: true}, nil).Close(); err != nil {
			t.Fatal(err)
		}
	}
	st(imap.SeqSetNum(1), imap.FlagSeen, "$Label1", "custom")
	st(imap.SeqSetNum(2), imap.FlagFlagged, imap.FlagAnswered, "$Junk")
	st(imap.SeqSetNum(3, 5), imap.FlagDeleted)
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	st(imap.SeqSetNum(3), imap.FlagDraft, "custom")
}

// bodies are the messages of every mailbox, by name and UID, as
// BODY.PEEK[] hashes.
func bodies(t *testing.T, c *imapclient.Client, snap []mboxSnap) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range snap {
		if len(s.Msgs) == 0 {
			continue
		}
		if _, err := c.Select(s.Name, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			t.Fatal(err)
		}
		var all imap.SeqSet
		all.AddRange(1, 0)
		msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			for _, b := range m.BodySection {
				out[fmt.Sprintf("%s/%d", s.Name, m.UID)] = fmt.Sprintf("%x", sha256.Sum256(b.Bytes))
			}
		}
	}
	return out
}

// storaged export writes a Maildir that Dovecot serves with storaged's
// UIDs, UIDVALIDITYs, UIDNEXTs, flags, keywords, internal dates,
// subscriptions, bodies and POP3 UIDLs: leaving loses nothing. The export
// runs through the admin socket while the server serves.
func TestExportToDovecot(t *testing.T) {
	dv := startDovecot(t)
	ts := startServer(t, t.TempDir(), nil, "u1")
	fillForExport(t, ts)
	c := ts.login(t, "u1", nil)
	want := imapSnapshot(t, c)
	wantBodies := bodies(t, c, want)
	c.Logout().Wait()
	wantUIDL := pop3UIDL(t, ts.pop3, "u1", "secret-u1")

	dest := filepath.Join(t.TempDir(), "export")
	var out, errout bytes.Buffer
	code, err := admin.Call(ts.cfg.Admin.Socket, []string{"export", "u1", dest}, nil, &out, &errout)
	if err != nil || code != 0 {
		t.Fatalf("export: %d %v\n%s%s", code, err, out.String(), errout.String())
	}
	if !strings.Contains(out.String(), "Work/Sub") || !strings.Contains(out.String(), "folders)") {
		t.Errorf("export summary:\n%s", out.String())
	}
	maildir := filepath.Join(dv.dir, "home", "u1", "Maildir")
	os.MkdirAll(filepath.Dir(maildir), 0o755)
	if err := os.Rename(dest, maildir); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("chown", "-R", "nobody:", filepath.Dir(maildir)).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, b)
	}
	dc := dv.imap(t)
	got := imapSnapshot(t, dc)
	if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
		t.Errorf("Dovecot serving the export:\n%s\nstoraged:\n%s", g, w)
	}
	gotBodies := bodies(t, dc, got)
	if fmt.Sprint(sortedPairs(gotBodies)) != fmt.Sprint(sortedPairs(wantBodies)) {
		t.Errorf("bodies differ:\nDovecot %v\nstoraged %v", gotBodies, wantBodies)
	}
	if g := pop3UIDL(t, dv.pop3, "u1", "pw"); g != wantUIDL {
		t.Errorf("POP3 UIDL: Dovecot\n%s\nstoraged\n%s", g, wantUIDL)
	}
	// An export never writes into a directory that holds something.
	code, _ = admin.Call(ts.cfg.Admin.Socket, []string{"export", "u1", filepath.Dir(maildir)}, nil, &out, &errout)
	if code == 0 {
		t.Error("an export into a non-empty directory was done")
	}
}

// An mbox export imported into another user gives the same messages,
// flags, keywords and dates in the same folders.
func TestExportMboxRoundTrip(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil, "u1", "u2")
	fillForExport(t, ts)
	c := ts.login(t, "u1", nil)
	want := imapSnapshot(t, c)
	wantBodies := bodies(t, c, want)
	c.Logout().Wait()
	dest := filepath.Join(t.TempDir(), "mbox")
	var out, errout bytes.Buffer
	code, err := admin.Call(ts.cfg.Admin.Socket, []string{"export", "--format", "mbox", "u1", dest}, nil, &out, &errout)
	// "Work" has a child and no messages: nothing of it is lost.
	if err != nil || code != 0 {
		t.Fatalf("export: %d %v\n%s%s", code, err, out.String(), errout.String())
	}
	out.Reset()
	code, err = admin.Call(ts.cfg.Admin.Socket, []string{"import", "u2", dest}, nil, &out, &errout)
	if err != nil || code != 0 {
		t.Fatalf("import: %d %v\n%s%s", code, err, out.String(), errout.String())
	}
	c2 := ts.login(t, "u2", nil)
	got := imapSnapshot(t, c2)
	// UIDs are new in the other store; what a message is stays.
	strip := func(s []mboxSnap) string {
		var b strings.Builder
		for _, m := range s {
			if len(m.Msgs) == 0 {
				continue
			}
			fmt.Fprintf(&b, "%s:", m.Name)
			for _, x := range m.Msgs {
				_, rest, _ := strings.Cut(x, " ")
				fmt.Fprintf(&b, " [%s]", rest)
			}
			b.WriteString("\n")
		}
		return b.String()
	}
	if g, w := strip(got), strip(want); g != w {
		t.Errorf("after the mbox round trip:\n%s\nbefore:\n%s", g, w)
	}
	gotBodies := bodies(t, c2, got)
	if g, w := valuesSorted(gotBodies), valuesSorted(wantBodies); fmt.Sprint(g) != fmt.Sprint(w) {
		t.Errorf("bodies differ after the mbox round trip:\n%v\n%v", g, w)
	}
}

func sortedPairs(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func valuesSorted(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// Dovecot's Maildir imported, then exported: every message file comes
// back with the same octets (names differ: they are each server's own).
func TestMaildirRoundTripBytes(t *testing.T) {
	dv := startDovecot(t)
	fillDovecot(t, dv).Logout().Wait()
	dv.stop(t)
	src := filepath.Join(dv.dir, "home", "u1", "Maildir")
	ts := startServer(t, t.TempDir(), nil, "u2")
	var out, errout bytes.Buffer
	if code, err := admin.Call(ts.cfg.Admin.Socket, []string{"import", "u2", src}, nil, &out, &errout); err != nil || code != 0 {
		t.Fatalf("import: %d %v\n%s%s", code, err, out.String(), errout.String())
	}
	dest := filepath.Join(t.TempDir(), "export")
	if code, err := admin.Call(ts.cfg.Admin.Socket, []string{"export", "u2", dest}, nil, &out, &errout); err != nil || code != 0 {
		t.Fatalf("export: %d %v\n%s%s", code, err, out.String(), errout.String())
	}
	contents := func(root string) []string {
		var out []string
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.IsDir() {
				return nil
			}
			if d := filepath.Base(filepath.Dir(p)); d == "cur" || d == "new" {
				b, _ := os.ReadFile(p)
				out = append(out, fmt.Sprintf("%x", sha256.Sum256(b)))
			}
			return nil
		})
		sort.Strings(out)
		return out
	}
	want, got := contents(src), contents(dest)
	if len(want) == 0 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("message files after import and export:\n%v\nDovecot's:\n%v", got, want)
	}
}
