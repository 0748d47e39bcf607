package safefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Owner is who the files and directories made beneath a Dir belong to:
// the uid and gid of the passwd-file line of the store's user (Dovecot's
// per-user uid/gid fields, which override mail_uid/mail_gid), for a
// server that runs as root and writes into stores of several users. -1
// leaves that id as the kernel gives it (the process's).
//
// Rules:
//   - Only what this process creates is given away: a new file right
//     after its O_CREAT|O_EXCL open, on its descriptor, before a byte is
//     written; a new directory through a descriptor opened O_NOFOLLOW on
//     it, and only when it still belongs to the process (a directory the
//     user swapped in under that name between mkdir and open is theirs
//     already, and no link is ever followed to chown something else).
//   - Nothing that already exists is chowned: a store's old files keep
//     their owners.
//   - A failed chown is the create's failure (the new file is removed):
//     a file the user cannot read would be worse than no file.
type Owner struct {
	UID, GID int
}

// needed reports whether files this process makes need a chown to
// belong to o; nil (no owner) never does.
func (o *Owner) needed() bool {
	if o == nil {
		return false
	}
	return o.UID >= 0 && o.UID != os.Geteuid() || o.GID >= 0 && o.GID != os.Getegid()
}

// OpenDirOwned is OpenDir for a Dir whose new files and directories are
// given to owner (see Owner). A nil owner, or the process's own ids, is
// OpenDir.
func OpenDirOwned(path string, owner *Owner) (*Dir, error) {
	d, err := OpenDir(path)
	if err != nil {
		return nil, err
	}
	if owner.needed() {
		o := *owner
		d.own = &o
		d.cred = credsFor(&o)
		if d.cred != nil && int(d.uid) != o.UID {
			// Every operation would meet EACCES deep inside: say it
			// once, with what to do.
			d.Close()
			return nil, fmt.Errorf("%s belongs to uid %d, and its user's passwd line says uid %d: storaged works in a store as its user (chown -R %d:%d %s)",
				path, d.uid, o.UID, o.UID, d.cred.gid, path)
		}
	}
	return d, nil
}

// MkdirOwned makes the directory path, a trusted one (a store root in the
// server's data directory: its parent is the server's, so no one can
// swap a link in on the way), with any missing parents as the process's,
// and gives the last one to owner when it made it. An existing
// directory is no error and keeps its owner.
func MkdirOwned(path string, perm os.FileMode, owner *Owner) error {
	if err := os.MkdirAll(filepath.Dir(path), perm); err != nil {
		return err
	}
	err := os.Mkdir(path, perm)
	if errors.Is(err, fs.ErrExist) {
		if fi, serr := os.Stat(path); serr == nil && fi.IsDir() {
			return nil
		}
		return err
	}
	if err != nil || !owner.needed() {
		return err
	}
	if err := os.Lchown(path, owner.UID, owner.GID); err != nil {
		os.Remove(path)
		return fmt.Errorf("give %s to %d:%d: %w", path, owner.UID, owner.GID, err)
	}
	return nil
}

// ChownFile gives the regular file f (one this process has just made,
// outside any Dir: a journal in the server's state directory) to owner.
func ChownFile(f *os.File, owner *Owner) error {
	if !owner.needed() {
		return nil
	}
	if err := f.Chown(owner.UID, owner.GID); err != nil {
		return fmt.Errorf("give %s to %d:%d: %w", f.Name(), owner.UID, owner.GID, err)
	}
	return nil
}

// LchownNew gives path, a symbolic link (or file) this process has just
// made under a name no one else could have taken (a random temporary
// in the server's own directory), to owner; the link is not followed.
func LchownNew(path string, owner *Owner) error {
	if !owner.needed() {
		return nil
	}
	if err := os.Lchown(path, owner.UID, owner.GID); err != nil {
		return fmt.Errorf("give %s to %d:%d: %w", path, owner.UID, owner.GID, err)
	}
	return nil
}

// chownNew gives the file or directory just created on descriptor fd
// (any kind, O_PATH included) to d's owner.
func (d *Dir) chownNew(fd int, name string) error {
	if err := unix.Fchownat(fd, "", d.own.UID, d.own.GID, unix.AT_EMPTY_PATH); err != nil {
		return &fs.PathError{Op: "chown", Path: d.Join(name), Err: err}
	}
	return nil
}

// chownNewDir gives the directory base of dir, which this process has
// just made, to d's owner, if it is still a directory of the process's.
func (d *Dir) chownNewDir(dir int, base, name string) error {
	fd, err := retry(func() (int, error) {
		return unix.Openat(dir, base, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	})
	if err != nil {
		return &fs.PathError{Op: "chown", Path: d.Join(name), Err: linkOr(dir, base, err)}
	}
	defer unix.Close(fd)
	return d.chownIfOurs(fd, name)
}

// chownIfOurs chowns the directory on fd when the process owns it: one
// that is someone else's was not made here.
func (d *Dir) chownIfOurs(fd int, name string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &fs.PathError{Op: "stat", Path: d.Join(name), Err: err}
	}
	if int(st.Uid) != os.Geteuid() {
		return nil
	}
	return d.chownNew(fd, name)
}

// openOwned is open for a Dir with an owner and flags with O_CREAT: the
// file is given away only when this call made it, so an open without
// O_EXCL first tries to make it and, when it exists, opens it as it is.
func (d *Dir) openOwned(name string, flags int, mode uint32) (int, error) {
	excl := flags&unix.O_EXCL != 0
	for tries := 0; ; tries++ {
		fd, err := d.openName(name, flags|unix.O_EXCL, mode)
		if err == nil {
			if cerr := d.chownNew(fd, name); cerr != nil {
				unix.Close(fd)
				d.Remove(name)
				return -1, cerr
			}
			return fd, nil
		}
		if excl || !errors.Is(err, fs.ErrExist) {
			return -1, err
		}
		fd, err = d.openName(name, flags&^unix.O_CREAT, mode)
		if errors.Is(err, fs.ErrNotExist) && tries < 8 {
			continue // removed in between: make it after all
		}
		return fd, err
	}
}
