package folder

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"

	"github.com/storaged/storaged/internal/safefs"
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
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "m"), []byte("a\nb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := safefs.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenCanonical(d, "m", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err == nil {
		t.Fatal("second Close succeeded")
	}
	r1, _ := OpenCanonical(d, "m", 0)
	r2, _ := OpenCanonical(d, "m", 0)
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
	root := t.TempDir()
	p := filepath.Join(root, "m")
	if err := os.WriteFile(p, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := safefs.OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		size int64
		want string
	}{{0, "0123456789"}, {10, "0123456789"}, {4, "0123"}, {50, "0123456789"}} {
		f, err := OpenRaw(d, "m", c.size)
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
	if _, err := OpenRaw(d, "m-gone", 0); !errors.Is(err, ErrGone) {
		t.Errorf("missing file: %v", err)
	}
	// A link, to a file or through a directory, is no message file; nor,
	// where the kernel lets anyone link anything, is a file with another
	// link that is not the store owner's.
	outside := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(outside, []byte("secret"), 0o600)
	os.Symlink(outside, filepath.Join(root, "sym"))
	os.Symlink(filepath.Dir(outside), filepath.Join(root, "dir"))
	os.Link(outside, filepath.Join(root, "hard"))
	for _, name := range []string{"sym", "dir/secret"} {
		if _, err := OpenRaw(d, name, 0); !errors.Is(err, ErrGone) || !errors.Is(err, safefs.ErrLink) {
			t.Errorf("OpenRaw(%s): %v, want ErrGone and ErrLink", name, err)
		}
		if _, err := ReadStored(d, name); !errors.Is(err, ErrGone) {
			t.Errorf("ReadStored(%s): %v, want ErrGone", name, err)
		}
	}
	defer safefs.ForceCheckLinks(true)()
	if _, err := OpenRaw(d, "hard", 0); !errors.Is(err, ErrGone) || !errors.Is(err, safefs.ErrHardLinked) {
		t.Errorf("OpenRaw(hard), links checked: %v, want ErrGone and ErrHardLinked", err)
	}
	if f, err := OpenRaw(d, "m", 0); err != nil {
		t.Errorf("OpenRaw(m), links checked: %v", err)
	} else {
		f.Close()
	}
}
