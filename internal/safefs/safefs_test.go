package safefs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// fixture is a store root beside a directory it must never reach:
//
//	out/secret             "SECRET"
//	root/file              "inside"
//	root/sub/file          "deeper"
//	root/link     -> ../out/secret
//	root/dirlink  -> ../out
//	root/sub/abs  -> <abs>/out
//	root/hard     hard link of out/secret
type fixture struct {
	root, out string
	secret    string
	d         *Dir
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	base := t.TempDir()
	fx := &fixture{root: filepath.Join(base, "root"), out: filepath.Join(base, "out")}
	fx.secret = filepath.Join(fx.out, "secret")
	for _, d := range []string{fx.out, filepath.Join(fx.root, "sub")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(fx.secret, "SECRET")
	write(filepath.Join(fx.root, "file"), "inside")
	write(filepath.Join(fx.root, "sub", "file"), "deeper")
	for link, target := range map[string]string{
		"link": "../out/secret", "dirlink": "../out", "sub/abs": fx.out,
	} {
		if err := os.Symlink(target, filepath.Join(fx.root, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Link(fx.secret, filepath.Join(fx.root, "hard")); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDir(fx.root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	fx.d = d
	return fx
}

// untouched fails the test if anything outside the root changed.
func (fx *fixture) untouched(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(fx.secret)
	if err != nil || string(b) != "SECRET" {
		t.Fatalf("outside file now %q, %v", b, err)
	}
	ents, _ := os.ReadDir(fx.out)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("outside directory now holds %v", names)
	}
}

// bothWays runs a test with openat2 and with the component walk.
func bothWays(t *testing.T, fn func(t *testing.T)) {
	t.Run("openat2", func(t *testing.T) {
		if !useOpenat2() {
			t.Skip("kernel without openat2")
		}
		fn(t)
	})
	t.Run("walk", func(t *testing.T) {
		defer ForceWalk()()
		fn(t)
	})
}

func TestCheckPath(t *testing.T) {
	good := []string{"a", "cur/1.M2P3.host,S=4:2,S", ".Sent/new/x", "..deleted-1/f", "a..b", "...", strings.Repeat("n", 255)}
	bad := []string{"", "/", "/etc/passwd", "a/", "a//b", ".", "..", "../x", "a/../b", "a/./b", "a/..", "./a",
		"a\x00b", strings.Repeat("n", 256), strings.Repeat("a/", 2048) + "a"}
	for _, p := range good {
		if err := CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range bad {
		if err := CheckPath(p); !errors.Is(err, ErrBadPath) {
			t.Errorf("CheckPath(%q) = %v, want ErrBadPath", p, err)
		}
	}
}

func TestNoLinkFollowed(t *testing.T) {
	bothWays(t, func(t *testing.T) {
		fx := newFixture(t)
		d := fx.d
		isLink := func(op string, err error) {
			t.Helper()
			if !errors.Is(err, ErrLink) {
				t.Errorf("%s: %v, want ErrLink", op, err)
			}
		}
		_, err := d.OpenFd("link", unix.O_RDONLY, 0)
		isLink("open link", err)
		_, err = d.OpenFd("dirlink/secret", unix.O_RDONLY, 0)
		isLink("open through dirlink", err)
		_, err = d.OpenFd("sub/abs/secret", unix.O_RDONLY, 0)
		isLink("open through absolute link", err)
		_, err = d.OpenFile("link", unix.O_WRONLY|unix.O_TRUNC, 0, 0)
		isLink("truncate link", err)
		_, err = d.OpenFile("link", unix.O_WRONLY|unix.O_CREAT, 0o600, 0)
		isLink("create over link", err)
		if _, err := d.Create("link", 0o600); !errors.Is(err, fs.ErrExist) {
			t.Errorf("O_EXCL create of a link: %v, want ErrExist", err)
		}
		_, err = d.Create("dirlink/new", 0o600)
		isLink("create through dirlink", err)
		_, _, err = d.CreateTemp("dirlink", "x", 0o600)
		isLink("temp through dirlink", err)
		_, err = d.ReadFile("link", 0)
		isLink("read link", err)
		_, err = d.ReadDir("dirlink")
		isLink("readdir dirlink", err)
		isLink("mkdir through dirlink", d.Mkdir("dirlink/x", 0o700))
		isLink("mkdirall through dirlink", d.MkdirAll("dirlink/x/y", 0o700))
		isLink("mkdirall through abs link", d.MkdirAll("sub/abs/y", 0o700))
		isLink("remove through dirlink", d.Remove("dirlink/secret"))
		isLink("rename from dirlink", d.Rename("dirlink/secret", "stolen"))
		isLink("rename into dirlink", d.Rename("file", "dirlink/planted"))
		isLink("link into dirlink", d.Link("file", "dirlink/planted"))
		isLink("write through dirlink", d.WriteFile("dirlink/secret", []byte("x"), 0o600))
		isLink("sync dirlink", d.SyncDir("dirlink"))
		_, err = d.Lstat("dirlink/secret")
		isLink("stat through dirlink", err)
		fx.untouched(t)

		// The link itself is there to be seen, replaced and removed.
		if fi, err := d.Lstat("link"); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			t.Errorf("Lstat(link) = %v, %v", fi, err)
		}
		if err := d.WriteFile("link", []byte("ours"), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := d.ReadFile("link", 0); err != nil || string(b) != "ours" {
			t.Errorf("replaced link reads %q, %v", b, err)
		}
		if err := d.RemoveAll("dirlink"); err != nil {
			t.Fatal(err)
		}
		fx.untouched(t)
	})
}

func TestHardLinks(t *testing.T) {
	fx := newFixture(t)
	if _, err := fx.d.OpenFile("hard", unix.O_RDWR, 0, Regular|Single); !errors.Is(err, ErrHardLinked) {
		t.Errorf("open hard link for writing in place: %v, want ErrHardLinked", err)
	}
	if err := fx.d.WriteFile("hard", []byte("replaced"), 0o600); err != nil {
		t.Fatal(err)
	}
	fx.untouched(t)
	if b, _ := fx.d.ReadFile("hard", 0); string(b) != "replaced" {
		t.Errorf("hard now %q", b)
	}
	var st unix.Stat_t
	if err := unix.Stat(fx.secret, &st); err != nil || st.Nlink != 1 {
		t.Errorf("secret links %d, %v", st.Nlink, err)
	}
	if !fx.d.LinkedElsewhere(&unix.Stat_t{Nlink: 2, Uid: 0}) || fx.d.LinkedElsewhere(&unix.Stat_t{Nlink: 1}) {
		t.Error("LinkedElsewhere")
	}
	// The process's own uid owns every store of a server dropped to one
	// server.user: it tells nothing about whose file it is.
	if !fx.d.LinkedElsewhere(&unix.Stat_t{Nlink: 2, Uid: uint32(os.Geteuid())}) {
		t.Error("LinkedElsewhere: a file of the process's own uid with two links")
	}
	restore := ForceCheckLinks(true)
	if !CheckLinks() {
		t.Error("ForceCheckLinks(true) ignored")
	}
	restore()
	if CheckLinks() == LinksProtected() {
		t.Error("CheckLinks does not follow the kernel's setting")
	}
}

func TestFIFONeverBlocks(t *testing.T) {
	fx := newFixture(t)
	if err := unix.Mkfifo(filepath.Join(fx.root, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.d.ReadFile("fifo", 0); !errors.Is(err, ErrNotRegular) {
		t.Errorf("read fifo: %v, want ErrNotRegular", err)
	}
	fd, err := fx.d.OpenFd("fifo", unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
}

func TestOperations(t *testing.T) {
	bothWays(t, func(t *testing.T) {
		fx := newFixture(t)
		d := fx.d
		if err := d.MkdirAll("a/b/c", 0o700); err != nil {
			t.Fatal(err)
		}
		if err := d.MkdirAll("a/b/c", 0o700); err != nil {
			t.Fatalf("MkdirAll again: %v", err)
		}
		f, name, err := d.CreateTemp("a/b", ".tmp-", 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("hello")
		f.Close()
		if !strings.HasPrefix(name, "a/b/.tmp-") || len(name) != len("a/b/.tmp-")+24 {
			t.Errorf("temp name %q", name)
		}
		if err := d.RenameNoReplace(name, "a/b/c/msg"); err != nil {
			t.Fatal(err)
		}
		if err := d.Link("a/b/c/msg", "a/msg"); err != nil {
			t.Fatal(err)
		}
		if err := d.RenameNoReplace("a/msg", "a/b/c/msg"); !errors.Is(err, fs.ErrExist) {
			t.Errorf("RenameNoReplace over a file: %v", err)
		}
		if b, err := d.ReadFile("a/b/c/msg", 0); err != nil || string(b) != "hello" {
			t.Errorf("read %q, %v", b, err)
		}
		if _, err := d.ReadFile("a/b/c/msg", 3); err == nil {
			t.Error("limit ignored")
		}
		ents, err := d.ReadDir("a")
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]string{}
		for _, e := range ents {
			switch {
			case e.IsDir():
				kinds[e.Name] = "dir"
			case e.IsRegular():
				kinds[e.Name] = "file"
			}
		}
		if kinds["b"] != "dir" || kinds["msg"] != "file" || len(kinds) != 2 {
			t.Errorf("ReadDir(a) = %v", kinds)
		}
		root, err := d.ReadDir(".")
		if err != nil || len(root) != 6 {
			t.Errorf("ReadDir(.) = %d entries, %v", len(root), err)
		}
		for _, s := range []string{"", "a", "a/b/c"} {
			if err := d.SyncDir(s); err != nil {
				t.Errorf("SyncDir(%q): %v", s, err)
			}
		}
		if fi, err := d.Lstat("a/b/c/msg"); err != nil || fi.Size() != 5 || !fi.Mode().IsRegular() || fi.Name() != "msg" {
			t.Errorf("Lstat = %v, %v", fi, err)
		}
		if err := d.Remove("a/msg"); err != nil {
			t.Fatal(err)
		}
		if err := d.RemoveAll("a"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(fx.root, "a")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a still there: %v", err)
		}
		if err := d.RemoveAll("a"); err != nil {
			t.Errorf("RemoveAll of nothing: %v", err)
		}
		fx.untouched(t)
	})
}

// TestRemoveAllKeepsLinkTargets: a link inside a removed tree goes, what
// it points at stays.
func TestRemoveAllKeepsLinkTargets(t *testing.T) {
	fx := newFixture(t)
	if err := os.MkdirAll(filepath.Join(fx.root, "trash", "deep"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.Symlink(fx.out, filepath.Join(fx.root, "trash", "deep", "out"))
	os.Symlink(fx.secret, filepath.Join(fx.root, "trash", "s"))
	if err := fx.d.RemoveAll("trash"); err != nil {
		t.Fatal(err)
	}
	fx.untouched(t)
}

func TestChtimes(t *testing.T) {
	fx := newFixture(t)
	f, err := fx.d.Create("dated", 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const when = 1700000000_123456789
	if err := Chtimes(f, when, when); err != nil {
		t.Fatal(err)
	}
	fi, _ := fx.d.Lstat("dated")
	if fi.ModTime().UnixNano() != when {
		t.Errorf("mtime %v", fi.ModTime())
	}
}

func TestClosed(t *testing.T) {
	fx := newFixture(t)
	fx.d.Close()
	if _, err := fx.d.OpenFd("file", unix.O_RDONLY, 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("open after Close: %v", err)
	}
	if err := fx.d.Close(); !errors.Is(err, os.ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
}

// outsideIno is the inode a resolution must never reach.
func outsideIno(t testing.TB, p string) uint64 {
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}
