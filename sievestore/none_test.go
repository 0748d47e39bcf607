package sievestore

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// age sets the mtimes of dirs a minute back, so that an answer stamped
// with them may be kept (noneSettle).
func age(t *testing.T, dirs ...string) {
	t.Helper()
	old := time.Now().Add(-time.Minute)
	for _, d := range dirs {
		if err := os.Chtimes(d, old, old); err != nil {
			t.Fatal(err)
		}
	}
}

func sequenceLen(t *testing.T, s *Store, user string) int {
	t.Helper()
	steps, err := s.Sequence(user)
	if err != nil {
		t.Fatal(err)
	}
	return len(steps)
}

// A user without a script is remembered as such, and the answer goes as
// soon as a script becomes active, also when another process (the
// "storaged sieve" command, here a second Store) activates it, in our
// layout and in an adopted Dovecot one.
func TestNoScriptRemembered(t *testing.T) {
	dir, home := t.TempDir(), t.TempDir()
	opts := Options{Dir: dir, Home: func(string) string { return home }}
	s, other := New(opts), New(opts)
	age(t, dir, home)
	if n := sequenceLen(t, s, "ann"); n != 0 {
		t.Fatalf("%d steps for a user without scripts", n)
	}
	if none, _ := s.hasNone("ann"); !none {
		t.Fatal("no script: not remembered")
	}
	if err := other.Put("ann", "main", []byte("discard;")); err != nil {
		t.Fatal(err)
	}
	if err := other.SetActive("ann", "main"); err != nil {
		t.Fatal(err)
	}
	if n := sequenceLen(t, s, "ann"); n != 1 {
		t.Fatalf("after another process activated a script: %d steps", n)
	}

	// A Dovecot layout that appears in the home.
	age(t, dir, home)
	if n := sequenceLen(t, s, "bob"); n != 0 {
		t.Fatalf("bob: %d steps", n)
	}
	if err := os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte("discard;"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := sequenceLen(t, s, "bob"); n != 1 {
		t.Fatalf("after a .dovecot.sieve appeared: %d steps", n)
	}
}

// Within noneSettle of the last change, nothing is remembered: a change
// in the same clock tick would keep the mtime.
func TestNoScriptNotRememberedUnsettled(t *testing.T) {
	dir := t.TempDir()
	s := New(Options{Dir: dir})
	if err := os.Chtimes(dir, time.Now(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := sequenceLen(t, s, "ann"); n != 0 {
		t.Fatalf("%d steps", n)
	}
	if none, _ := s.hasNone("ann"); none {
		t.Fatal("remembered while the directory's mtime is fresh")
	}
}
