package mbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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
	foldertest.Run(t, foldertest.SharedTestdata, newStore)
}

func TestCrash(t *testing.T) {
	// The journal beside the store lets the next process cut off an
	// append a kill left half written.
	foldertest.Crash(t, func(root string) (folder.Store, error) {
		return Format.Open(root, folder.Options{StateDir: root + ".state"})
	})
}

func inboxOf(t *testing.T, s *Store) *Folder {
	t.Helper()
	f, err := s.Folder("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return f.(*Folder)
}

func add(t *testing.T, f *Folder, msg string) folder.Entry {
	t.Helper()
	e, err := f.Append(context.Background(), folder.NewMessage{Data: []byte(msg), Sender: "a@example.org", Date: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestFileLayout(t *testing.T) {
	root := t.TempDir()
	s, _ := Open(root)
	if !Owns(root) {
		t.Fatal("Owns false")
	}
	f := inboxOf(t, s)
	add(t, f, "Subject: one\r\n\r\nFrom here\r\n>From there\r\n")
	e2 := add(t, f, "Subject: two\r\n\r\nno final line end")
	b, _ := os.ReadFile(filepath.Join(root, "INBOX"))
	if !strings.HasPrefix(string(b), "From a@example.org Tue Jan  2 03:04:05 2024\nX-Storaged-Key: ") ||
		!strings.Contains(string(b), "\n\n>From here\n>>From there\n\nFrom a@example.org Tue Jan  2 03:04:05 2024\nX-Storaged-Key: ") ||
		!strings.HasSuffix(string(b), "\nX-Storaged-Unterminated: yes\nSubject: two\n\nno final line end\n\n") {
		t.Fatalf("file:\n%s", b)
	}
	if _, err := f.SetFlags(e2, folder.Flags{Sys: folder.Seen | folder.Answered, Keywords: []string{"work"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(filepath.Join(root, "INBOX"))
	if !strings.Contains(string(b), "Status: RO\nX-Status: A\nX-Keywords: work\n") {
		t.Fatalf("flags not written:\n%s", b)
	}
	ents, _, _ := f.Scan(context.Background())
	if len(ents) != 2 || ents[1].Key != e2.Key || !ents[1].Flags.Sys.Has(folder.Answered) {
		t.Fatalf("scan after flags: %+v", ents)
	}
	// Children live in INBOX.sbd and Archive.sbd.
	for _, n := range []string{"Archive", "Archive/2024", "INBOX/Sub"} {
		if err := s.Create(n); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"Archive", "Archive.sbd/2024", "INBOX.sbd/Sub"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("missing %s", p)
		}
	}
}

// mutt appends a message and deletes another: the rescan keeps the keys
// of the others.
func TestExternalChanges(t *testing.T) {
	root := t.TempDir()
	s, _ := Open(root)
	f := inboxOf(t, s)
	e1 := add(t, f, "Subject: one\r\n\r\nx\r\n")
	e2 := add(t, f, "Subject: two\r\n\r\ny\r\n")
	p := filepath.Join(root, "INBOX")
	fd, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	fd.WriteString("From mutt@example.org Mon Mar  2 10:00:00 2020\nSubject: by mutt\nStatus: RO\n\nbody\n\n")
	fd.Close()
	ents, _, _ := f.Scan(context.Background())
	if len(ents) != 3 || ents[0].Key != e1.Key || ents[1].Key != e2.Key || !ents[2].Flags.Sys.Has(folder.Seen) {
		t.Fatalf("after an external append: %+v", ents)
	}
	third := ents[2]
	// Delete message one the way mutt would: rewrite without it.
	b, _ := os.ReadFile(p)
	recs := Split(b)
	os.WriteFile(p, b[recs[1].Start:], 0o600)
	ents, _, _ = f.Scan(context.Background())
	if len(ents) != 2 || ents[0].Key != e2.Key || ents[1].Key != third.Key {
		t.Fatalf("after an external delete: %+v", ents)
	}
	// A stale Name still opens through the key.
	r, err := f.Open(e2)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}

// Another process holds the dotlock: the append waits, then fails with
// folder.ErrLocked while the lock stays; nothing is written.
func TestLockContention(t *testing.T) {
	root := t.TempDir()
	s, _ := Open(root)
	s.LockWait = 300 * time.Millisecond
	f := inboxOf(t, s)
	add(t, f, "Subject: before\r\n\r\n")
	before, _ := os.ReadFile(filepath.Join(root, "INBOX"))
	// pid 1 is alive: the lock is not stale.
	os.WriteFile(filepath.Join(root, "INBOX.lock"), []byte("1\n"), 0o600)
	start := time.Now()
	_, err := f.Append(context.Background(), folder.NewMessage{Data: []byte("Subject: blocked\r\n\r\n")})
	if !errors.Is(err, ErrLocked) || !errors.Is(err, folder.ErrLocked) || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("append under a foreign lock: %v after %v", err, time.Since(start))
	}
	if after, _ := os.ReadFile(filepath.Join(root, "INBOX")); string(after) != string(before) {
		t.Fatal("the file changed under a foreign lock")
	}
	// Released within the wait: the append goes through.
	go func() {
		time.Sleep(100 * time.Millisecond)
		os.Remove(filepath.Join(root, "INBOX.lock"))
	}()
	add(t, f, "Subject: after\r\n\r\n")
	// A lock left by a process that is gone is broken at once.
	os.WriteFile(filepath.Join(root, "INBOX.lock"), []byte("999999999\n"), 0o600)
	add(t, f, "Subject: stale\r\n\r\n")
	if ents, _, _ := f.Scan(context.Background()); len(ents) != 3 {
		t.Fatalf("%d messages", len(ents))
	}
}

// The listing our appends extend equals a fresh scan of the file.
func TestScanCache(t *testing.T) {
	root := t.TempDir()
	s, _ := Open(root)
	f := inboxOf(t, s)
	ctx := context.Background()
	f.Scan(ctx)
	for _, m := range []string{"Subject: a\r\n\r\nx\r\n", "no line end", "Subject: c\r\n\r\nFrom me\r\n"} {
		add(t, f, m)
	}
	e, err := f.Append(ctx, folder.NewMessage{Data: []byte("Subject: d\r\n\r\n"), Flags: folder.Flags{Sys: folder.Seen, Keywords: []string{"k"}}})
	if err != nil {
		t.Fatal(err)
	}
	cached, _, _ := f.Scan(ctx)
	s2, _ := Open(root)
	fresh, _, _ := inboxOf(t, s2).Scan(ctx)
	if len(cached) != 4 || len(fresh) != 4 {
		t.Fatalf("%d cached, %d fresh", len(cached), len(fresh))
	}
	for i := range fresh {
		c, w := cached[i], fresh[i]
		if c.Key != w.Key || c.Name != w.Name || !c.Flags.Equal(w.Flags) || c.Size != w.Size || !c.Date.Equal(w.Date) {
			t.Errorf("entry %d: cached %+v, fresh %+v", i, c, w)
		}
	}
	if e.Name != fresh[3].Name {
		t.Errorf("Append returned %s, the file says %s", e.Name, fresh[3].Name)
	}
}

// A program that opened the file before our rewrite replaced it (mutt
// opens, then locks) finds the old file locked, and gives up, instead of
// appending to a file no name leads to any more.
func TestReplacedFileStaysLocked(t *testing.T) {
	root := t.TempDir()
	s, _ := Open(root)
	f := inboxOf(t, s)
	es := appendAll(t, f, interopMessages[:2], nil)
	path := filepath.Join(root, "INBOX")
	old, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := f.Remove(es[:1]); err != nil {
		t.Fatal(err)
	}
	// A classic fcntl lock, as mutt takes it.
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(old.Fd(), unix.F_SETLK, &lk); !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES) {
		t.Fatalf("lock of the replaced file: %v, want it held", err)
	}
	cur, _ := os.OpenFile(path, os.O_RDWR, 0)
	defer cur.Close()
	if err := unix.FcntlFlock(cur.Fd(), unix.F_SETLK, &lk); err != nil {
		t.Fatalf("lock of the new file: %v", err)
	}
}

func TestRenameIntoItself(t *testing.T) {
	s := newStore(t)
	for _, n := range []string{"A", "A/B"} {
		if err := s.Create(n); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Rename("A", "A/B/C"); !errors.Is(err, folder.ErrBadName) {
		t.Fatalf("Rename into itself = %v, want ErrBadName", err)
	}
	if got, _ := s.List(); strings.Join(got, ",") != "INBOX,A,A/B" {
		t.Fatalf("List after the refused rename: %q", got)
	}
}
