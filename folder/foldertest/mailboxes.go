package foldertest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/storaged/storaged/folder"
)

// put appends one message to the named mailbox.
func put(t *testing.T, s folder.Store, name string, msg []byte) {
	t.Helper()
	f, err := s.Folder(name)
	if err != nil {
		t.Fatalf("Folder(%q): %v", name, err)
	}
	if _, err := f.Append(context.Background(), folder.NewMessage{Data: msg}); err != nil {
		t.Fatalf("Append to %q: %v", name, err)
	}
}

// holds checks that the named mailbox holds exactly msgs, in any order.
func holds(t *testing.T, s folder.Store, name string, msgs ...[]byte) {
	t.Helper()
	f, err := s.Folder(name)
	if err != nil {
		t.Fatalf("Folder(%q): %v", name, err)
	}
	entries, _, err := f.Scan(context.Background())
	if err != nil {
		t.Fatalf("Scan(%q): %v", name, err)
	}
	if len(entries) != len(msgs) {
		t.Fatalf("%q holds %d messages, want %d", name, len(entries), len(msgs))
	}
	for _, e := range entries {
		b := readAll(t, f, e)
		if !slices.ContainsFunc(msgs, func(m []byte) bool { return bytes.Equal(m, b) }) {
			t.Fatalf("%q holds an unexpected message %q", name, b)
		}
	}
}

// testRenameTree: a rename carries children and their messages along,
// a child moves up with its own children, and the errors are the
// contract's.
func testRenameTree(t *testing.T, newStore NewStore) {
	s := newStore(t)
	msg := func(n string) []byte { return []byte("Subject: in " + n + "\r\n\r\nx\r\n") }
	for _, n := range []string{"A", "A/B", "A/B/C"} {
		if err := s.Create(n); err != nil {
			t.Fatalf("Create(%q): %v", n, err)
		}
		put(t, s, n, msg(n))
	}
	if err := s.Rename("A", "Z"); err != nil {
		t.Fatal(err)
	}
	holds(t, s, "Z", msg("A"))
	holds(t, s, "Z/B", msg("A/B"))
	holds(t, s, "Z/B/C", msg("A/B/C"))
	if err := s.Rename("Z/B", "Y"); err != nil {
		t.Fatal(err)
	}
	got, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"INBOX", "Y", "Y/C", "Z"}; !slices.Equal(got, want) {
		t.Fatalf("List = %q, want %q", got, want)
	}
	holds(t, s, "Y", msg("A/B"))
	holds(t, s, "Y/C", msg("A/B/C"))
	holds(t, s, "Z", msg("A"))
	for _, n := range []string{"A", "A/B", "Z/B"} {
		if s.Exists(n) {
			t.Errorf("%q still exists after the renames", n)
		}
	}

	if err := s.Rename("Y", "Z"); !errors.Is(err, folder.ErrExists) {
		t.Errorf("Rename onto an existing mailbox = %v, want ErrExists", err)
	}
	if err := s.Rename("Nope", "Nope2"); !errors.Is(err, folder.ErrNotFound) {
		t.Errorf("Rename of a missing mailbox = %v, want ErrNotFound", err)
	}
	if err := s.Rename("INBOX", "Elsewhere"); err == nil {
		t.Error("Rename(INBOX) succeeded")
	}
	if err := s.Delete("Nope"); !errors.Is(err, folder.ErrNotFound) {
		t.Errorf("Delete of a missing mailbox = %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"../x", "a//b"} {
		if err := s.Rename("Z", bad); !errors.Is(err, folder.ErrBadName) {
			t.Errorf("Rename to %q = %v, want ErrBadName", bad, err)
		}
	}
	holds(t, s, "Z", msg("A"))
}

// testNameEncoding: names outside ASCII, and ASCII the encodings treat
// specially, come back from List as they went in; INBOX is INBOX in any
// case.
func testNameEncoding(t *testing.T, newStore NewStore) {
	s := newStore(t)
	names := []string{"a&b", "&", "日本語", "Emoji 😀", "Ünï/Çödé", "a~b", "+x", "a,b"}
	for _, n := range names {
		if p, ok := folder.Parent(n); ok && !s.Exists(p) {
			if err := s.Create(p); err != nil {
				t.Fatalf("Create(%q): %v", p, err)
			}
		}
		if err := s.Create(n); err != nil {
			t.Fatalf("Create(%q): %v", n, err)
		}
		if !s.Exists(n) {
			t.Fatalf("Exists(%q) false after Create", n)
		}
		put(t, s, n, []byte("Subject: "+n+"\r\n\r\n"))
	}
	got, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range append(names, "Ünï") {
		if !slices.Contains(got, n) {
			t.Errorf("List = %q lacks %q", got, n)
		}
	}
	for _, n := range names {
		holds(t, s, n, []byte("Subject: "+n+"\r\n\r\n"))
	}

	for _, n := range []string{"inbox", "Inbox", "INBOX"} {
		if !s.Exists(n) {
			t.Errorf("Exists(%q) false", n)
		}
		if err := s.Create(n); !errors.Is(err, folder.ErrExists) {
			t.Errorf("Create(%q) = %v, want ErrExists", n, err)
		}
	}
	put(t, s, "inbox", []byte("Subject: lower case\r\n\r\n"))
	holds(t, s, "INBOX", []byte("Subject: lower case\r\n\r\n"))
}
