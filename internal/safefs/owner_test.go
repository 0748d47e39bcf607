package safefs

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// ids no account of the test host has: chown to them needs root only.
const testUID, testGID = 4242, 4343

func ownerOf(t *testing.T, p string) (int, int) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

// A Dir with an owner gives it every file and directory it makes, and
// nothing that was there before.
func TestOwnerCreates(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another uid needs root")
	}
	bothWays(t, func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "store")
		own := &Owner{UID: testUID, GID: testGID}
		if err := MkdirOwned(root, 0o700, own); err != nil {
			t.Fatal(err)
		}
		// What was there before is the user's (with another group):
		// run as root, a Dir with an owner works as that user, who can
		// use only what is theirs (creds.go).
		if err := os.WriteFile(filepath.Join(root, "old"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(root, "olddir"), 0o700); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"old", "olddir"} {
			if err := os.Chown(filepath.Join(root, n), testUID, 0); err != nil {
				t.Fatal(err)
			}
		}
		d, err := OpenDirOwned(root, own)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		f, err := d.Create("new", 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		f, tmp, err := d.CreateTemp("", "tmp-", 0o600)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := d.WriteFile("replaced", []byte("data"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := d.Mkdir("dir", 0o700); err != nil {
			t.Fatal(err)
		}
		if err := d.MkdirAll("olddir/a/b", 0o700); err != nil {
			t.Fatal(err)
		}
		// O_CREAT without O_EXCL (.mh_sequences): owned when made here,
		// left as it is when it was there.
		for _, n := range []string{"seq", "old"} {
			f, err := d.OpenFile(n, os.O_RDWR|os.O_CREATE, 0o600, Regular|Single)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
		fd, err := d.OpenFd("dir/raw", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		for _, n := range []string{".", "new", tmp, "replaced", "dir", "olddir/a", "olddir/a/b", "seq", "dir/raw"} {
			if u, g := ownerOf(t, filepath.Join(root, n)); u != testUID || g != testGID {
				t.Errorf("%s: owned by %d:%d, want %d:%d", n, u, g, testUID, testGID)
			}
		}
		for _, n := range []string{"old", "olddir"} {
			if u, g := ownerOf(t, filepath.Join(root, n)); u != testUID || g != 0 {
				t.Errorf("%s existed before and was given away (%d:%d)", n, u, g)
			}
		}
	})
}

// Without an owner (or with the process's own ids) nothing is chowned.
func TestNoOwner(t *testing.T) {
	root := t.TempDir()
	for _, own := range []*Owner{nil, {UID: os.Geteuid(), GID: os.Getegid()}, {UID: -1, GID: -1}} {
		d, err := OpenDirOwned(root, own)
		if err != nil {
			t.Fatal(err)
		}
		if d.own != nil {
			t.Errorf("owner %+v: the Dir would chown", own)
		}
		d.Close()
	}
}

// A link planted under the name of a directory being made is neither
// followed nor chowned: the target outside keeps its owner.
func TestOwnerNeverChownsThroughLinks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown to another uid needs root")
	}
	fx := newFixture(t)
	if err := os.Chown(fx.root, testUID, testGID); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDirOwned(fx.root, &Owner{UID: testUID, GID: testGID})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, n := range []string{"link", "dirlink", "dirlink/x", "sub/abs/x"} {
		d.MkdirAll(n, 0o700)
		d.Mkdir(n, 0o700)
		if f, err := d.OpenFile(n, os.O_RDWR|os.O_CREATE, 0o600, 0); err == nil {
			f.Close()
			t.Errorf("%s: opened through a link", n)
		}
	}
	for _, p := range []string{fx.out, fx.secret} {
		if u, _ := ownerOf(t, p); u != 0 {
			t.Errorf("%s given to uid %d through a link", p, u)
		}
	}
	fx.untouched(t)
}
