package rawlog

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func only(t *testing.T, dir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.in"))
	if err != nil || len(m) != 1 {
		t.Fatalf("traces in %s: %v %v", dir, m, err)
	}
	return strings.TrimSuffix(m[0], ".in")
}

// Attach records what the reader holds already (read ahead with the
// login, consumed after it), then what it reads; not what the writer
// held (the login's answer).
func TestAttachHeldOctets(t *testing.T) {
	dir := t.TempDir()
	tr := New(dir, []string{"ann"}).Start("imap", "s1", "ann", quiet)
	if tr == nil {
		t.Fatal("no trace for a listed user")
	}
	src := strings.NewReader("a1 LOGIN ann pw\r\na2 NOOP\r\na3 LOGOUT\r\n")
	br := bufio.NewReaderSize(src, 16)
	var wire bytes.Buffer
	bw := bufio.NewWriter(&wire)
	br.ReadString('\n') // the login, before the trace
	bw.WriteString("a1 OK logged in\r\n")
	tr.Attach(br, src, bw, &wire)
	rest, _ := io.ReadAll(br)
	bw.WriteString("a2 OK\r\n")
	bw.Flush()
	tr.Close()
	base := only(t, filepath.Join(dir, "ann"))
	if got, want := read(t, base+".in"), "a2 NOOP\r\na3 LOGOUT\r\n"; got != want || string(rest) != want {
		t.Errorf(".in %q, session read %q, want %q", got, rest, want)
	}
	if got := read(t, base+".out"); got != "a2 OK\r\n" {
		t.Errorf(".out %q", got)
	}
	if wire.String() != "a1 OK logged in\r\na2 OK\r\n" {
		t.Errorf("the session's own output changed: %q", wire.String())
	}
}

// Unread takes octets out of .in whether run has written them yet or
// not: many rounds, so both orders happen.
func TestUnread(t *testing.T) {
	dir := t.TempDir()
	tr := New(dir, []string{"ann"}).Start("pop3", "s2", "ann", quiet)
	var want strings.Builder
	for i := 0; i < 500; i++ {
		tr.record(in, []byte("kept "))
		tr.record(in, []byte("dropped"))
		tr.Unread(len("dropped"))
		want.WriteString("kept ")
	}
	tr.Close()
	if got := read(t, only(t, filepath.Join(dir, "ann"))+".in"); got != want.String() {
		t.Errorf(".in holds %d octets, want %d: %.80q", len(got), want.Len(), got)
	}
}

// An unlisted user, or a nil Tracer, gets no trace and no directory;
// a nil Trace's methods do nothing.
func TestNotListed(t *testing.T) {
	dir := t.TempDir()
	if tr := New(dir, []string{"ann"}).Start("imap", "s3", "bob", quiet); tr != nil {
		t.Fatal("bob traced")
	}
	var none *Tracer
	if none.Start("imap", "s3", "ann", quiet) != nil {
		t.Fatal("nil Tracer traced")
	}
	var tr *Trace
	r := strings.NewReader("x")
	if tr.In(r) != io.Reader(r) {
		t.Error("nil Trace wraps the reader")
	}
	tr.Unread(3)
	tr.Close()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("made %v", ents)
	}
}

// A symbolic link planted as the user's directory is not followed: no
// trace, nothing written where it points.
func TestLinkNotFollowed(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(dir, "ann")); err != nil {
		t.Fatal(err)
	}
	if tr := New(dir, []string{"ann"}).Start("imap", "s4", "ann", quiet); tr != nil {
		tr.Close()
		t.Fatal("trace started through a link")
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("wrote through the link: %v", ents)
	}
}

// A session that logs in again within the same second (after
// UNAUTHENTICATE) gets a second pair of files, not an error.
func TestSameSecond(t *testing.T) {
	dir := t.TempDir()
	tl := New(dir, []string{"ann"})
	a := tl.Start("imap", "s5", "ann", quiet)
	b := tl.Start("imap", "s5", "ann", quiet)
	if a == nil || b == nil {
		t.Fatal("second trace not started")
	}
	a.Close()
	b.Close()
	if m, _ := filepath.Glob(filepath.Join(dir, "ann", "*")); len(m) != 4 {
		t.Errorf("files %v", m)
	}
	tl.SetUsers(nil)
	if tl.Traced("ann") {
		t.Error("SetUsers(nil) left ann listed")
	}
}

// A session that outruns the disk stops its trace, never waits for it.
func TestOverflowStops(t *testing.T) {
	dir := t.TempDir()
	tr := New(dir, []string{"ann"}).Start("imap", "s6", "ann", quiet)
	tr.record(out, make([]byte, maxQueued+1))
	tr.record(out, []byte("after"))
	tr.Close()
	if got := read(t, only(t, filepath.Join(dir, "ann"))+".out"); got != "" {
		t.Errorf(".out holds %d octets after the trace stopped", len(got))
	}
}
