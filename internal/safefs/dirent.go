package safefs

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"io/fs"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Entry is one name in a directory and the type getdents reports for it
// (no stat).
type Entry struct {
	Name string
	typ  uint8
}

// IsRegular: a regular file. A link to one is not.
func (e Entry) IsRegular() bool { return e.typ == unix.DT_REG }

// IsDir: a directory. A link to one is not.
func (e Entry) IsDir() bool { return e.typ == unix.DT_DIR }

// Unknown: the file system reports no types (some do); Lstat tells.
func (e Entry) Unknown() bool { return e.typ == unix.DT_UNKNOWN }

// ReadDir lists the directory name ("" or "." for d itself), without
// "." and "..", in the order the file system gives.
func (d *Dir) ReadDir(name string) ([]Entry, error) {
	var fd int
	err := d.as(func() (err error) { fd, err = d.selfOr(name, unix.O_RDONLY|unix.O_DIRECTORY); return err })
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	ents, err := readDirFd(fd)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: d.Join(name), Err: err}
	}
	return ents, nil
}

var direntBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// readDirFd reads every entry of an open directory (linux_dirent64
// records: ino, off, reclen, type, name).
func readDirFd(fd int) ([]Entry, error) {
	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	buf := *bp
	var out []Entry
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return out, nil
		}
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				break
			}
			typ := b[18]
			name := b[19:reclen]
			if i := indexZero(name); i >= 0 {
				name = name[:i]
			}
			b = b[reclen:]
			if typ == unix.DT_LNK && followLinks.Load() {
				typ = unix.DT_UNKNOWN // what the link leads to, Lstat tells
			}
			if s := string(name); s != "." && s != ".." {
				out = append(out, Entry{Name: s, typ: typ})
			}
		}
	}
}

func indexZero(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// info is an fs.FileInfo from a stat.
type info struct {
	name string
	st   unix.Stat_t
}

func newInfo(name string, st *unix.Stat_t) *info {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return &info{name: name, st: *st}
}

func (i *info) Name() string       { return i.name }
func (i *info) Size() int64        { return i.st.Size }
func (i *info) ModTime() time.Time { return time.Unix(i.st.Mtim.Unix()) }
func (i *info) IsDir() bool        { return i.st.Mode&unix.S_IFMT == unix.S_IFDIR }
func (i *info) Sys() any           { return &i.st }
func (i *info) Mode() fs.FileMode {
	m := fs.FileMode(i.st.Mode & 0o777)
	switch i.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	}
	return m
}

// Stat is the system's stat of an fs.FileInfo this package returned
// (Lstat), or of an os.File's.
func Stat(fi fs.FileInfo) (*unix.Stat_t, bool) {
	switch s := fi.Sys().(type) {
	case *unix.Stat_t:
		return s, true
	}
	return nil, false
}

// futimens is utimensat(fd, NULL, ts, 0): the times of an open file.
func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// RandomName is 24 random hex digits, for names no one can guess.
func RandomName() string { return randomHex(12) }

// protectedHardlinks is fs.protected_hardlinks, read once.
var protectedHardlinks = sync.OnceValue(func() bool {
	b, err := os.ReadFile("/proc/sys/fs/protected_hardlinks")
	return err == nil && strings.TrimSpace(string(b)) == "1"
})

// forceCheck overrides the setting (tests).
var forceCheck atomic.Int32 // 0: the kernel's setting; 1: check; 2: do not

// LinksProtected reports whether the kernel refuses hard links to files
// the linker neither owns nor may read and write (fs.protected_hardlinks).
func LinksProtected() bool { return protectedHardlinks() }

// CheckLinks reports whether readers must check the link count of the
// files they open: when the kernel does not protect hard links.
func CheckLinks() bool {
	switch forceCheck.Load() {
	case 1:
		return true
	case 2:
		return false
	}
	return !protectedHardlinks()
}

// ForceCheckLinks makes CheckLinks report on, whatever the kernel's
// setting, until the returned function restores it: tests exercise the
// checks of an unprotected kernel with it.
func ForceCheckLinks(on bool) (restore func()) {
	v := int32(2)
	if on {
		v = 1
	}
	old := forceCheck.Swap(v)
	return func() { forceCheck.Store(old) }
}

// ForceWalk makes every resolution walk component by component with
// O_NOFOLLOW, as on a kernel without openat2, until the returned
// function restores it: tests cover the fallback with it.
func ForceWalk() (restore func()) {
	old := forceWalk.Swap(true)
	return func() { forceWalk.Store(old) }
}

// UnsafeFollowLinks makes every resolution follow symbolic links, as a
// plain openat does, until the returned function restores the rules. It
// exists for tests alone: they show with it that a link that slips past
// the rules still meets the kernel's permission checks under a Dir's
// credentials (creds.go). Nothing else may call it.
func UnsafeFollowLinks() (restore func()) {
	old := followLinks.Swap(true)
	return func() { followLinks.Store(old) }
}

// LinkedElsewhere tells whether a message file may not be read through
// this link (see the package doc): only when CheckLinks is on, for a file
// with more than one link that does not belong to the store's owner, or
// whose owner is root or this process's own uid. Root's and the process's
// uid own every store that has no uid of its own (a server run as root
// without per-user ids, or dropped to one server.user for all): there
// the owner does not tell whose file it is.
func (d *Dir) LinkedElsewhere(st *unix.Stat_t) bool {
	return st.Nlink > 1 && (st.Uid != d.uid || st.Uid == 0 || int(st.Uid) == os.Geteuid())
}
