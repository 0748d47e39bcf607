package folder

import (
	"bufio"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/storaged/storaged/internal/safefs"
	"github.com/storaged/storaged/message"
)

// WriteFileSynced creates name beneath d (it must not exist: O_EXCL, so
// a link planted there is never written through), writes data, sets its
// mtime to date when date is set (formats take arrival dates from it),
// and fsyncs it. On failure nothing is left behind.
//
// It works on the bare descriptor, as OpenRaw does on the read side: an
// os.File would add three fcntls (O_NONBLOCK set and cleared again, the
// poller's probe) and a finalizer to every delivery, and buys nothing
// for a regular file written once. A caller whose date is the arrival
// time passes the zero date: the kernel's mtime already is that, and the
// utimensat is saved.
func WriteFileSynced(d *safefs.Dir, name string, data []byte, date time.Time) error {
	_, err := writeSynced(d, name, date, true, func(fd int) (int64, error) {
		return int64(len(data)), writeAll(fd, data)
	})
	return err
}

// WriteFileUnsynced is WriteFileSynced without the fsync, for a caller
// whose FSGroup makes the file durable after its rename; it returns the
// CRC-32C of data, for the name that lets a torn file be told (FSSync).
func WriteFileUnsynced(d *safefs.Dir, name string, data []byte, date time.Time) (uint32, error) {
	_, err := writeSynced(d, name, date, false, func(fd int) (int64, error) {
		return int64(len(data)), writeAll(fd, data)
	})
	return Checksum(data), err
}

// WriteFileUnsyncedFrom is WriteFileSyncedFrom without the fsync (see
// WriteFileUnsynced): it returns the octets written and their CRC-32C.
func WriteFileUnsyncedFrom(d *safefs.Dir, name string, r io.Reader, date time.Time) (int64, uint32, error) {
	h := crc32.New(castagnoli)
	n, err := writeSynced(d, name, date, false, func(fd int) (int64, error) {
		buf := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(buf)
		return io.CopyBuffer(io.MultiWriter(fdWriter(fd), h), r, *buf)
	})
	return n, h.Sum32(), err
}

// castagnoli: CRC-32C, which the CPU computes (SSE 4.2): a 4 KB message
// costs a microsecond.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum is the CRC-32C that WriteFileUnsynced returns for data.
func Checksum(data []byte) uint32 { return crc32.Checksum(data, castagnoli) }

// NewChecksum returns a hash.Hash32 computing Checksum.
func NewChecksum() hash.Hash32 { return crc32.New(castagnoli) }

// WriteFileSyncedFrom is WriteFileSynced for a message that is not in
// memory: r is copied into the new file through one 64 KiB buffer, then
// the file is fsynced; it returns the octets written. On failure nothing
// is left behind.
func WriteFileSyncedFrom(d *safefs.Dir, name string, r io.Reader, date time.Time) (int64, error) {
	return writeSynced(d, name, date, true, func(fd int) (int64, error) {
		buf := copyBufs.Get().(*[]byte)
		defer copyBufs.Put(buf)
		return io.CopyBuffer(fdWriter(fd), r, *buf)
	})
}

// writeSynced creates name beneath d, lets write fill it, sets its mtime
// when date is set and fsyncs it when sync is set; on any failure it
// removes the file.
func writeSynced(d *safefs.Dir, name string, date time.Time, sync bool, write func(fd int) (int64, error)) (int64, error) {
	// O_EXCL: nothing can be there, so no FIFO to guard against with
	// O_NONBLOCK.
	fd, err := d.OpenFd(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", name, err)
	}
	n, err := write(fd)
	if err == nil && !date.IsZero() {
		err = futimens(fd, date)
	}
	if err == nil && sync {
		err = fsyncFd(fd)
	}
	if cerr := unix.Close(fd); err == nil && cerr != nil && cerr != unix.EINTR {
		err = cerr
	}
	if err != nil {
		d.Remove(name)
		return 0, fmt.Errorf("write %s: %w", name, err)
	}
	return n, nil
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// fdWriter writes to a bare descriptor (see WriteFileSynced).
type fdWriter int

func (w fdWriter) Write(p []byte) (int, error) {
	if err := writeAll(int(w), p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeAll writes data to fd whole (a regular file may take less than
// asked when the disk fills or a signal lands).
func writeAll(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		data = data[n:]
	}
	return nil
}

// futimens sets fd's access and modification times (utimensat with a
// NULL path: the descriptor itself).
func futimens(fd int, t time.Time) error {
	ts := [2]unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

func fsyncFd(fd int) error {
	for {
		if err := unix.Fsync(fd); err != unix.EINTR {
			return err
		}
	}
}

// Missing tells whether err says that a name in a store leads to no
// file the server will use: nothing there, a component that is a file,
// or a link (symbolic, or hard where the package safefs says so), or
// something other than a regular file. Formats turn it into ErrGone for
// a message and ErrNotFound for a mailbox.
func Missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, safefs.ErrLink) ||
		errors.Is(err, safefs.ErrNotRegular) || errors.Is(err, safefs.ErrHardLinked) || errors.Is(err, unix.ELOOP)
}

// OpenCanonical opens a message file stored with LF (or canonical) line
// ends and reads it in canonical form; see OpenRaw.
func OpenCanonical(d *safefs.Dir, name string, size int64) (io.ReadCloser, error) {
	f, err := OpenRaw(d, name, size)
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

// OpenRaw opens the message file name beneath d for reading: one
// openat2, no link followed (safefs), O_NONBLOCK so that a FIFO planted
// in its place reads as empty rather than blocking. Where the kernel
// does not protect hard links (safefs.CheckLinks) the file is also
// fstatted and refused when it is not regular or is linked from
// elsewhere. A name that leads to no such file is ErrGone. When size is
// positive it is taken as the file's length, which saves the read that
// would only report its end; only formats whose files are never written
// in place (Maildir) pass one. A shorter file ends early, as without it.
func OpenRaw(d *safefs.Dir, name string, size int64) (*RawFile, error) {
	fd, err := d.OpenFd(name, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		if Missing(err) {
			return nil, fmt.Errorf("%w: %w", ErrGone, err)
		}
		return nil, fmt.Errorf("open message %s: %w", name, err)
	}
	if safefs.CheckLinks() {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("open message %s: %w", name, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG || d.LinkedElsewhere(&st) {
			unix.Close(fd)
			return nil, fmt.Errorf("%w: %s: %w", ErrGone, name, safefs.ErrHardLinked)
		}
	}
	f := &RawFile{fd: fd, left: -1}
	if size > 0 {
		f.left = size
	}
	return f, nil
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
// as it was received (message.StoredForm), with OpenRaw's checks; a name
// that leads to no such file is ErrGone.
func ReadStored(d *safefs.Dir, name string) ([]byte, error) {
	f, err := OpenRaw(d, name, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
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
