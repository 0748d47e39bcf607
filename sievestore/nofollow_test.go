package sievestore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A Dovecot layout adopted in the user's home lives where the user may
// write: a script that is a link is not read, and a script folder that
// is a link is not adopted (it could be another user's).
func TestAdoptedLayoutLinks(t *testing.T) {
	base := t.TempDir()
	secret := filepath.Join(base, "secret")
	os.WriteFile(secret, []byte("# SECRET\nkeep;\n"), 0o600)
	s := New(Options{Dir: filepath.Join(base, "sieve"), MaxScripts: 10, MaxScriptSize: 1000,
		Home: func(user string) string { return filepath.Join(base, "home", user) }})
	if err := s.Put("bob", "mine", []byte("# BOB\nkeep;\n")); err != nil {
		t.Fatal(err)
	}
	ann := filepath.Join(base, "home", "ann")
	os.MkdirAll(filepath.Join(ann, "sieve"), 0o700)
	os.WriteFile(filepath.Join(ann, "sieve", "own.sieve"), []byte("keep;\n"), 0o600)
	os.Symlink(secret, filepath.Join(ann, "sieve", "x.sieve"))
	if b, err := s.Get("ann", "x"); err == nil || strings.Contains(string(b), "SECRET") {
		t.Errorf("Get through a link: %q, %v", b, err)
	}
	if b, err := s.Get("ann", "own"); err != nil || string(b) != "keep;\n" {
		t.Errorf("Get(own) = %q, %v", b, err)
	}
	cat := filepath.Join(base, "home", "cat")
	os.MkdirAll(cat, 0o700)
	os.Symlink(filepath.Join(base, "sieve", "bob"), filepath.Join(cat, "sieve"))
	if b, err := s.Get("cat", "mine"); err == nil || strings.Contains(string(b), "BOB") {
		t.Errorf("Get through a linked script folder: %q, %v", b, err)
	}
	if err := s.Delete("cat", "mine"); err == nil {
		t.Error("Delete through a linked script folder succeeded")
	}
	if _, err := os.Stat(filepath.Join(base, "sieve", "bob", "mine.sieve")); err != nil {
		t.Errorf("bob's script: %v", err)
	}
}
