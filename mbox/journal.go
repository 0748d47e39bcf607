package mbox

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/storaged/storaged/folder"
)

// The journal is where an append records what it is about to do, so that
// after a crash the next process can cut off what it left half written,
// without ever trusting what is in the user's store for it: it lives in
// the store's StateDir (the user's index directory), one small file per
// folder, "v1 TOKEN INODE BEFORE AFTER\n": the token of the dotlock the
// append holds, the inode of the file it writes, and the sizes before and
// after it, all measured by us under that lock. An empty file records
// nothing.
//
// A lock is ours when it carries the token the journal names: a lock a
// user or another program forged, replayed or left, whatever pid and
// sizes it holds, is never a reason to truncate a mailbox.

// intent is one append in flight.
type intent struct {
	token         string
	ino           uint64
	before, after int64
}

type journal struct{ path string }

// journal is the folder's journal file in the StateDir.
func (f *Folder) journal() journal {
	sum := sha256.Sum256([]byte(f.st.root + "\x00" + f.rel))
	return journal{path: filepath.Join(f.st.StateDir, "mbox-"+hex.EncodeToString(sum[:8])+".intent")}
}

// record writes in durably, replacing what the journal said.
func (j journal) record(in intent) error {
	line := fmt.Sprintf("v1 %s %d %d %d\n", in.token, in.ino, in.before, in.after)
	created := false
	fd, err := os.OpenFile(j.path, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(j.path), 0o700); err == nil {
			fd, err = os.OpenFile(j.path, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		}
	}
	if err == nil {
		created = true
	} else if errors.Is(err, fs.ErrExist) {
		fd, err = os.OpenFile(j.path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	}
	if err != nil {
		return fmt.Errorf("mbox: journal: %w", err)
	}
	defer fd.Close()
	if _, err := fd.WriteAt([]byte(line), 0); err != nil {
		return fmt.Errorf("mbox: journal: %w", err)
	}
	if err := fd.Truncate(int64(len(line))); err != nil {
		return fmt.Errorf("mbox: journal: %w", err)
	}
	if err := syscall.Fdatasync(int(fd.Fd())); err != nil {
		return fmt.Errorf("mbox: journal: %w", err)
	}
	if created {
		return folder.SyncDir(filepath.Dir(j.path))
	}
	return nil
}

// read returns the append in flight the journal records, if any.
func (j journal) read() (intent, bool) {
	fd, err := os.OpenFile(j.path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return intent{}, false
	}
	defer fd.Close()
	b, _ := io.ReadAll(io.LimitReader(fd, 256))
	f := strings.Fields(string(b))
	if len(f) != 5 || f[0] != "v1" || f[1] == "" {
		return intent{}, false
	}
	ino, err1 := strconv.ParseUint(f[2], 10, 64)
	before, err2 := strconv.ParseInt(f[3], 10, 64)
	after, err3 := strconv.ParseInt(f[4], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || before < 0 || after <= before {
		return intent{}, false
	}
	return intent{token: f[1], ino: ino, before: before, after: after}, true
}

// clear says no append is in flight. It is not fsynced: should a crash
// undo it, the token it names was in a lock that is gone with its append
// whole, and no lock of ours carries it again.
func (j journal) clear() {
	if fd, err := os.OpenFile(j.path, os.O_WRONLY|syscall.O_NOFOLLOW, 0); err == nil {
		fd.Truncate(0)
		fd.Close()
	}
}
