package mh

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/folder/foldertest"
	"github.com/storaged/storaged/internal/safefs"
)

func newOutside(t *testing.T) (dir, secret string, check func()) {
	dir = filepath.Join(t.TempDir(), "outside")
	secret = filepath.Join(dir, "secret")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(secret, []byte("unseen: 1-99\n"), 0o600)
	return dir, secret, func() {
		t.Helper()
		if b, err := os.ReadFile(secret); err != nil || string(b) != "unseen: 1-99\n" {
			t.Fatalf("the file outside the store is now %q, %v", b, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Fatalf("the directory outside the store holds %d entries", len(ents))
		}
	}
}

func TestLinksInTheStore(t *testing.T) {
	dir, secret, check := newOutside(t)
	root := t.TempDir()
	s, _ := Open(root)
	f := inbox(t, s)
	e := appendMsg(t, f, "Subject: mine\r\n\r\n", folder.Flags{})

	os.Symlink(secret, filepath.Join(root, "inbox", "7"))
	ents, _, _ := f.Scan(context.Background())
	if len(ents) != 1 || ents[0].Key != e.Key {
		t.Fatalf("scan lists %+v", ents)
	}
	if _, err := f.Open(folder.Entry{Key: "7", Name: "7"}); !errors.Is(err, folder.ErrGone) {
		t.Errorf("open of a link: %v, want ErrGone", err)
	}
	if _, err := f.Open(folder.Entry{Key: "x", Name: "../../outside/secret"}); !errors.Is(err, folder.ErrGone) {
		t.Errorf("open of a name that is no number: %v", err)
	}

	// .mh_sequences as a link, then as a hard link: replaced, never
	// written through, never read.
	for _, link := range []func(string, string) error{os.Symlink, os.Link} {
		os.Remove(filepath.Join(root, "inbox", seqFile))
		link(secret, filepath.Join(root, "inbox", seqFile))
		ents, _, _ = f.Scan(context.Background())
		if !ents[0].Flags.Sys.Has(folder.Seen) {
			t.Error("sequences read through a link")
		}
		f.SetFlags(e, folder.Flags{Sys: folder.Flagged})
		if err := f.Flush(); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Lstat(filepath.Join(root, "inbox", seqFile)); err != nil || !fi.Mode().IsRegular() {
			t.Fatalf("the sequences are not a file of ours: %v", err)
		}
		check()
	}

	// A folder that is a link is none; CREATE under it makes nothing.
	os.Symlink(dir, filepath.Join(root, "Stolen"))
	if _, err := s.Folder("Stolen"); !errors.Is(err, folder.ErrNotFound) {
		t.Errorf("Folder(Stolen): %v", err)
	}
	if names, _ := s.List(); strings.Contains(strings.Join(names, " "), "Stolen") {
		t.Errorf("List: %v", names)
	}
	if err := s.Create("Stolen/x"); !errors.Is(err, folder.ErrNotFound) {
		t.Errorf("Create under a link: %v, want ErrNotFound", err)
	}
	// The noselect mark planted as a link: replaced on delete.
	s.Create("Parent")
	s.Create("Parent/Child")
	os.Symlink(secret, filepath.Join(root, "Parent", noselect))
	// A planted mark makes Parent no folder; Delete refuses, nothing changes.
	if err := s.Delete("Parent"); !errors.Is(err, folder.ErrNotFound) {
		t.Errorf("delete of a folder with a planted mark: %v", err)
	}
	os.Remove(filepath.Join(root, "Parent", noselect))
	os.Symlink(secret, filepath.Join(root, "Parent", noselect+".tmp"))
	if err := s.Delete("Parent"); err != nil {
		t.Fatal(err)
	}
	check()
}

// A folder named like a message number never blocks delivery into its
// parent, and never hides a message.
func TestNumericFolder(t *testing.T) {
	root := t.TempDir()
	s, _ := Open(root)
	f := inbox(t, s)
	for i := 0; i < 3; i++ {
		appendMsg(t, f, "Subject: m\r\n\r\n", folder.Flags{})
	}
	if err := s.Create("INBOX/4"); err != nil {
		t.Fatal(err)
	}
	if err := s.Create("INBOX/5"); err != nil {
		t.Fatal(err)
	}
	for want := range []string{"6", "7"} {
		e := appendMsg(t, f, "Subject: after\r\n\r\n", folder.Flags{})
		if e.Key != []string{"6", "7"}[want] {
			t.Fatalf("append after numeric folders got %s", e.Key)
		}
	}
	ents, _, _ := f.Scan(context.Background())
	if len(ents) != 5 {
		t.Fatalf("%d messages", len(ents))
	}
	if !s.Exists("INBOX/4") {
		t.Error("the folder INBOX/4 is gone")
	}
	// A folder where a message already is: a clear refusal.
	if err := s.Create("INBOX/2"); !errors.Is(err, folder.ErrBadName) {
		t.Errorf("Create(INBOX/2) over message 2: %v, want ErrBadName", err)
	}
}

// The conformance suite again, every name resolved component by
// component with O_NOFOLLOW, as on a kernel without openat2.
func TestConformanceWithoutOpenat2(t *testing.T) {
	defer safefs.ForceWalk()()
	foldertest.RunCaps(t, foldertest.SharedTestdata, newStore, foldertest.Caps{Flags: folder.Seen | folder.Flagged | folder.Answered})
}
