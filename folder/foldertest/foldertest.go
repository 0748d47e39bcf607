// Package foldertest is the conformance suite every folder format passes:
// the same tests run on Maildir, mbox and MH.
package foldertest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/message"
)

// SharedTestdata is the corpus of real and hostile messages (a copy of
// the workplace's shared/testdata), as seen from a top-level package.
const SharedTestdata = "../testdata"

// Corpus returns every message of the shared test data in canonical form,
// keyed by file name. dir is the path from the calling package to
// shared/testdata.
func Corpus(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	for _, sub := range []string{"messages", "hostile"} {
		files, err := filepath.Glob(filepath.Join(dir, sub, "*.eml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no test messages under %s/%s: %v", dir, sub, err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out[sub+"/"+filepath.Base(f)] = message.Canonical(b)
		}
	}
	return out
}

// NewStore makes an empty store in a fresh directory.
type NewStore func(t *testing.T) folder.Store

// Caps says what a format records on disk besides the message.
type Caps struct {
	// Flags are the system flags it can keep (MH sequences hold three).
	Flags folder.SysFlags
	// Keywords tells whether it keeps keywords.
	Keywords bool
}

// AllFlags is a format that records every flag and keyword.
var AllFlags = Caps{Flags: folder.Seen | folder.Answered | folder.Flagged | folder.Deleted | folder.Draft, Keywords: true}

// Run runs the whole suite on a format that records every flag.
func Run(t *testing.T, corpusDir string, newStore NewStore) {
	RunCaps(t, corpusDir, newStore, AllFlags)
}

// RunCaps runs the whole suite on a format with the given capabilities.
func RunCaps(t *testing.T, corpusDir string, newStore NewStore, caps Caps) {
	t.Run("AppendReadBack", func(t *testing.T) { testAppendReadBack(t, corpusDir, newStore) })
	t.Run("Flags", func(t *testing.T) { testFlags(t, newStore, caps) })
	t.Run("Remove", func(t *testing.T) { testRemove(t, newStore) })
	t.Run("Mailboxes", func(t *testing.T) { testMailboxes(t, newStore) })
	t.Run("HostileNames", func(t *testing.T) { testHostileNames(t, newStore) })
	t.Run("AppendEntries", func(t *testing.T) { testAppendEntries(t, newStore) })
	t.Run("StoredForm", func(t *testing.T) { testStoredForm(t, newStore) })
	t.Run("SpooledAppend", func(t *testing.T) { testSpooledAppend(t, corpusDir, newStore) })
	t.Run("ConcurrentAppends", func(t *testing.T) { testConcurrentAppends(t, newStore) })
	t.Run("StaleEntries", func(t *testing.T) { testStaleEntries(t, newStore, caps) })
	t.Run("FlagBatch", func(t *testing.T) { testFlagBatch(t, newStore, caps) })
	t.Run("RenameTree", func(t *testing.T) { testRenameTree(t, newStore) })
	t.Run("NameEncoding", func(t *testing.T) { testNameEncoding(t, newStore) })
}

func readAll(t *testing.T, f folder.Folder, e folder.Entry) []byte {
	t.Helper()
	r, err := f.Open(e)
	if err != nil {
		t.Fatalf("Open(%s): %v", e.Name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", e.Name, err)
	}
	return b
}

func inbox(t *testing.T, s folder.Store) folder.Folder {
	t.Helper()
	f, err := s.Folder("INBOX")
	if err != nil {
		t.Fatalf("Folder(INBOX): %v", err)
	}
	return f
}

func testAppendReadBack(t *testing.T, corpusDir string, newStore NewStore) {
	s := newStore(t)
	f := inbox(t, s)
	ctx := context.Background()
	corpus := Corpus(t, corpusDir)
	byKey := make(map[string]string)
	date := time.Date(2024, 2, 29, 13, 14, 15, 0, time.UTC)
	for name, msg := range corpus {
		e, err := f.Append(ctx, folder.NewMessage{Data: msg, Date: date, Sender: "a@example.org"})
		if err != nil {
			t.Fatalf("Append(%s): %v", name, err)
		}
		if got := readAll(t, f, e); !bytes.Equal(got, msg) {
			t.Fatalf("%s: read back %d bytes differ from the %d appended", name, len(got), len(msg))
		}
		byKey[e.Key] = name
	}
	entries, _, err := f.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(corpus) {
		t.Fatalf("Scan found %d messages, appended %d", len(entries), len(corpus))
	}
	for _, e := range entries {
		name, ok := byKey[e.Key]
		if !ok {
			t.Fatalf("Scan returned unknown key %q", e.Key)
		}
		if got := readAll(t, f, e); !bytes.Equal(got, corpus[name]) {
			t.Fatalf("%s: bytes differ after Scan", name)
		}
		st, err := f.Stat(e)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Date.Equal(date) {
			t.Errorf("%s: date %v, want %v", name, st.Date, date)
		}
	}
}

func testFlags(t *testing.T, newStore NewStore, caps Caps) {
	s := newStore(t)
	f := inbox(t, s)
	ctx := context.Background()
	msg := []byte("Subject: flags\r\n\r\nbody\r\n")
	e, err := f.Append(ctx, folder.NewMessage{Data: msg, Flags: folder.Flags{Sys: folder.Seen}})
	if err != nil {
		t.Fatal(err)
	}
	if e.Flags.Sys != folder.Seen {
		t.Fatalf("flags after append = %v", e.Flags)
	}
	want := folder.Flags{Sys: folder.Flagged | folder.Answered | folder.Deleted | folder.Draft, Keywords: []string{"$Forwarded", "$Junk", "work"}}
	e2, err := f.SetFlags(e, want)
	if err != nil {
		t.Fatal(err)
	}
	if e2.Key != e.Key {
		t.Fatalf("key changed with flags: %q → %q", e.Key, e2.Key)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	entries, _, err := f.Scan(ctx)
	if err != nil || len(entries) != 1 {
		t.Fatalf("Scan: %v %v", entries, err)
	}
	recorded := folder.Flags{Sys: want.Sys & caps.Flags}
	if caps.Keywords {
		recorded.Keywords = want.Keywords
	}
	// A format without a place for \Seen records its absence as unseen
	// or not at all; compare only what it keeps.
	got := entries[0].Flags
	got.Sys &= caps.Flags
	if !caps.Keywords {
		got.Keywords = nil
	}
	if !got.Equal(recorded) {
		t.Fatalf("flags on disk = %+v, want %+v", entries[0].Flags, recorded)
	}
	// A stale entry (old name) must still open through its key.
	if got := readAll(t, f, e); !bytes.Equal(got, msg) {
		t.Fatal("stale entry did not resolve")
	}
	// Clearing flags.
	if _, err := f.SetFlags(entries[0], folder.Flags{}); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	entries, _, _ = f.Scan(ctx)
	if entries[0].Flags.Sys&caps.Flags != 0 || len(entries[0].Flags.Keywords) != 0 {
		t.Fatalf("flags not cleared: %+v", entries[0].Flags)
	}
}

func testRemove(t *testing.T, newStore NewStore) {
	s := newStore(t)
	f := inbox(t, s)
	ctx := context.Background()
	var es []folder.Entry
	for i := 0; i < 5; i++ {
		e, err := f.Append(ctx, folder.NewMessage{Data: []byte("Subject: x\r\n\r\n" + string(rune('a'+i)) + "\r\n")})
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	if err := f.Remove([]folder.Entry{es[1], es[3]}); err != nil {
		t.Fatal(err)
	}
	// Removing what is gone is not an error.
	if err := f.Remove([]folder.Entry{es[1]}); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	entries, _, _ := f.Scan(ctx)
	var keys []string
	for _, e := range entries {
		keys = append(keys, e.Key)
	}
	slices.Sort(keys)
	want := []string{es[0].Key, es[2].Key, es[4].Key}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("after Remove: %v, want %v", keys, want)
	}
	if _, err := f.Open(es[1]); !errors.Is(err, folder.ErrGone) {
		t.Fatalf("Open(removed) = %v, want ErrGone", err)
	}
}

func testMailboxes(t *testing.T, newStore NewStore) {
	s := newStore(t)
	for _, n := range []string{"Sent", "Archive", "Archive/2024", "Archive/2024/Q1", "Entwürfe", "INBOX/Sub"} {
		if err := s.Create(n); err != nil {
			t.Fatalf("Create(%q): %v", n, err)
		}
	}
	if err := s.Create("Sent"); !errors.Is(err, folder.ErrExists) {
		t.Fatalf("Create twice = %v", err)
	}
	f, err := s.Folder("Archive/2024")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Append(context.Background(), folder.NewMessage{Data: []byte("Subject: a\r\n\r\nx\r\n")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Rename("Archive", "Old"); err != nil {
		t.Fatal(err)
	}
	got, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"INBOX", "Entwürfe", "INBOX/Sub", "Old", "Old/2024", "Old/2024/Q1", "Sent"}
	if !slices.Equal(got, want) {
		t.Fatalf("List = %q, want %q", got, want)
	}
	f, err = s.Folder("Old/2024")
	if err != nil {
		t.Fatal(err)
	}
	if es, _, _ := f.Scan(context.Background()); len(es) != 1 {
		t.Fatalf("renamed folder has %d messages, want 1", len(es))
	}
	if err := s.Delete("Old/2024"); err != nil {
		t.Fatal(err)
	}
	if s.Exists("Old/2024") || !s.Exists("Old/2024/Q1") {
		t.Fatal("Delete removed the wrong folders")
	}
	if _, err := s.Folder("Nope"); !errors.Is(err, folder.ErrNotFound) {
		t.Fatalf("Folder(missing) = %v", err)
	}
	if err := s.Delete("INBOX"); err == nil {
		t.Fatal("Delete(INBOX) succeeded")
	}
}

func testHostileNames(t *testing.T, newStore NewStore) {
	s := newStore(t)
	for _, n := range []string{"../x", "..", "a/../../b", "/etc", "a//b", "a\x00b", ".x", "x/.", "a\\b"} {
		if err := s.Create(n); !errors.Is(err, folder.ErrBadName) {
			t.Errorf("Create(%q) = %v, want ErrBadName", n, err)
		}
		if _, err := s.Folder(n); !errors.Is(err, folder.ErrBadName) {
			t.Errorf("Folder(%q) = %v, want ErrBadName", n, err)
		}
	}
	got, _ := s.List()
	if !slices.Equal(got, []string{"INBOX"}) {
		t.Fatalf("hostile names left folders: %q", got)
	}
}
