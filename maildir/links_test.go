package maildir

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/folder/foldertest"
	"github.com/storaged/storaged/internal/safefs"
)

// outside is a directory beside the store that nothing may reach.
type outside struct{ dir, secret string }

func newOutside(t *testing.T) outside {
	o := outside{dir: filepath.Join(t.TempDir(), "outside")}
	o.secret = filepath.Join(o.dir, "secret")
	os.MkdirAll(o.dir, 0o700)
	os.WriteFile(o.secret, []byte("0 SECRET\n"), 0o600)
	return o
}

func (o outside) check(t *testing.T) {
	t.Helper()
	if b, err := os.ReadFile(o.secret); err != nil || string(b) != "0 SECRET\n" {
		t.Fatalf("the file outside the store is now %q, %v", b, err)
	}
	if ents, _ := os.ReadDir(o.dir); len(ents) != 1 {
		t.Fatalf("the directory outside the store holds %d entries", len(ents))
	}
}

func appendOne(t *testing.T, f folder.Folder, flags folder.Flags) folder.Entry {
	t.Helper()
	e, err := f.Append(context.Background(), folder.NewMessage{Data: []byte("Subject: x\r\n\r\nbody\r\n"), Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestLinksInTheStore(t *testing.T) {
	o := newOutside(t)
	st := newStore(t).(*Store)
	root := st.Root()
	inbox, _ := st.Folder("INBOX")
	mine := appendOne(t, inbox, folder.Flags{})

	// A link where a message should be is no message.
	os.Symlink(o.secret, filepath.Join(root, "cur", "1.M1P1.evil:2,S"))
	ents, _, err := inbox.Scan(context.Background())
	if err != nil || len(ents) != 1 || ents[0].Key != mine.Key {
		t.Fatalf("scan lists %+v, %v", ents, err)
	}
	if _, err := inbox.Open(folder.Entry{Key: "1.M1P1.evil", Name: "cur/1.M1P1.evil:2,S"}); !errors.Is(err, folder.ErrGone) {
		t.Errorf("open of a link: %v, want ErrGone", err)
	}
	if _, err := inbox.Stat(folder.Entry{Name: "cur/1.M1P1.evil:2,S"}); !errors.Is(err, folder.ErrGone) {
		t.Errorf("stat of a link: %v, want ErrGone", err)
	}

	// A link where a folder should be is no folder.
	os.Symlink(o.dir, filepath.Join(root, ".Stolen"))
	os.MkdirAll(filepath.Join(o.dir, "cur"), 0o700) // it looks like a Maildir
	defer os.Remove(filepath.Join(o.dir, "cur"))
	if _, err := st.Folder("Stolen"); !errors.Is(err, folder.ErrNotFound) {
		t.Errorf("Folder(Stolen): %v, want ErrNotFound", err)
	}
	if names, _ := st.List(); strings.Contains(strings.Join(names, " "), "Stolen") {
		t.Errorf("List shows the link: %v", names)
	}
	if err := st.Create("Stolen"); !errors.Is(err, folder.ErrExists) {
		t.Errorf("Create over a link: %v, want ErrExists", err)
	}
	if err := st.Delete("Stolen"); !errors.Is(err, folder.ErrNotFound) {
		t.Errorf("Delete of a link: %v", err)
	}
	os.Remove(filepath.Join(o.dir, "cur"))

	// maildirfolder planted as a link before CREATE: not followed.
	os.MkdirAll(filepath.Join(root, ".New"), 0o700)
	os.Symlink(filepath.Join(o.dir, "created"), filepath.Join(root, ".New", "maildirfolder"))
	if err := st.Create("New"); err != nil {
		t.Fatal(err)
	}
	// Keywords: the file and its old temporary name as links.
	os.Symlink(o.secret, filepath.Join(root, "dovecot-keywords"))
	os.Symlink(o.secret, filepath.Join(root, "dovecot-keywords.tmp"))
	st2, _ := Open(root)
	inbox2, _ := st2.Folder("INBOX")
	e := appendOne(t, inbox2, folder.Flags{Keywords: []string{"work"}})
	if strings.Contains(e.Name, "SECRET") {
		t.Fatal("keyword read through a link")
	}
	if fi, err := os.Lstat(filepath.Join(root, "dovecot-keywords")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("dovecot-keywords was not replaced by a file of ours: %v %v", fi, err)
	}
	// The adoption mark planted as a link: replaced, not written through.
	os.Symlink(o.secret, filepath.Join(root, adoptedMark))
	if inbox2.(*Folder).Adopted() {
		t.Error("a link counts as the adoption mark")
	}
	if err := inbox2.(*Folder).MarkAdopted(); err != nil {
		t.Fatal(err)
	}
	o.check(t)

	// tmp/ swapped for a link after the folder was opened: the append
	// fails, nothing is written outside.
	os.Rename(filepath.Join(root, "tmp"), filepath.Join(root, "tmp.orig"))
	os.Symlink(o.dir, filepath.Join(root, "tmp"))
	if _, err := inbox2.Append(context.Background(), folder.NewMessage{Data: []byte("x\r\n")}); !errors.Is(err, folder.ErrNotFound) {
		t.Errorf("append through a linked tmp/: %v, want ErrNotFound", err)
	}
	o.check(t)
}

// A folder replaced by a link between Folder and its use is never
// followed: the calls fail, the other side is untouched.
func TestFolderSwappedForLink(t *testing.T) {
	o := newOutside(t)
	st := newStore(t).(*Store)
	root := st.Root()
	st.Create("Work")
	f, _ := st.Folder("Work")
	e := appendOne(t, f, folder.Flags{})
	// The other side looks like the folder, with a message of the same name.
	victim := filepath.Join(o.dir, "victim")
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(victim, d), 0o700)
	}
	os.WriteFile(filepath.Join(victim, e.Name), []byte("Subject: not yours\n\n"), 0o600)
	os.Rename(filepath.Join(root, ".Work"), filepath.Join(root, ".Work.moved"))
	os.Symlink(victim, filepath.Join(root, ".Work"))

	if _, err := f.Open(e); !errors.Is(err, folder.ErrGone) {
		t.Errorf("open: %v, want ErrGone", err)
	}
	if _, _, err := f.Scan(context.Background()); !errors.Is(err, folder.ErrNotFound) {
		t.Errorf("scan: %v, want ErrNotFound", err)
	}
	f.SetFlags(e, folder.Flags{Sys: folder.Seen})
	f.Remove([]folder.Entry{e})
	f.Append(context.Background(), folder.NewMessage{Data: []byte("x\r\n")})
	if b, err := os.ReadFile(filepath.Join(victim, e.Name)); err != nil || string(b) != "Subject: not yours\n\n" {
		t.Fatalf("the linked folder's message: %q, %v", b, err)
	}
	for _, d := range []string{"cur", "new", "tmp"} {
		if ents, _ := os.ReadDir(filepath.Join(victim, d)); len(ents) != map[string]int{"new": 1}[d] {
			t.Errorf("%s/ of the linked folder holds %d files", d, len(ents))
		}
	}
}

// Names of files being written cannot be guessed.
func TestUniqueNamesAreRandom(t *testing.T) {
	u := newUniq()
	a, b := u.next(timeZero, 1, 1), u.next(timeZero, 1, 1)
	re := regexp.MustCompile(`^0\.M0P\d+Q\d+R[0-9a-f]{16}\.`)
	if !re.MatchString(a) || a[strings.Index(a, "R"):] == b[strings.Index(b, "R"):] {
		t.Fatalf("names %q %q", a, b)
	}
}

var timeZero = time.Unix(0, 0)

// The conformance suite again, every name resolved component by
// component with O_NOFOLLOW, as on a kernel without openat2.
func TestConformanceWithoutOpenat2(t *testing.T) {
	defer safefs.ForceWalk()()
	foldertest.Run(t, foldertest.SharedTestdata, newStore)
}
