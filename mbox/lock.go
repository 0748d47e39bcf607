package mbox

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
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

// ErrLocked is what a lock another program holds too long comes back
// as. It is folder.ErrLocked itself, named here so that callers of this
// package alone can test for it; the delivery layer maps it to a
// temporary failure (LMTP 451 4.2.0), IMAP to NO [INUSE].
var ErrLocked = folder.ErrLocked

// replacedHold is how long a rewrite keeps the fcntl lock of the file it
// replaced. mutt opens a mailbox before it locks it, and never looks
// again at the name: one that opened the old file while we rewrote would,
// once our lock went, append to a file no name leads to, and the message
// would be lost. Held, the lock makes mutt give up instead (after five
// tries a second apart) and report the failure. Programs that take the
// dotlock first (procmail, Dovecot, us) open the new file.
const replacedHold = 30 * time.Second

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

// lockWrite takes the write lock, waiting up to the store's LockWait
// (then ErrLocked). A dotlock left by a
// storaged that died is broken at once, and an append it left half done
// is cut off (see writeIntent).
func (f *Folder) lockWrite() (*lock, error) {
	deadline := time.Now().Add(f.st.lockWait())
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
	if l.file != nil {
		l.file.Close() // drops the fcntl lock
	}
}

// holdReplaced keeps the lock of the file a rewrite just replaced for
// replacedHold, then lets it go; see replacedHold.
func (l *lock) holdReplaced() {
	old := l.file
	l.file = nil
	time.AfterFunc(replacedHold, func() { old.Close() })
}

// processStart tells a dotlock of this process from one an earlier
// process with the same pid left: in a container storaged comes back
// after a crash as the same pid, often 1. Set once, never changed.
var processStart = time.Now()

// breakStale removes a dotlock whose holder is gone: a process of this
// host that no longer runs (or an earlier run of this one), or a lock
// older than staleAfter. A half append the dead holder recorded in it is
// cut off first. It reports whether the lock is gone.
//
// Breakers of one folder take turns (breakMu), and act only on the lock
// they judged: otherwise a reader that judged a dead lock could, after a
// writer broke it and took its own, cut off the writer's append.
func (f *Folder) breakStale(dotPath string) bool {
	f.breakMu.Lock()
	defer f.breakMu.Unlock()
	dot, err := os.Open(dotPath)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	defer dot.Close()
	st, err := dot.Stat()
	if err != nil {
		return false
	}
	b, _ := io.ReadAll(io.LimitReader(dot, 256))
	fields := strings.Fields(string(b))
	if !lockIsStale(fields, st.ModTime()) {
		return false
	}
	still := func() bool {
		cur, err := os.Stat(dotPath)
		return err == nil && os.SameFile(cur, st)
	}
	if !still() {
		return true // broken by someone else meanwhile: try again
	}
	if len(fields) == 3 {
		before, err1 := strconv.ParseInt(fields[1], 10, 64)
		after, err2 := strconv.ParseInt(fields[2], 10, 64)
		if err1 == nil && err2 == nil && before >= 0 {
			if err := f.cutTorn(before, after); err != nil {
				return false
			}
		}
	}
	if still() {
		os.Remove(dotPath)
	}
	return true
}

// lockIsStale judges a dotlock by its content (a pid first, as every
// program writes it) and its mtime.
func lockIsStale(fields []string, mtime time.Time) bool {
	if len(fields) > 0 {
		if pid, err := strconv.Atoi(fields[0]); err == nil && pid > 0 {
			if pid == os.Getpid() && mtime.Before(processStart) {
				return true
			}
			if pid != os.Getpid() && errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
				return true
			}
		}
	}
	return time.Since(mtime) >= staleAfter
}

// cutTorn cuts off the half append a dead storaged recorded as going
// from size before to size after, under the fcntl write lock. It leaves
// the file alone when the append is whole, when the file is no longer
// that long, and when another program appended after the torn record
// (neomutt takes no dotlock): that message is worth more than a clean
// tail, and the torn one then reads as a message.
func (f *Folder) cutTorn(before, after int64) error {
	fd, err := os.OpenFile(f.path, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	defer fd.Close()
	if err := folder.LockFile(fd, unix.F_WRLCK, time.Now().Add(f.st.lockWait())); err != nil {
		return err
	}
	st, err := fd.Stat()
	if err != nil {
		return err
	}
	if st.Size() <= before || st.Size() >= after {
		return nil
	}
	tail := make([]byte, st.Size()-before)
	if _, err := fd.ReadAt(tail, before); err != nil {
		return err
	}
	if appendedAfter(tail) {
		return nil
	}
	if err := fd.Truncate(before); err != nil {
		return err
	}
	return fd.Sync()
}

// appendedAfter tells whether the tail of a file from where a torn
// append began holds the start of another message after the torn one: a
// From_ line after a blank line. Ours never hold one (their From lines
// are quoted), so one there was written by someone else.
func appendedAfter(tail []byte) bool {
	first := bytes.Index(tail, []byte("From "))
	if first < 0 {
		return false
	}
	_, ok := lastRecordStart(tail[first+1:], false)
	return ok
}
