package mbox

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/storaged/storaged/folder"
)

// staleAfter is how old a dotlock of a program we cannot ask must be
// before it is broken (Dovecot breaks them after 10 minutes, procmail
// after 17; mail tools hold them for seconds).
const staleAfter = 5 * time.Minute

// lock is a folder's write lock: the dotlock <file>.lock (O_EXCL), then
// an fcntl lock on the file, the order mutt, procmail and Dovecot take
// them in.
type lock struct {
	dot     *os.File // the dotlock's inode
	dotPath string
	file    *os.File
}

// lockWrite takes the write lock, waiting up to wait. A dotlock left by a
// storaged that died is broken at once, and an append it left half done
// is cut off (see writeIntent).
func (f *Folder) lockWrite(wait time.Duration) (*lock, error) {
	if wait <= 0 {
		wait = DefaultLockWait
	}
	deadline := time.Now().Add(wait)
	dotPath := f.path + ".lock"
	for {
		dot, err := createDotlock(dotPath)
		if err == nil {
			file, err := os.OpenFile(f.path, os.O_RDWR, 0)
			if err != nil {
				dot.Close()
				os.Remove(dotPath)
				if errors.Is(err, fs.ErrNotExist) {
					return nil, fmt.Errorf("%w: %s", folder.ErrNotFound, f.path)
				}
				return nil, fmt.Errorf("mbox: %w", err)
			}
			if err := folder.LockFile(file, unix.F_WRLCK, deadline); err != nil {
				file.Close()
				dot.Close()
				os.Remove(dotPath)
				return nil, err
			}
			return &lock{dot: dot, dotPath: dotPath, file: file}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("mbox: dotlock: %w", err)
		}
		if f.breakStale(dotPath) {
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: %s", folder.ErrLocked, dotPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// createDotlock makes the dotlock with our pid already in it: written to
// a unique file first and linked into place (link fails if the lock
// exists, like O_EXCL), so that no one, after a crash at any moment, ever
// finds a lock without its owner's pid.
func createDotlock(dotPath string) (*os.File, error) {
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := fmt.Sprintf("%s.%d.%x", dotPath, os.Getpid(), rnd)
	fd, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if _, err := fmt.Fprintf(fd, "%d\n", os.Getpid()); err != nil {
		fd.Close()
		return nil, err
	}
	if err := os.Link(tmp, dotPath); err != nil {
		fd.Close()
		return nil, err
	}
	// fd now writes to the lock itself (same inode).
	return fd, nil
}

// writeIntent records in the dotlock, durably, the file's size before an
// append and after it: if we die in between, whoever breaks the lock
// cuts the file back to the first size unless it reached the second.
func (l *lock) writeIntent(before, after int64) error {
	if _, err := l.dot.WriteAt([]byte(fmt.Sprintf("%d %d %d\n", os.Getpid(), before, after)), 0); err != nil {
		return fmt.Errorf("mbox: dotlock: %w", err)
	}
	if err := l.dot.Sync(); err != nil {
		return fmt.Errorf("mbox: dotlock: %w", err)
	}
	return folder.SyncDir(filepath.Dir(l.dotPath))
}

func (l *lock) release() {
	os.Remove(l.dotPath)
	l.dot.Close()
	l.file.Close() // drops the fcntl lock
}

// breakStale removes a dotlock whose holder is gone: a process of this
// host that no longer runs, or a lock older than staleAfter. It reports
// whether it removed one.
func (f *Folder) breakStale(dotPath string) bool {
	st, err := os.Stat(dotPath)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	b, _ := os.ReadFile(dotPath)
	fields := strings.Fields(string(b))
	dead := false
	if len(fields) > 0 {
		if pid, err := strconv.Atoi(fields[0]); err == nil && pid > 0 {
			dead = errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
		}
	}
	if !dead && time.Since(st.ModTime()) < staleAfter {
		return false
	}
	if len(fields) == 3 {
		before, err1 := strconv.ParseInt(fields[1], 10, 64)
		after, err2 := strconv.ParseInt(fields[2], 10, 64)
		if err1 == nil && err2 == nil {
			if fi, err := os.Stat(f.path); err == nil && fi.Size() > before && fi.Size() < after {
				// A storaged died in the middle of an append that was
				// never acknowledged: the partial message goes.
				if err := os.Truncate(f.path, before); err != nil {
					return false
				}
				if fd, err := os.Open(f.path); err == nil {
					fd.Sync()
					fd.Close()
				}
			}
		}
	}
	os.Remove(dotPath)
	return true
}
