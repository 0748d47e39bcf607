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
// ends and reads it in canonical form; a missing file is ErrGone. size is
// the file's length when known (the index has it), else 0; see OpenRaw.
func OpenCanonical(path string, size int64) (io.ReadCloser, error) {
	f, err := OpenRaw(path, size)
	if err != nil {
		return nil, err
	}
	return NewCanonicalFile(f), nil
}

// RawFile is a message file read with plain system calls. An os.File
// costs as much again as the open itself for a 4 KB message (poller
// registration, O_NONBLOCK, a finalizer), and a FETCH or RETR opens
// thousands of them one after the other.
type RawFile struct {
	fd   int
	left int64 // octets still to come when the size was known, else -1
}

// OpenRaw opens path for reading; a missing file is ErrGone. When size is
// positive it is taken as the file's length, which saves the read that
// would only report its end; only formats whose files are never written
// in place (Maildir) pass one. A shorter file ends early, as without it.
func OpenRaw(path string, size int64) (*RawFile, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil, ErrGone
			}
			return nil, fmt.Errorf("open message %s: %w", path, err)
		}
		f := &RawFile{fd: fd, left: -1}
		if size > 0 {
			f.left = size
		}
		return f, nil
	}
}

func (f *RawFile) Read(p []byte) (int, error) {
	if f.fd < 0 {
		return 0, os.ErrClosed
	}
	if f.left == 0 {
		return 0, io.EOF
	}
	if f.left > 0 && int64(len(p)) > f.left {
		p = p[:f.left]
	}
	for {
		n, err := unix.Read(f.fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read message: %w", err)
		}
		if n == 0 {
			return 0, io.EOF
		}
		if f.left > 0 {
			f.left -= int64(n)
		}
		return n, nil
	}
}

// Close releases the descriptor; a second Close is os.ErrClosed.
func (f *RawFile) Close() error {
	if f.fd < 0 {
		return os.ErrClosed
	}
	err := unix.Close(f.fd)
	f.fd = -1
	return err
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
func NewCanonicalFile(f io.ReadCloser) io.ReadCloser {
	c, _ := canonicalPool.Get().(*canonicalFile)
	if c == nil {
		c = &canonicalFile{CRLFReader: message.NewCRLFReader(bufio.NewReaderSize(f, 32<<10))}
	} else {
		c.Reset(f)
	}
	c.f = f
	return c
}

var canonicalPool sync.Pool

type canonicalFile struct {
	*message.CRLFReader
	f io.ReadCloser
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
