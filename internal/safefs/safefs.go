package safefs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Errors beside the system's own (which Is fs.ErrNotExist, fs.ErrExist …).
var (
	// ErrLink: a component of the name is a symbolic link (or the name
	// would lead out of the directory): it is not followed.
	ErrLink = errors.New("symbolic link in a store path, not followed")
	// ErrBadPath: the name is not one CheckPath accepts.
	ErrBadPath = errors.New("not a clean relative path")
	// ErrNotRegular: a file was expected and something else is there.
	ErrNotRegular = errors.New("not a regular file")
	// ErrHardLinked: the file has other hard links, and the caller may
	// not use it through this one (see the package doc).
	ErrHardLinked = errors.New("file has other hard links")
)

// Limits of a name, Linux's: PATH_MAX with its NUL, NAME_MAX.
const (
	maxPath = 4095
	maxName = 255
)

// CheckPath accepts a relative name: components separated by single
// '/', none empty, ".", ".." or longer than 255 octets, no NUL, at most
// 4095 octets in all. Every method checks its names with it first.
func CheckPath(name string) error {
	if name == "" || len(name) > maxPath {
		return fmt.Errorf("%w: %q", ErrBadPath, name)
	}
	for rest := name; ; {
		comp, more, ok := strings.Cut(rest, "/")
		if comp == "" || comp == "." || comp == ".." || len(comp) > maxName || strings.IndexByte(comp, 0) >= 0 {
			return fmt.Errorf("%w: %q", ErrBadPath, name)
		}
		if !ok {
			return nil
		}
		rest = more
	}
}

// Dir is an open directory; names are resolved beneath it. It is safe
// for concurrent use. The descriptor is closed by Close, or when the Dir
// is no longer reachable.
type Dir struct {
	fd      int
	path    string
	uid     uint32
	own     *Owner // who new files and directories are given to (OpenDirOwned)
	cred    *creds // what path operations run as (creds.go); nil: the process's
	cleanup runtime.Cleanup
	closed  atomic.Bool
}

// OpenDir opens the directory at path, which is trusted as it is
// (symbolic links in it are followed: it is the administrator's).
func OpenDir(path string) (*Dir, error) {
	fd, err := retry(func() (int, error) { return unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0) })
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	d := &Dir{fd: fd, path: path, uid: st.Uid}
	d.cleanup = runtime.AddCleanup(d, func(fd int) { unix.Close(fd) }, fd)
	return d, nil
}

// Path is where the Dir was opened, for messages and for callers that
// hand a path to another program.
func (d *Dir) Path() string { return d.path }

// Join is the path of a name beneath the Dir, for messages.
func (d *Dir) Join(name string) string {
	if name == "" || name == "." {
		return d.path
	}
	return d.path + "/" + name
}

// Owner is the uid that owned the directory when it was opened.
func (d *Dir) Owner() uint32 { return d.uid }

// Close closes the descriptor; later calls fail.
func (d *Dir) Close() error {
	if d.closed.Swap(true) {
		return os.ErrClosed
	}
	d.cleanup.Stop()
	return unix.Close(d.fd)
}

func retry(f func() (int, error)) (int, error) {
	for {
		fd, err := f()
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// openat2 is unknown until the first call; kernels before 5.6 (and some
// seccomp filters) answer ENOSYS, and then every call walks.
var (
	noOpenat2 atomic.Bool
	probe     sync.Once
)

// followLinks turns the resolution rules off (UnsafeFollowLinks).
var followLinks atomic.Bool

// noFollow is O_NOFOLLOW, unless a test turned the rules off.
func noFollow() int {
	if followLinks.Load() {
		return 0
	}
	return unix.O_NOFOLLOW
}

// forceWalk makes every resolution walk component by component, as on a
// kernel without openat2; tests use it to cover the fallback.
var forceWalk atomic.Bool

func useOpenat2() bool {
	probe.Do(func() {
		how := unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS}
		fd, err := unix.Openat2(unix.AT_FDCWD, "/", &how)
		if err != nil {
			noOpenat2.Store(true)
			return
		}
		unix.Close(fd)
	})
	return !noOpenat2.Load() && !forceWalk.Load()
}

const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// open resolves name beneath d and opens it with flags (O_CLOEXEC and,
// for the last component, O_NOFOLLOW are added). The name is checked.
// A file it creates in a Dir with an owner is given to the owner.
func (d *Dir) open(name string, flags int, mode uint32) (int, error) {
	if d.own != nil && d.cred == nil && flags&unix.O_CREAT != 0 {
		return d.openOwned(name, flags, mode)
	}
	return d.openName(name, flags, mode)
}

func (d *Dir) openName(name string, flags int, mode uint32) (int, error) {
	if err := CheckPath(name); err != nil {
		return -1, err
	}
	fd, err := d.openChecked(name, flags, mode)
	runtime.KeepAlive(d)
	return fd, err
}

func (d *Dir) openChecked(name string, flags int, mode uint32) (int, error) {
	if d.closed.Load() {
		return -1, os.ErrClosed
	}
	if followLinks.Load() {
		fd, err := retry(func() (int, error) { return unix.Openat(d.fd, name, flags|unix.O_CLOEXEC, mode) })
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return fd, nil
	}
	if useOpenat2() {
		how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolveFlags}
		if flags&(unix.O_CREAT|unix.O_TMPFILE) != 0 {
			how.Mode = uint64(mode)
		}
		if flags&unix.O_PATH == 0 {
			// Without O_PATH the last component is not followed either
			// (RESOLVE_NO_SYMLINKS already says so; O_NOFOLLOW makes
			// the error ELOOP whatever the other flags).
			how.Flags |= unix.O_NOFOLLOW
		}
		for tries := 0; ; tries++ {
			fd, err := unix.Openat2(d.fd, name, &how)
			switch {
			case err == nil:
				return fd, nil
			case err == unix.EINTR || (err == unix.EAGAIN && tries < 16):
				// EAGAIN: a rename raced the resolution; try again.
				continue
			case err == unix.ENOSYS:
				noOpenat2.Store(true)
				return d.walk(name, flags, mode)
			case err == unix.ELOOP || err == unix.EXDEV:
				return -1, &fs.PathError{Op: "open", Path: name, Err: ErrLink}
			case err == unix.ENOTDIR && flags&unix.O_DIRECTORY != 0:
				// O_DIRECTORY|O_NOFOLLOW on a link says ENOTDIR: ask
				// again without them, which says ELOOP for a link.
				probe := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: resolveFlags}
				if pfd, perr := unix.Openat2(d.fd, name, &probe); perr == unix.ELOOP {
					err = ErrLink
				} else if perr == nil {
					unix.Close(pfd)
				}
			}
			return -1, &fs.PathError{Op: "open", Path: name, Err: err}
		}
	}
	return d.walk(name, flags, mode)
}

// walk is open without openat2: each directory component opened with
// O_NOFOLLOW from the one before, the last one with O_NOFOLLOW too.
func (d *Dir) walk(name string, flags int, mode uint32) (int, error) {
	dir := d.fd
	release := func() {
		if dir != d.fd {
			unix.Close(dir)
		}
	}
	rest := name
	for {
		comp, more, ok := strings.Cut(rest, "/")
		if !ok {
			break
		}
		next, err := retry(func() (int, error) {
			return unix.Openat(dir, comp, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		})
		if err != nil {
			err = linkOr(dir, comp, err)
			release()
			return -1, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		release()
		dir, rest = next, more
	}
	fd, err := retry(func() (int, error) { return unix.Openat(dir, rest, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode) })
	if err != nil {
		err = linkOr(dir, rest, err)
		release()
		return -1, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if flags&unix.O_PATH != 0 {
		// O_PATH|O_NOFOLLOW opens a link itself rather than failing.
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			unix.Close(fd)
			release()
			return -1, &fs.PathError{Op: "open", Path: name, Err: ErrLink}
		}
	}
	release()
	return fd, nil
}

// linkOr tells a refused link (ELOOP, or ENOTDIR for a link to a
// directory opened with O_DIRECTORY) from other errors.
func linkOr(dir int, comp string, err error) error {
	if err == unix.ELOOP {
		return ErrLink
	}
	if err == unix.ENOTDIR {
		var st unix.Stat_t
		if unix.Fstatat(dir, comp, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return ErrLink
		}
	}
	return err
}

// at resolves the directory that holds name: d itself for a name of one
// component, else its parent opened O_PATH beneath d. done releases it.
func (d *Dir) at(name string) (dir int, base string, done func(), err error) {
	if err := CheckPath(name); err != nil {
		return -1, "", nil, err
	}
	if d.closed.Load() {
		return -1, "", nil, os.ErrClosed
	}
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return d.fd, name, func() { runtime.KeepAlive(d) }, nil
	}
	fd, err := d.openChecked(name[:i], unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, "", nil, err
	}
	return fd, name[i+1:], func() { unix.Close(fd); runtime.KeepAlive(d) }, nil
}

// selfOr opens d itself for "." or "", else name beneath it.
func (d *Dir) selfOr(name string, flags int) (int, error) {
	if name == "" || name == "." {
		if d.closed.Load() {
			return -1, os.ErrClosed
		}
		fd, err := retry(func() (int, error) { return unix.Openat(d.fd, ".", flags|unix.O_CLOEXEC, 0) })
		runtime.KeepAlive(d)
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: d.path, Err: err}
		}
		return fd, nil
	}
	return d.open(name, flags, 0)
}

// Checks OpenFile makes of the file it opened.
type Check int

const (
	// Regular refuses anything but a regular file (ErrNotRegular).
	Regular Check = 1 << iota
	// Single refuses a file with more than one link (ErrHardLinked):
	// for writing in place.
	Single
)

// OpenFd opens name beneath d (see the package doc) and returns the bare
// descriptor: the read path of message files, which an os.File would
// make twice as dear.
func (d *Dir) OpenFd(name string, flags int, perm uint32) (fd int, err error) {
	err = d.as(func() error { fd, err = d.open(name, flags, perm); return err })
	return fd, err
}

// OpenFile opens name beneath d. Reads open with O_NONBLOCK (a FIFO
// never blocks; it is cleared again on a regular file), and the checks
// asked for are made on the descriptor itself.
func (d *Dir) OpenFile(name string, flags int, perm os.FileMode, check Check) (*os.File, error) {
	nb := flags&unix.O_NONBLOCK == 0
	var fd int
	err := d.as(func() (err error) { fd, err = d.open(name, flags|unix.O_NONBLOCK, uint32(perm.Perm())); return err })
	if err != nil {
		return nil, err
	}
	if check != 0 {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
		}
		if check&Regular != 0 && st.Mode&unix.S_IFMT != unix.S_IFREG {
			unix.Close(fd)
			return nil, &fs.PathError{Op: "open", Path: name, Err: ErrNotRegular}
		}
		if check&Single != 0 && st.Nlink > 1 {
			unix.Close(fd)
			return nil, &fs.PathError{Op: "open", Path: name, Err: ErrHardLinked}
		}
	}
	if nb {
		unix.SetNonblock(fd, false)
	}
	return os.NewFile(uintptr(fd), d.Join(name)), nil
}

// Create makes name, which must not exist (O_EXCL: a link there is not
// followed but an error that Is fs.ErrExist), opened for writing.
func (d *Dir) Create(name string, perm os.FileMode) (*os.File, error) {
	return d.OpenFile(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, perm, 0)
}

// CreateTemp makes a new file in the directory dir ("" or "." for d
// itself) named prefix and 24 random hex digits, opened for reading and
// writing, and returns it with its name relative to d.
func (d *Dir) CreateTemp(dir, prefix string, perm os.FileMode) (*os.File, string, error) {
	for tries := 0; ; tries++ {
		name := prefix + randomHex(12)
		if dir != "" && dir != "." {
			name = dir + "/" + name
		}
		f, err := d.OpenFile(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, perm, 0)
		if errors.Is(err, fs.ErrExist) && tries < 8 {
			continue
		}
		return f, name, err
	}
}

// ReadFile reads a regular file whole; limit > 0 bounds what is read
// (a longer file is an error).
func (d *Dir) ReadFile(name string, limit int64) ([]byte, error) {
	f, err := d.OpenFile(name, unix.O_RDONLY, 0, Regular)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if limit > 0 && st.Size() > limit {
		return nil, fmt.Errorf("%s: larger than %d octets", d.Join(name), limit)
	}
	b := make([]byte, 0, st.Size()+1)
	for {
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
		if limit > 0 && int64(len(b)) > limit {
			return nil, fmt.Errorf("%s: larger than %d octets", d.Join(name), limit)
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// WriteFile replaces name with a new file holding data: a temporary file
// beside it (CreateTemp), fsynced, renamed over the name. What was at the
// name, a link included, is replaced, never written through. The
// directory is not fsynced: callers that need the rename durable do it.
func (d *Dir) WriteFile(name string, data []byte, perm os.FileMode) error {
	dir, base := "", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		dir, base = name[:i], name[i+1:]
	}
	f, tmp, err := d.CreateTemp(dir, "."+base+".tmp-", perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.Rename(tmp, name)
	}
	if err != nil {
		d.Remove(tmp)
		return err
	}
	return nil
}

// Mkdir makes the directory name; its parent must exist.
func (d *Dir) Mkdir(name string, perm os.FileMode) error {
	return d.as(func() error { return d.mkdir(name, perm) })
}

func (d *Dir) mkdir(name string, perm os.FileMode) error {
	dir, base, done, err := d.at(name)
	if err != nil {
		return err
	}
	defer done()
	if err := unix.Mkdirat(dir, base, uint32(perm.Perm())); err != nil {
		return &fs.PathError{Op: "mkdir", Path: name, Err: err}
	}
	if d.own != nil && d.cred == nil {
		return d.chownNewDir(dir, base, name)
	}
	return nil
}

// MkdirAll makes name and any missing parents; a component that is a
// link is ErrLink, one that is a file ENOTDIR.
func (d *Dir) MkdirAll(name string, perm os.FileMode) error {
	return d.as(func() error { return d.mkdirAll(name, perm) })
}

func (d *Dir) mkdirAll(name string, perm os.FileMode) error {
	if err := CheckPath(name); err != nil {
		return err
	}
	if d.closed.Load() {
		return os.ErrClosed
	}
	defer runtime.KeepAlive(d)
	dir := d.fd
	defer func() {
		if dir != d.fd {
			unix.Close(dir)
		}
	}()
	for rest := name; rest != ""; {
		comp, more, _ := strings.Cut(rest, "/")
		err := unix.Mkdirat(dir, comp, uint32(perm.Perm()))
		if err != nil && err != unix.EEXIST {
			return &fs.PathError{Op: "mkdir", Path: name, Err: err}
		}
		made := err == nil
		next, err := retry(func() (int, error) {
			return unix.Openat(dir, comp, unix.O_PATH|unix.O_DIRECTORY|noFollow()|unix.O_CLOEXEC, 0)
		})
		if err != nil {
			return &fs.PathError{Op: "mkdir", Path: name, Err: linkOr(dir, comp, err)}
		}
		if made && d.own != nil && d.cred == nil {
			if err := d.chownIfOurs(next, name); err != nil {
				unix.Close(next)
				return err
			}
		}
		if dir != d.fd {
			unix.Close(dir)
		}
		dir, rest = next, more
	}
	return nil
}

// Remove unlinks the file (or link) name.
func (d *Dir) Remove(name string) error {
	return d.as(func() error { return d.remove(name) })
}

func (d *Dir) remove(name string) error {
	dir, base, done, err := d.at(name)
	if err != nil {
		return err
	}
	defer done()
	if err := unix.Unlinkat(dir, base, 0); err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	return nil
}

// RemoveDir removes the empty directory name.
func (d *Dir) RemoveDir(name string) error {
	return d.as(func() error { return d.removeDir(name) })
}

func (d *Dir) removeDir(name string) error {
	dir, base, done, err := d.at(name)
	if err != nil {
		return err
	}
	defer done()
	if err := unix.Unlinkat(dir, base, unix.AT_REMOVEDIR); err != nil {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	return nil
}

// RemoveAll removes name and, if it is a directory, everything in it,
// never leaving it through a link (a link is removed, not followed). A
// name that does not exist is no error.
func (d *Dir) RemoveAll(name string) error {
	return d.as(func() error { return d.removeAll(name) })
}

func (d *Dir) removeAll(name string) error {
	dir, base, done, err := d.at(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer done()
	if err := removeAllAt(dir, base); err != nil && err != unix.ENOENT {
		return &fs.PathError{Op: "remove", Path: name, Err: err}
	}
	return nil
}

func removeAllAt(dir int, name string) error {
	err := unix.Unlinkat(dir, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	fd, err := retry(func() (int, error) {
		return unix.Openat(dir, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return err
	}
	ents, err := readDirFd(fd)
	if err == nil {
		for _, e := range ents {
			if err = removeAllAt(fd, e.Name); err != nil {
				break
			}
		}
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	return unix.Unlinkat(dir, name, unix.AT_REMOVEDIR)
}

// Rename moves from to to, replacing what is at to (a link there is
// replaced, not followed).
func (d *Dir) Rename(from, to string) error {
	return d.rename(from, to, 0)
}

// RenameNoReplace moves from to to, failing (fs.ErrExist) when to
// exists: a clash would silently destroy what is there.
func (d *Dir) RenameNoReplace(from, to string) error {
	return d.rename(from, to, unix.RENAME_NOREPLACE)
}

func (d *Dir) rename(from, to string, flags uint) error {
	return d.as(func() error { return d.renameAs(from, to, flags) })
}

func (d *Dir) renameAs(from, to string, flags uint) error {
	fdir, fbase, fdone, err := d.at(from)
	if err != nil {
		return err
	}
	defer fdone()
	tdir, tbase, tdone, err := d.at(to)
	if err != nil {
		return err
	}
	defer tdone()
	err = unix.Renameat2(fdir, fbase, tdir, tbase, flags)
	if flags&unix.RENAME_NOREPLACE != 0 && (err == unix.ENOSYS || err == unix.EINVAL) {
		// A file system without renameat2 flags: link never replaces.
		if err = unix.Linkat(fdir, fbase, tdir, tbase, 0); err == nil {
			err = unix.Unlinkat(fdir, fbase, 0)
		}
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}

// Link makes to a new name of the file from (not of a link's target),
// failing when to exists.
func (d *Dir) Link(from, to string) error {
	return d.as(func() error { return d.link(from, to) })
}

func (d *Dir) link(from, to string) error {
	fdir, fbase, fdone, err := d.at(from)
	if err != nil {
		return err
	}
	defer fdone()
	tdir, tbase, tdone, err := d.at(to)
	if err != nil {
		return err
	}
	defer tdone()
	if err := unix.Linkat(fdir, fbase, tdir, tbase, 0); err != nil {
		return &os.LinkError{Op: "link", Old: from, New: to, Err: err}
	}
	return nil
}

// Lstat describes name itself (a link is described, not followed); the
// directories on the way are resolved beneath d without links.
func (d *Dir) Lstat(name string) (fi fs.FileInfo, err error) {
	err = d.as(func() error { fi, err = d.lstat(name); return err })
	return fi, err
}

func (d *Dir) lstat(name string) (fs.FileInfo, error) {
	if name == "" || name == "." {
		var st unix.Stat_t
		err := unix.Fstat(d.fd, &st)
		runtime.KeepAlive(d)
		if err != nil {
			return nil, &fs.PathError{Op: "stat", Path: d.path, Err: err}
		}
		return newInfo(".", &st), nil
	}
	dir, base, done, err := d.at(name)
	if err != nil {
		return nil, err
	}
	defer done()
	var st unix.Stat_t
	flags := unix.AT_SYMLINK_NOFOLLOW
	if followLinks.Load() {
		flags = 0
	}
	if err := unix.Fstatat(dir, base, &st, flags); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return newInfo(base, &st), nil
}

// IsDir tells whether name is a directory (not a link to one).
func (d *Dir) IsDir(name string) bool {
	fi, err := d.Lstat(name)
	return err == nil && fi.IsDir()
}

// IsRegular tells whether name is a regular file (not a link to one).
func (d *Dir) IsRegular(name string) bool {
	fi, err := d.Lstat(name)
	return err == nil && fi.Mode().IsRegular()
}

// SyncDir fsyncs the directory name ("" or "." for d itself), so that
// entries created, renamed or removed in it survive a crash.
func (d *Dir) SyncDir(name string) error {
	var fd int
	err := d.as(func() (err error) { fd, err = d.selfOr(name, unix.O_RDONLY|unix.O_DIRECTORY); return err })
	if err != nil {
		return err
	}
	err = unix.Fsync(fd)
	unix.Close(fd)
	if err != nil {
		return &fs.PathError{Op: "fsync", Path: d.Join(name), Err: err}
	}
	return nil
}

// Chtimes sets the access and modification times of an open file to t.
func Chtimes(f *os.File, atime, mtime int64) error {
	ts := [2]unix.Timespec{unix.NsecToTimespec(atime), unix.NsecToTimespec(mtime)}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = futimens(int(fd), &ts) }); err != nil {
		return err
	}
	if serr != nil {
		return &fs.PathError{Op: "chtimes", Path: f.Name(), Err: serr}
	}
	return nil
}
