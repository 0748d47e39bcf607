package sievestore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/storaged/storaged/sieve"
)

func TestCheckName(t *testing.T) {
	for _, bad := range []string{"", "../x", "a/b", `a\b`, ".hidden", "a\x00b", "a\nb", "a\u2028b", string([]byte{0xff})} {
		if err := CheckName(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for _, good := range []string{"main", "Roundcube filters", "vacation-2024", "é"} {
		if err := CheckName(good); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
}

func TestLifecycle(t *testing.T) {
	dir := t.TempDir()
	s := New(Options{Dir: dir, MaxScripts: 2, MaxScriptSize: 100})
	if err := s.Put("ann", "a", []byte("kepp;")); err == nil {
		t.Fatal("a script that does not compile was stored")
	} else if se := (*sieve.Error)(nil); !errors.As(err, &se) || se.Line != 1 {
		t.Fatalf("error %v", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Put("ann", "a", []byte("keep;")))
	must(s.Put("ann", "b", []byte("discard;")))
	if err := s.Put("ann", "c", []byte("keep;")); !errors.Is(err, ErrTooMany) {
		t.Fatalf("third script: %v", err)
	}
	if err := s.Put("ann", "a", make([]byte, 101)); !errors.Is(err, ErrTooBig) {
		t.Fatalf("big script: %v", err)
	}
	must(s.SetActive("ann", "a"))
	if target, _ := os.Readlink(filepath.Join(dir, "ann.sieve")); target != "ann/a.sieve" {
		t.Fatalf("active link %q", target)
	}
	if err := s.Delete("ann", "a"); !errors.Is(err, ErrActive) {
		t.Fatalf("delete active: %v", err)
	}
	must(s.Rename("ann", "a", "main"))
	list, _ := s.List("ann")
	if len(list) != 2 || list[1].Name != "main" || !list[1].Active {
		t.Fatalf("list %+v", list)
	}
	if err := s.Rename("ann", "b", "main"); !errors.Is(err, ErrExists) {
		t.Fatalf("rename over: %v", err)
	}
	must(s.SetActive("ann", ""))
	must(s.Delete("ann", "main"))
	if _, err := s.Get("ann", "main"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if _, err := s.Get("../etc", "passwd"); err == nil {
		t.Fatal("a hostile user name was accepted")
	}
}

// The cache serves a script until it or a script it includes changes.
func TestCache(t *testing.T) {
	dir := t.TempDir()
	s := New(Options{Dir: dir})
	if err := s.Put("ann", "inc", []byte(`require "imap4flags"; addflag "one";`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("ann", "main", []byte(`require "include"; include :personal "inc";`)); err != nil {
		t.Fatal(err)
	}
	s.SetActive("ann", "main")
	for i := 0; i < 3; i++ {
		if seq, err := s.Sequence("ann"); err != nil || len(seq) != 1 {
			t.Fatalf("%v %v", seq, err)
		}
	}
	if h, m := s.Stats(); h != 2 || m != 1 {
		t.Fatalf("hits %d misses %d", h, m)
	}
	if err := s.Put("ann", "inc", []byte(`require "imap4flags"; addflag "two";`)); err != nil {
		t.Fatal(err)
	}
	seq, _ := s.Sequence("ann")
	if h, m := s.Stats(); h != 2 || m != 2 {
		t.Fatalf("after the include changed: hits %d misses %d", h, m)
	}
	res, err := seq[0].Script.Run(t.Context(), sieve.ParseMessage([]byte("Subject: x\r\n\r\n")), sieve.Env{})
	if err != nil || len(res.ImplicitKeepFlags) != 1 || res.ImplicitKeepFlags[0] != "two" {
		t.Fatalf("%+v %v", res, err)
	}
}

// A plain .dovecot.sieve is the active script; activating another keeps
// it as a script of the folder.
func TestPlainDovecotScript(t *testing.T) {
	home := t.TempDir()
	s := New(Options{Dir: t.TempDir(), Home: func(string) string { return home }})
	os.WriteFile(filepath.Join(home, ".dovecot.sieve"), []byte("discard;"), 0o600)
	list, err := s.List("ann")
	if err != nil || len(list) != 1 || list[0].Name != "dovecot" || !list[0].Active {
		t.Fatalf("%+v %v", list, err)
	}
	if err := s.Put("ann", "new", []byte("keep;")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetActive("ann", "new"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(home, "sieve", "dovecot.sieve")); err != nil || string(b) != "discard;" {
		t.Fatalf("kept %q %v", b, err)
	}
}

func TestVacationKey(t *testing.T) {
	k := VacationKey("h", "Sender@Example.net")
	if k != VacationKey("h", "sender@example.net") {
		t.Fatal("sender case matters")
	}
	if k == VacationKey("h2", "sender@example.net") || k == VacationKey("", "hsender@example.net") {
		t.Fatal("handle does not separate keys")
	}
}
