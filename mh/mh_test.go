package mh

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/folder/foldertest"
)

func newStore(t *testing.T) folder.Store {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	foldertest.RunCaps(t, foldertest.SharedTestdata, newStore, foldertest.Caps{Flags: folder.Seen | folder.Flagged | folder.Answered})
}

func TestCrash(t *testing.T) {
	foldertest.Crash(t, func(root string) (folder.Store, error) { return Open(root) })
}

func inbox(t testing.TB, s *Store) *Folder {
	t.Helper()
	f, err := s.Folder("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return f.(*Folder)
}

func appendMsg(t testing.TB, f *Folder, body string, fl folder.Flags) folder.Entry {
	t.Helper()
	e, err := f.Append(context.Background(), folder.NewMessage{Data: []byte(body), Flags: fl})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestLayoutAndSequences(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if !Owns(root) {
		t.Fatal("Owns is false for a new store")
	}
	f := inbox(t, s)
	e1 := appendMsg(t, f, "Subject: one\r\n\r\nx\r\n", folder.Flags{})
	e2 := appendMsg(t, f, "Subject: two\r\n\r\ny\r\n", folder.Flags{Sys: folder.Seen | folder.Flagged})
	e3 := appendMsg(t, f, "Subject: three\r\n\r\nz\r\n", folder.Flags{Sys: folder.Answered})
	if e1.Key != "1" || e2.Key != "2" || e3.Key != "3" {
		t.Fatalf("numbers %s %s %s", e1.Key, e2.Key, e3.Key)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "inbox", "2")); string(b) != "Subject: two\n\ny\n" {
		t.Fatalf("file 2 holds %q", b)
	}
	seq, _ := os.ReadFile(filepath.Join(root, "inbox", ".mh_sequences"))
	if string(seq) != "unseen: 1 3\nflagged: 2\nreplied: 3\n" {
		t.Fatalf(".mh_sequences:\n%s", seq)
	}
	// A sequence of the user's own survives our rewrites.
	os.WriteFile(filepath.Join(root, "inbox", ".mh_sequences"), []byte("cur: 2\nmine: 1-3\n\t 7\nunseen: 1 3\nflagged: 2\nreplied: 3\n"), 0o600)
	if _, err := f.SetFlags(e1, folder.Flags{Sys: folder.Seen}); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Remove([]folder.Entry{e3}); err != nil {
		t.Fatal(err)
	}
	seq, _ = os.ReadFile(filepath.Join(root, "inbox", ".mh_sequences"))
	if string(seq) != "cur: 2\nmine: 1-2 7\nflagged: 2\n" {
		t.Fatalf(".mh_sequences after SetFlags and Remove:\n%s", seq)
	}
	ents, _, err := f.Scan(context.Background())
	if err != nil || len(ents) != 2 {
		t.Fatalf("scan: %v %v", ents, err)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Key < ents[j].Key })
	if ents[0].Flags.Sys != folder.Seen || ents[1].Flags.Sys != folder.Seen|folder.Flagged {
		t.Fatalf("flags from sequences: %+v", ents)
	}
	// Numbers are not reused by this process after the highest goes.
	if e := appendMsg(t, f, "Subject: four\r\n\r\n", folder.Flags{Sys: folder.Seen}); e.Key != "4" {
		t.Fatalf("next number %s", e.Key)
	}
}

func TestExternalChanges(t *testing.T) {
	root := t.TempDir()
	s, _ := Open(root)
	f := inbox(t, s)
	appendMsg(t, f, "Subject: a\r\n\r\n", folder.Flags{})
	appendMsg(t, f, "Subject: b\r\n\r\n", folder.Flags{})
	// inc drops 3; rmm removes 1 (nmh renames it to ,1); junk files stay
	// out of the listing.
	os.WriteFile(filepath.Join(root, "inbox", "3"), []byte("Subject: c\n\n"), 0o600)
	os.Rename(filepath.Join(root, "inbox", "1"), filepath.Join(root, "inbox", ",1"))
	os.WriteFile(filepath.Join(root, "inbox", "007"), nil, 0o600)
	os.WriteFile(filepath.Join(root, "inbox", "notes"), nil, 0o600)
	os.Mkdir(filepath.Join(root, "inbox", "12"), 0o700)
	ents, _, err := f.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range ents {
		keys = append(keys, e.Key)
	}
	sort.Strings(keys)
	if strings.Join(keys, " ") != "2 3" {
		t.Fatalf("keys %v", keys)
	}
	// Our next append takes a number above what inc wrote.
	if e := appendMsg(t, f, "Subject: d\r\n\r\n", folder.Flags{}); e.Key != "4" {
		t.Fatalf("append after an external one got %s", e.Key)
	}
	// The subdirectory named 12 is a folder, not a message.
	names, _ := s.List()
	if strings.Join(names, " ") != "INBOX INBOX/12" {
		t.Fatalf("List %v", names)
	}
}

func TestConcurrentAppends(t *testing.T) {
	root := t.TempDir()
	s1, _ := Open(root)
	s2, _ := Open(root) // a second process's view of the same folder
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]bool{}
	for _, s := range []*Store{s1, s2} {
		wg.Add(1)
		go func(f *Folder) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				e := appendMsg(t, f, fmt.Sprintf("Subject: %d\r\n\r\n", i), folder.Flags{})
				mu.Lock()
				if seen[e.Key] {
					t.Errorf("number %s handed out twice", e.Key)
				}
				seen[e.Key] = true
				mu.Unlock()
			}
		}(inbox(t, s))
	}
	wg.Wait()
	ents, _, _ := inbox(t, s1).Scan(context.Background())
	if len(ents) != 400 || len(seen) != 400 {
		t.Fatalf("%d messages on disk, %d numbers", len(ents), len(seen))
	}
	seq, _ := readSequences(s1.dir, "inbox")
	if len(seq.nums["unseen"]) != 400 {
		t.Fatalf("unseen has %d messages, want 400", len(seq.nums["unseen"]))
	}
}

func TestDeleteWithChildren(t *testing.T) {
	s := newStore(t).(*Store)
	for _, n := range []string{"A", "A/B"} {
		if err := s.Create(n); err != nil {
			t.Fatal(err)
		}
	}
	fa, _ := s.Folder("A")
	appendMsg(t, fa.(*Folder), "Subject: in A\r\n\r\n", folder.Flags{})
	if err := s.Delete("A"); err != nil {
		t.Fatal(err)
	}
	if s.Exists("A") || !s.Exists("A/B") {
		t.Fatal("A should be gone and A/B kept")
	}
	if names, _ := s.List(); strings.Join(names, " ") != "INBOX A/B" {
		t.Fatalf("List %v", names)
	}
	if err := s.Create("A"); err != nil {
		t.Fatal(err)
	}
	fa, _ = s.Folder("A")
	if ents, _, _ := fa.Scan(context.Background()); len(ents) != 0 {
		t.Fatalf("re-created A has %d messages", len(ents))
	}
}

func TestParseSequencesHostile(t *testing.T) {
	for _, in := range []string{"", ":", "x: 5-1 0 -3 a 1-99999999999", "x 1 2", "unseen: 1-2000000", "\t cont", "a: 1\nb:\n"} {
		s := parseSequences([]byte(in))
		_ = s.format()
	}
	s := parseSequences([]byte("unseen: 3 1-2 2\n"))
	if string(s.format()) != "unseen: 1-3\n" {
		t.Fatalf("%q", s.format())
	}
}

// nmh reads what storaged wrote, and storaged sees what inc wrote. Skips
// without nmh (make test installs it when apt-get can).
func TestNmhInterop(t *testing.T) {
	scan := "/usr/bin/mh/scan"
	if _, err := os.Stat(scan); err != nil {
		t.Skip("nmh is not installed; make test installs it when apt-get can")
	}
	home := t.TempDir()
	root := filepath.Join(home, "Mail")
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	f := inbox(t, s)
	for i := 1; i <= 3; i++ {
		fl := folder.Flags{}
		if i == 2 {
			fl.Sys = folder.Seen
		}
		appendMsg(t, f, fmt.Sprintf("From: a%d@example.org\r\nSubject: message %d\r\nDate: Mon, 2 Mar 2020 10:00:00 +0000\r\n\r\nbody %d\r\n", i, i, i), fl)
	}
	profile := filepath.Join(home, ".mh_profile")
	os.WriteFile(profile, []byte("Path: "+root+"\nUnseen-Sequence: unseen\n"), 0o600)
	env := append(os.Environ(), "HOME="+home, "MH="+profile, "MHCONTEXT="+filepath.Join(home, "context"))
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(filepath.Join("/usr/bin/mh", name), args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	out := run("scan", "+inbox", "-format", "%(msg) %{subject}")
	if strings.TrimSpace(out) != "1 message 1\n2 message 2\n3 message 3" {
		t.Fatalf("scan:\n%s", out)
	}
	if out := run("scan", "+inbox", "unseen", "-format", "%(msg)"); strings.TrimSpace(out) != "1\n3" {
		t.Fatalf("scan unseen:\n%s", out)
	}
	// inc from an mbox drop: storaged then sees message 4.
	drop := filepath.Join(home, "drop")
	os.WriteFile(drop, []byte("From someone Mon Mar  2 10:00:00 2020\nSubject: incorporated\n\nhello\n\n"), 0o600)
	run("inc", "+inbox", "-file", drop, "-truncate", "-silent")
	// refile moves message 1 to another folder.
	os.MkdirAll(filepath.Join(root, "Other"), 0o700)
	run("refile", "1", "+Other", "-src", "+inbox")
	ents, _, err := f.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]folder.Flags{}
	for _, e := range ents {
		got[e.Key] = e.Flags
	}
	if len(got) != 3 {
		t.Fatalf("after inc and refile: %v", got)
	}
	if _, ok := got["1"]; ok {
		t.Fatal("refiled message 1 still listed")
	}
	r, err := f.Open(folder.Entry{Key: "4", Name: "4"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Contains(b, []byte("Subject: incorporated\r\n")) {
		t.Fatalf("message 4: %q", b)
	}
	if got["4"].Sys.Has(folder.Seen) {
		t.Error("inc's message is not in unseen")
	}
	if names, _ := s.List(); strings.Join(names, " ") != "INBOX Other" {
		t.Fatalf("List %v", names)
	}
}
