package folder

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/storaged/storaged/message"
)

// WriteFileSynced creates path (it must not exist), writes data, sets
// its mtime to date when date is set (formats take arrival dates from
// it), and fsyncs it. On failure nothing is left behind.
func WriteFileSynced(path string, data []byte, date time.Time) error {
	fd, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	_, err = fd.Write(data)
	if err == nil && !date.IsZero() {
		err = os.Chtimes(path, date, date)
	}
	if err == nil {
		err = fd.Sync()
	}
	if cerr := fd.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// OpenCanonical opens a message file stored with LF (or canonical) line
// ends and reads it in canonical form; a missing file is ErrGone.
func OpenCanonical(path string) (io.ReadCloser, error) {
	fd, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrGone
		}
		return nil, fmt.Errorf("open message: %w", err)
	}
	return NewCanonicalFile(fd), nil
}

// ReadStored reads a message file stored with LF (or canonical) line ends
// as it was received (message.StoredForm); a missing file is ErrGone.
func ReadStored(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrGone
		}
		return nil, fmt.Errorf("read message: %w", err)
	}
	return message.StoredForm(b), nil
}

// NewCanonicalFile reads an open message file in canonical form; Close
// closes the file. The reader and its buffer are reused across messages:
// a FETCH or RETR of thousands of small messages would otherwise spend
// more time allocating and clearing 32 KiB buffers than reading files.
// Nothing may be read after Close.
func NewCanonicalFile(fd *os.File) io.ReadCloser {
	c, _ := canonicalPool.Get().(*canonicalFile)
	if c == nil {
		c = &canonicalFile{CRLFReader: message.NewCRLFReader(bufio.NewReaderSize(fd, 32<<10))}
	} else {
		c.Reset(fd)
	}
	c.f = fd
	return c
}

var canonicalPool sync.Pool

type canonicalFile struct {
	*message.CRLFReader
	f *os.File
}

func (c *canonicalFile) Close() error {
	if c.f == nil {
		return os.ErrClosed
	}
	err := c.f.Close()
	c.f = nil
	c.Reset(nil)
	canonicalPool.Put(c)
	return err
}

// LockFile takes an fcntl lock of type typ (unix.F_RDLCK or F_WRLCK) on
// the whole file, retrying until deadline, then ErrLocked. It is an
// open-file-description lock: it conflicts with the classic fcntl locks
// of mutt, nmh and Dovecot as those do with each other, and also between
// two descriptors of one process.
func LockFile(fd *os.File, typ int16, deadline time.Time) error {
	lk := unix.Flock_t{Type: typ, Whence: io.SeekStart}
	for {
		err := unix.FcntlFlock(fd.Fd(), unix.F_OFD_SETLK, &lk)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("lock %s: %w", fd.Name(), err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s", ErrLocked, fd.Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
