package safefs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzResolve: whatever name a client or a store's contents make up, a
// name CheckPath accepts is clean and relative, and no operation through
// it reaches the file outside the root, by either resolution.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"file", "sub/file", "link", "dirlink/secret", "sub/abs/secret", "../out/secret",
		"sub/../link", "/etc/passwd", "a//b", "sub/./file", "hard", "x\x00y", ".", "..", "sub/", "%2e%2e/out"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := CheckPath(name)
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("CheckPath(%q) = %v", name, err)
			}
			return
		}
		if filepath.IsAbs(name) || filepath.Clean(name) != name || strings.IndexByte(name, 0) >= 0 {
			t.Fatalf("CheckPath accepted %q", name)
		}
		for _, c := range strings.Split(name, "/") {
			if c == ".." || c == "." || c == "" {
				t.Fatalf("CheckPath accepted %q", name)
			}
		}
		fx := fuzzFixture(t)
		secret := outsideIno(t, fx.secret)
		check := func(walk bool) {
			if walk {
				defer ForceWalk()()
			}
			fd, err := fx.d.OpenFd(name, unix.O_RDONLY|unix.O_NONBLOCK, 0)
			if err == nil {
				var st unix.Stat_t
				unix.Fstat(fd, &st)
				unix.Close(fd)
				if st.Ino == secret && name != "hard" {
					t.Fatalf("%q (walk %v) opened the file outside the root", name, walk)
				}
			}
			fx.d.WriteFile(name, []byte("x"), 0o600)
			fx.d.MkdirAll(name+"/d", 0o700)
			fx.d.Remove(name)
			fx.d.RemoveAll(name)
			if b, err := os.ReadFile(fx.secret); err != nil || string(b) != "SECRET" {
				t.Fatalf("%q (walk %v): outside file now %q, %v", name, walk, b, err)
			}
			if ents, _ := os.ReadDir(fx.out); len(ents) != 1 {
				t.Fatalf("%q (walk %v): outside directory changed", name, walk)
			}
		}
		check(false)
		check(true)
	})
}

func fuzzFixture(t *testing.T) *fixture { return newFixture(t) }
