package mbox

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/safefs"
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
	f      *Folder
	dot    *os.File // the dotlock's inode, as we created it
	dotRel string
	token  string // ours alone, in the dotlock and in the journal
	file   *os.File
}

// lockWrite takes the write lock, waiting up to the store's LockWait
// (then ErrLocked). A dotlock left by a process that is gone is broken
// (see breakStale); an append a storaged recorded in its journal under
// that very lock and did not finish is cut off then.
func (f *Folder) lockWrite() (*lock, error) {
	deadline := time.Now().Add(f.st.lockWait())
	dotRel := f.rel + ".lock"
	for {
		dot, token, err := f.createDotlock(dotRel)
		if err == nil {
			l := &lock{f: f, dot: dot, dotRel: dotRel, token: token}
			file, err := f.st.dir.OpenFile(f.rel, os.O_RDWR, 0, safefs.Regular|safefs.Single)
			if err != nil {
				l.release()
				if folder.Missing(err) {
					return nil, fmt.Errorf("%w: %s: %w", folder.ErrNotFound, f.rel, err)
				}
				return nil, fmt.Errorf("mbox: %w", err)
			}
			if err := folder.LockFile(file, unix.F_WRLCK, deadline); err != nil {
				file.Close()
				l.release()
				return nil, err
			}
			l.file = file
			return l, nil
		}
		if folder.Missing(err) {
			// The directory is gone, or is a link now.
			return nil, fmt.Errorf("%w: %s: %w", folder.ErrNotFound, f.rel, err)
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("mbox: dotlock: %w", err)
		}
		if f.breakStale(dotRel) {
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: %s", folder.ErrLocked, f.st.dir.Join(dotRel))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// createDotlock makes the dotlock with our pid and a token no one else
// has already in it: written to a new file of random name first and
// linked into place (link fails if the lock exists, like O_EXCL; neither
// follows a link), so that no one, after a crash at any moment, ever
// finds a lock without its owner's pid.
func (f *Folder) createDotlock(dotRel string) (*os.File, string, error) {
	d := f.st.dir
	token := safefs.RandomName()
	fd, tmp, err := d.CreateTemp(parentOf(dotRel), baseOf(dotRel)+".", 0o600)
	if err != nil {
		return nil, "", err
	}
	defer d.Remove(tmp)
	if _, err := fmt.Fprintf(fd, "%d %s\n", os.Getpid(), token); err != nil {
		fd.Close()
		return nil, "", err
	}
	if err := d.Link(tmp, dotRel); err != nil {
		fd.Close()
		return nil, "", err
	}
	// fd now reads the lock itself (same inode).
	return fd, token, nil
}

func baseOf(rel string) string { return rel[strings.LastIndexByte(rel, '/')+1:] }

// writeIntent records, durably and where the user cannot write (the
// store's StateDir), the file's size before an append and after it,
// which we measured under this lock, with the lock's token; and makes
// the lock with that token durable. If we die in between, whoever breaks
// this lock finds the token in the journal and cuts the file back to the
// first size unless it reached the second. Without a StateDir nothing is
// recorded and nothing will be cut.
func (l *lock) writeIntent(before, after int64) error {
	if l.f.st.StateDir == "" {
		return nil
	}
	if err := l.f.journal().record(intent{token: l.token, ino: inodeOf(l.file), before: before, after: after}); err != nil {
		return err
	}
	if err := l.dot.Sync(); err != nil {
		return fmt.Errorf("mbox: dotlock: %w", err)
	}
	return l.f.st.dir.SyncDir(parentOf(l.dotRel))
}

// doneIntent says the append is whole: the journal no longer names the
// lock, so not even a lock that carried its token could cut the file.
func (l *lock) doneIntent() {
	if l.f.st.StateDir != "" {
		l.f.journal().clear()
	}
}

// release removes the dotlock if it is still ours (one broken as stale
// meanwhile and taken by another is theirs), then drops the fcntl lock.
func (l *lock) release() {
	if cur, err := l.f.st.dir.Lstat(l.dotRel); err == nil && sameInode(cur, l.dot) {
		l.f.st.dir.Remove(l.dotRel)
	}
	l.dot.Close()
	if l.file != nil {
		l.file.Close() // drops the fcntl lock
	}
}

// sameInode tells whether fi (an Lstat) describes the open file fd.
func sameInode(fi fs.FileInfo, fd *os.File) bool {
	st, err := fd.Stat()
	return err == nil && sameFile(fi, st)
}

// sameFile compares device and inode of two descriptions, ours
// (safefs.Lstat) or os's.
func sameFile(a, b fs.FileInfo) bool {
	da, ia := devIno(a)
	db, ib := devIno(b)
	return ia != 0 && ia == ib && da == db
}

func devIno(fi fs.FileInfo) (uint64, uint64) {
	switch s := fi.Sys().(type) {
	case *syscall.Stat_t:
		return uint64(s.Dev), s.Ino
	case *unix.Stat_t:
		return uint64(s.Dev), s.Ino
	}
	return 0, 0
}

func inodeOf(fd *os.File) uint64 {
	st, err := fd.Stat()
	if err != nil {
		return 0
	}
	return inodeOfInfo(st)
}

func inodeOfInfo(fi fs.FileInfo) uint64 {
	_, ino := devIno(fi)
	return ino
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

// maxLockContent is what is read of a dotlock: a pid and our token.
const maxLockContent = 256

// breakStale removes a dotlock whose holder is gone: a process of this
// host that no longer runs (or an earlier run of this one), or a lock
// older than staleAfter; a link or anything else that is not a file
// there is judged by its age alone, never followed. It reports whether
// the lock is gone.
//
// What a lock says is never a reason to cut a mailbox: only when its
// token is the one our journal recorded for an append in flight (a
// storaged, this process or an earlier one, died holding it) is that
// append, from the sizes we measured, cut off, before the lock goes.
//
// Breakers of one folder take turns (breakMu), and act only on the lock
// they judged: otherwise a reader that judged a dead lock could, after a
// writer broke it and took its own, cut off the writer's append.
func (f *Folder) breakStale(dotRel string) bool {
	f.breakMu.Lock()
	defer f.breakMu.Unlock()
	d := f.st.dir
	fi, err := d.Lstat(dotRel)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	var fields []string
	if fi.Mode().IsRegular() {
		if dot, err := d.OpenFile(dotRel, os.O_RDONLY, 0, safefs.Regular); err == nil {
			b, _ := io.ReadAll(io.LimitReader(dot, maxLockContent))
			dot.Close()
			fields = strings.Fields(string(b))
		}
	}
	if !lockIsStale(fields, fi.ModTime()) {
		return false
	}
	still := func() bool {
		cur, err := d.Lstat(dotRel)
		return err == nil && sameFile(cur, fi)
	}
	if !still() {
		return true // broken by someone else meanwhile: try again
	}
	if len(fields) >= 2 && f.st.StateDir != "" {
		if in, ok := f.journal().read(); ok && in.token == fields[1] {
			if err := f.cutTorn(in); err != nil {
				return false
			}
			f.journal().clear()
		}
	}
	if still() {
		d.Remove(dotRel)
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

// cutTorn cuts off the half append a dead storaged recorded in its
// journal as going from size before to size after of the file it had
// open, under the fcntl write lock. It leaves the file alone when it is
// another file now (mutt's rewrite renames a new one into place), when
// the append is whole, when the file is no longer that long, and when
// another program appended after the torn record (neomutt takes no
// dotlock): that message is worth more than a clean tail, and the torn
// one then reads as a message.
func (f *Folder) cutTorn(in intent) error {
	fd, err := f.st.dir.OpenFile(f.rel, os.O_RDWR, 0, safefs.Regular|safefs.Single)
	if err != nil {
		if folder.Missing(err) {
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
	if inodeOfInfo(st) != in.ino || st.Size() <= in.before || st.Size() >= in.after {
		return nil
	}
	tail := make([]byte, st.Size()-in.before)
	if _, err := fd.ReadAt(tail, in.before); err != nil {
		return err
	}
	if appendedAfter(tail) {
		return nil
	}
	if err := fd.Truncate(in.before); err != nil {
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
