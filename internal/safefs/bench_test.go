package safefs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// The message read path opens one file per message: the resolution
// beneath the root (BenchmarkOpenFd) against the plain open of the
// absolute path it replaced (BenchmarkOpenPath), side by side.

func benchTree(b *testing.B) (root string, names []string) {
	root = filepath.Join(b.TempDir(), "mail", "user")
	dir := filepath.Join(root, ".Sent", "cur")
	os.MkdirAll(dir, 0o700)
	for i := 0; i < 1000; i++ {
		n := fmt.Sprintf("1700000000.M%dP1Q%dR0123456789abcdef.host,S=4000,W=4080:2,S", i, i)
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600)
		names = append(names, ".Sent/cur/"+n)
	}
	return root, names
}

func BenchmarkOpenFd(b *testing.B) {
	root, names := benchTree(b)
	d, err := OpenDir(root)
	if err != nil {
		b.Fatal(err)
	}
	benchOpen(b, d, names)
}

func benchOpen(b *testing.B, d *Dir, names []string) {
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fd, err := d.OpenFd(names[i%len(names)], unix.O_RDONLY|unix.O_NONBLOCK, 0)
		if err != nil {
			b.Fatal(err)
		}
		unix.Close(fd)
	}
}

func BenchmarkOpenFdWalk(b *testing.B) {
	defer ForceWalk()()
	BenchmarkOpenFd(b)
}

func BenchmarkOpenPath(b *testing.B) {
	root, names := benchTree(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fd, err := unix.Open(filepath.Join(root, names[i%len(names)]), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		unix.Close(fd)
	}
}

// Listing a folder: ReadDir (names and types) against Readdirnames.
func BenchmarkReadDir(b *testing.B) {
	root, _ := benchTree(b)
	d, _ := OpenDir(root)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if ents, err := d.ReadDir(".Sent/cur"); err != nil || len(ents) != 1000 {
			b.Fatal(len(ents), err)
		}
	}
}

func BenchmarkReaddirnames(b *testing.B) {
	root, _ := benchTree(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := os.Open(filepath.Join(root, ".Sent", "cur"))
		if err != nil {
			b.Fatal(err)
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil || len(names) != 1000 {
			b.Fatal(len(names), err)
		}
	}
}

// The same open under a user's credentials (run as root): what the
// switch to the owner and back (creds.go) adds to each path operation.
func BenchmarkOpenFdCreds(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	root, names := benchTree(b)
	if err := filepath.Walk(filepath.Dir(root), func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			err = os.Lchown(p, testUID, testGID)
		}
		return err
	}); err != nil {
		b.Fatal(err)
	}
	d, err := OpenDirOwned(root, &Owner{UID: testUID, GID: testGID})
	if err != nil {
		b.Fatal(err)
	}
	benchOpen(b, d, names)
}
