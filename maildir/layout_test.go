package maildir

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/folder/foldertest"
)

func newFSStore(t *testing.T) folder.Store {
	s, err := OpenLayout(filepath.Join(t.TempDir(), "mail"), FS)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The contract every format meets holds in LAYOUT=fs too.
func TestConformanceFS(t *testing.T) {
	foldertest.Run(t, foldertest.SharedTestdata, newFSStore)
}

func TestCrashFS(t *testing.T) {
	foldertest.Crash(t, func(root string) (folder.Store, error) { return OpenLayout(root, FS) })
}

func TestFSLayoutOnDisk(t *testing.T) {
	st := newFSStore(t).(*Store)
	root := st.Root()
	for _, n := range []string{"Work/Sub", "Entwürfe", "INBOX/Lists", "Sent"} {
		if err := st.Create(n); err != nil {
			t.Fatalf("create %s: %v", n, err)
		}
	}
	for _, p := range []string{"Work/Sub/cur", "Work/Sub/new", "Work/Sub/tmp", "Entw&APw-rfe/cur", "INBOX/Lists/cur", "Sent/tmp"} {
		if fi, err := os.Stat(filepath.Join(root, p)); err != nil || !fi.IsDir() {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	// Dovecot writes maildirfolder for Maildir++ only; Work is a parent.
	for _, p := range []string{"Sent/maildirfolder", "Work/cur", ".Sent"} {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s exists", p)
		}
	}
	names, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(names, ","), "INBOX,Entwürfe,INBOX/Lists,Sent,Work/Sub"; got != want {
		t.Fatalf("List = %s, want %s", got, want)
	}
	for _, bad := range []string{"cur", "Work/new", "tmp/x"} {
		if err := st.Create(bad); !errors.Is(err, folder.ErrBadName) {
			t.Errorf("create %s: %v, want ErrBadName", bad, err)
		}
	}

	// Renaming a parent moves its children in one rename.
	if err := st.Create("Work"); err != nil {
		t.Fatal(err)
	}
	f, _ := st.Folder("Work/Sub")
	appendOne(t, f, folder.Flags{Sys: folder.Seen})
	if err := st.Rename("Work", "Old/Work"); err != nil {
		t.Fatal(err)
	}
	names, _ = st.List()
	if got, want := strings.Join(names, ","), "INBOX,Entwürfe,INBOX/Lists,Old/Work,Old/Work/Sub,Sent"; got != want {
		t.Fatalf("after rename List = %s, want %s", got, want)
	}
	f, err = st.Folder("Old/Work/Sub")
	if err != nil {
		t.Fatal(err)
	}
	if es, _, err := f.Scan(context.Background()); err != nil || len(es) != 1 {
		t.Fatalf("moved child holds %v, %v", es, err)
	}

	// Deleting a parent keeps its child (RFC 9051 §6.3.4: the name's
	// inferiors stay).
	if err := st.Delete("Old/Work"); err != nil {
		t.Fatal(err)
	}
	names, _ = st.List()
	if got, want := strings.Join(names, ","), "INBOX,Entwürfe,INBOX/Lists,Old/Work/Sub,Sent"; got != want {
		t.Fatalf("after delete List = %s, want %s", got, want)
	}
	if _, err := os.Stat(filepath.Join(root, "Old/Work/cur")); err == nil {
		t.Error("deleted folder's cur/ is still there")
	}
	if err := st.Delete("Sent"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "Sent")); err == nil {
		t.Error("a deleted folder without children leaves its directory")
	}
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "..deleted") {
			t.Errorf("trash %s left behind", e.Name())
		}
	}
}

// A link anywhere in the tree is no folder, and nothing beyond it is
// listed or opened; a directory swapped for a link after listing leads
// nowhere either.
func TestFSLayoutLinks(t *testing.T) {
	o := newOutside(t)
	st := newFSStore(t).(*Store)
	root := st.Root()
	// A Maildir outside the store, with a child, linked in at two levels.
	for _, p := range []string{"cur", "new", "tmp", "Child/cur", "Child/new", "Child/tmp"} {
		os.MkdirAll(filepath.Join(o.dir, "md", p), 0o700)
	}
	os.WriteFile(filepath.Join(o.dir, "md", "cur", "1.M1P1.x:2,S"), []byte("Subject: secret\n\n"), 0o600)
	if err := st.Create("Real"); err != nil {
		t.Fatal(err)
	}
	os.Symlink(filepath.Join(o.dir, "md"), filepath.Join(root, "Evil"))
	os.Symlink(filepath.Join(o.dir, "md"), filepath.Join(root, "Real", "Nested"))
	os.MkdirAll(filepath.Join(root, "Half"), 0o700)
	os.Symlink(filepath.Join(o.dir, "md", "cur"), filepath.Join(root, "Half", "cur"))
	names, err := st.List()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names, ","); got != "INBOX,Real" {
		t.Fatalf("List = %s", got)
	}
	for _, n := range []string{"Evil", "Evil/Child", "Real/Nested", "Real/Nested/Child", "Half"} {
		if st.Exists(n) {
			t.Errorf("%s exists", n)
		}
		if _, err := st.Folder(n); !errors.Is(err, folder.ErrNotFound) {
			t.Errorf("Folder(%s) = %v, want ErrNotFound", n, err)
		}
		if err := st.Create(n + "/New"); err == nil && n != "Half" {
			t.Errorf("created a folder beneath the link %s", n)
		}
	}
	// Listed, then swapped for a link: the folder it returned reads
	// nothing outside.
	f, err := st.Folder("Real")
	if err != nil {
		t.Fatal(err)
	}
	os.Rename(filepath.Join(root, "Real"), filepath.Join(root, ".moved"))
	os.Symlink(filepath.Join(o.dir, "md"), filepath.Join(root, "Real"))
	if es, _, err := f.Scan(context.Background()); err == nil && len(es) > 0 {
		t.Fatalf("scan through a swapped link lists %v", es)
	}
	if err := st.Delete("Real"); err == nil {
		t.Fatal("deleted through a link")
	}
	o2 := filepath.Join(o.dir, "md", "cur", "1.M1P1.x:2,S")
	if _, err := os.Stat(o2); err != nil {
		t.Fatalf("the message outside is gone: %v", err)
	}
}

// A store is opened only in its own layout, and the layout of a source
// is recognised.
func TestLayoutMismatch(t *testing.T) {
	pp := newStore(t).(*Store)
	if err := pp.Create("Work"); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenLayout(pp.Root(), FS); !errors.Is(err, ErrOtherLayout) {
		t.Errorf("Maildir++ opened as fs: %v", err)
	}
	if l, err := DetectLayout(pp.Root()); err != nil || l != PlusPlus {
		t.Errorf("DetectLayout(Maildir++) = %v, %v", l, err)
	}
	fs := newFSStore(t).(*Store)
	if err := fs.Create("Work/Sub"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(fs.Root()); !errors.Is(err, ErrOtherLayout) {
		t.Errorf("fs opened as Maildir++: %v", err)
	}
	if l, err := DetectLayout(fs.Root()); err != nil || l != FS {
		t.Errorf("DetectLayout(fs) = %v, %v", l, err)
	}
	for loc, want := range map[string]string{
		"maildir:~/Maildir:LAYOUT=fs": "fs", "maildir:~/Maildir": "", "maildir:~/M:INBOX=/x:layout=FS": "FS", "": "", "mbox": "",
	} {
		if got := LocationLayout(loc); got != want {
			t.Errorf("LocationLayout(%q) = %q, want %q", loc, got, want)
		}
	}
	if _, err := ParseLayout("index"); err == nil {
		t.Error("LAYOUT=index accepted")
	}
}
