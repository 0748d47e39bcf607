package folder

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"
)

func TestMtimesSettled(t *testing.T) {
	dir := t.TempDir()
	old, fresh := filepath.Join(dir, "old"), filepath.Join(dir, "fresh")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-time.Minute)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	stat := func(p string) os.FileInfo {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi
	}
	oldTok := AppendMtime(nil, stat(old))
	mixed := AppendMtime(AppendMtime(nil, stat(old)), stat(fresh))
	for _, c := range []struct {
		name string
		tok  Token
		n    int
		want bool
	}{
		{"empty", nil, 1, false},
		{"old", oldTok, 1, true},
		{"old, asked for two", oldTok, 2, true},
		{"old then fresh", mixed, 2, false},
		{"only the first counts", mixed, 1, true},
		// A size after the mtime is not read as a time.
		{"size after mtime", AppendUint(AppendMtime(nil, stat(old)), 0), 1, true},
	} {
		if got := MtimesSettled(c.tok, c.n); got != c.want {
			t.Errorf("%s: MtimesSettled = %v, want %v", c.name, got, c.want)
		}
	}
}

// A pooled canonical reader closed twice must not be handed out twice.
func TestCanonicalFileCloseTwice(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m")
	if err := os.WriteFile(p, []byte("a\nb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := OpenCanonical(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err == nil {
		t.Fatal("second Close succeeded")
	}
	r1, _ := OpenCanonical(p, 0)
	r2, _ := OpenCanonical(p, 0)
	if r1 == r2 {
		t.Fatal("one pooled reader handed out twice")
	}
	for _, r := range []io.ReadCloser{r1, r2} {
		b, err := io.ReadAll(r)
		if err != nil || string(b) != "a\r\nb\r\n" {
			t.Fatalf("read %q, %v", b, err)
		}
		r.Close()
	}
}

// RawFile with a known size reads exactly that far; without one, to the
// end; a shorter file ends early; a missing one is ErrGone.
func TestRawFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m")
	if err := os.WriteFile(p, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		size int64
		want string
	}{{0, "0123456789"}, {10, "0123456789"}, {4, "0123"}, {50, "0123456789"}} {
		f, err := OpenRaw(p, c.size)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(iotest.OneByteReader(f))
		if err != nil || string(got) != c.want {
			t.Errorf("size %d: %q, %v; want %q", c.size, got, err, c.want)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("second Close: %v", err)
		}
		if _, err := f.Read(make([]byte, 1)); !errors.Is(err, os.ErrClosed) {
			t.Errorf("Read after Close: %v", err)
		}
	}
	if _, err := OpenRaw(p+"-gone", 0); !errors.Is(err, ErrGone) {
		t.Errorf("missing file: %v", err)
	}
}
