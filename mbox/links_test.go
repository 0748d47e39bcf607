package mbox

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

const outsideMbox = "From root@localhost Mon Jan  2 15:04:05 2006\nSubject: SECRET\n\nroot:x:0:0\n"

func newOutside(t *testing.T) (dir, secret string, check func()) {
	dir = filepath.Join(t.TempDir(), "outside")
	secret = filepath.Join(dir, "secret")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(secret, []byte(outsideMbox), 0o600)
	return dir, secret, func() {
		t.Helper()
		if b, err := os.ReadFile(secret); err != nil || string(b) != outsideMbox {
			t.Fatalf("the file outside the store is now %q, %v", b, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Fatalf("the directory outside the store holds %d entries", len(ents))
		}
	}
}

// A folder file that is a link, or that has another link (another
// user's mbox linked in), is no folder: not read, not written, not cut.
func TestLinkedFolderFiles(t *testing.T) {
	for _, link := range []string{"symlink", "hardlink"} {
		t.Run(link, func(t *testing.T) {
			_, secret, check := newOutside(t)
			root := filepath.Join(t.TempDir(), "mail")
			s := openWithState(t, root)
			f := inboxOf(t, s)
			add(t, f, "Subject: mine\r\n\r\n")
			if link == "symlink" {
				os.Symlink(secret, filepath.Join(root, "Stolen"))
			} else {
				os.Link(secret, filepath.Join(root, "Stolen"))
			}
			if _, err := s.Folder("Stolen"); !errors.Is(err, folder.ErrNotFound) {
				t.Errorf("Folder(Stolen): %v, want ErrNotFound", err)
			}
			if names, _ := s.List(); strings.Contains(strings.Join(names, " "), "Stolen") && link == "symlink" {
				t.Errorf("List shows a link: %v", names)
			}
			// INBOX swapped for one after the folder was opened.
			os.Rename(filepath.Join(root, "INBOX"), filepath.Join(root, "INBOX.mine"))
			if link == "symlink" {
				os.Symlink(secret, filepath.Join(root, "INBOX"))
			} else {
				os.Link(secret, filepath.Join(root, "INBOX"))
			}
			if _, _, err := f.Scan(context.Background()); !errors.Is(err, folder.ErrNotFound) {
				t.Errorf("scan: %v, want ErrNotFound", err)
			}
			if _, err := f.Append(context.Background(), folder.NewMessage{Data: []byte("Subject: x\r\n\r\n")}); !errors.Is(err, folder.ErrNotFound) {
				t.Errorf("append: %v, want ErrNotFound", err)
			}
			if err := f.Remove(nil); !errors.Is(err, folder.ErrNotFound) {
				t.Errorf("rewrite: %v, want ErrNotFound", err)
			}
			check()
		})
	}
}

// The rewrite's temporary file has a name no one can guess: one planted
// under the old fixed name is left alone.
func TestRewriteTemporary(t *testing.T) {
	_, secret, check := newOutside(t)
	root := t.TempDir()
	s, _ := Open(root)
	f := inboxOf(t, s)
	e := add(t, f, "Subject: a\r\n\r\n")
	add(t, f, "Subject: b\r\n\r\n")
	os.Symlink(secret, filepath.Join(root, ".INBOX.storaged-rewrite"))
	if err := f.Remove([]folder.Entry{e}); err != nil {
		t.Fatal(err)
	}
	if ents, _, _ := f.Scan(context.Background()); len(ents) != 1 {
		t.Fatalf("%d messages after the rewrite", len(ents))
	}
	check()
}

// A .sbd directory that is a link: nothing is created through it.
func TestLinkedChildren(t *testing.T) {
	dir, _, check := newOutside(t)
	root := t.TempDir()
	s, _ := Open(root)
	s.Create("A")
	os.Symlink(dir, filepath.Join(root, "A.sbd"))
	if err := s.Create("A/nologin"); !errors.Is(err, folder.ErrNotFound) {
		t.Errorf("Create through a linked .sbd: %v, want ErrNotFound", err)
	}
	if err := s.Rename("A", "B"); err != nil {
		t.Fatal(err)
	}
	check()
	if err := s.Create("C/secret"); err != nil {
		t.Fatal(err)
	}
	check()
}

// The conformance suite again, every name resolved component by
// component with O_NOFOLLOW, as on a kernel without openat2.
func TestConformanceWithoutOpenat2(t *testing.T) {
	defer safefs.ForceWalk()()
	foldertest.Run(t, foldertest.SharedTestdata, newStore)
}
