// Package spool holds one received message while it is delivered: in
// memory when it is small, else in a file, written once while the
// message is read, in canonical form (message.Canonical: every LF not
// after a CR becomes CRLF). Every recipient's store then reads that one
// copy: memory per delivery is a buffer, not the message.
//
// Invariants:
//   - The bytes a Message holds are message.Canonical of what was
//     written, in memory or in the file alike; Size, the LF count and the
//     last "\r\r\n" describe them, so a store knows the size of every
//     form (canonical, LF) before it writes a byte.
//   - A spool file is created O_EXCL, mode 0600, under a random name in
//     the spool directory, and unlinked at once: no name is left behind,
//     not by a failed transaction nor by a crash; the data lives as long
//     as the descriptor, which Close (at the end of the LMTP transaction)
//     releases.
//   - Nothing is read from a Message but with ReadAt (SectionReaders):
//     the deliveries of one transaction, one goroutine per user, read it
//     at once and share no offset.
//   - A spool is never fsynced: it is not the copy an LMTP 250 speaks
//     of; a crash loses it with the unanswered transaction, and the
//     client sends again.
//   - A Message in memory gives its buffer back to a pool at Close, for
//     the next message to be written into: nothing may keep what Bytes
//     (or Content.Pieces) returned past Close. Its owner (the LMTP
//     transaction) closes it only after every delivery returned; a store
//     reads the memory while it appends (parse, Content.AppendStored into
//     a buffer of its own), and keeps none of it after.
package spool

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
)

// DefaultThreshold is the size (canonical octets) up to which a message
// stays in memory. Most mail is far smaller (a few KB to a few hundred),
// and for it a file would cost a create, an unlink and a read per
// recipient for nothing; above it, 20 concurrent deliveries of 40 MB
// held 912 MB. 1 MiB is also sieve's default body test budget, so a
// message in memory never holds more than the body test could read.
const DefaultThreshold = 1 << 20

// Message is one message in canonical form, in memory or in an unlinked
// file. It is safe for concurrent reads; Close ends it.
type Message struct {
	mem  []byte   // the canonical octets, when not spooled
	f    *os.File // the spool, unlinked; nil when in memory
	size int64    // canonical octets
	lfs  int64    // line feeds, each after a CR (canonical)
	// lastLossy is the offset of the last "\r\r\n", which the LF form
	// cannot keep (message.StorageLF); -1 when there is none.
	lastLossy int64
	last      byte // the final octet (0 when empty)
}

// Size is the message's canonical size in octets.
func (m *Message) Size() int64 { return m.size }

// Spooled tells whether the message is in a file.
func (m *Message) Spooled() bool { return m.f != nil }

// Bytes returns the canonical octets of a message in memory; nil for a
// spooled one.
func (m *Message) Bytes() []byte { return m.mem }

// NewReader reads the canonical octets from off on.
func (m *Message) NewReader(off int64) io.Reader {
	off = min(max(off, 0), m.size)
	if m.f == nil {
		return bytes.NewReader(m.mem[off:])
	}
	return io.NewSectionReader(m.f, off, m.size-off)
}

// Close releases the spool file, or gives the memory back for the next
// message to reuse; the message must not be read after, and neither may
// what Bytes returned.
func (m *Message) Close() error {
	if m.f == nil {
		putMem(m.mem)
		m.mem = nil
		return nil
	}
	err := m.f.Close()
	m.f = nil
	m.mem = nil
	return err
}

// lfsBefore counts the line feeds in [0, off).
func (m *Message) lfsBefore(off int64) (int64, error) {
	if off <= 0 {
		return 0, nil
	}
	if m.f == nil {
		return int64(bytes.Count(m.mem[:off], []byte{'\n'})), nil
	}
	buf := getBuf()
	defer putBuf(buf)
	var n int64
	r := io.NewSectionReader(m.f, 0, off)
	for {
		k, err := r.Read(*buf)
		n += int64(bytes.Count((*buf)[:k], []byte{'\n'}))
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("spool: read: %w", err)
		}
	}
}

// FromBytes is a message in memory, made canonical; b is not kept.
func FromBytes(b []byte) *Message {
	w := NewWriter("", math.MaxInt64)
	w.Write(b)
	m, _ := w.Finish()
	return m
}

// Writer takes a message's octets as they arrive and keeps their
// canonical form: in memory up to its threshold, then in a spool file.
type Writer struct {
	dir       string
	threshold int64

	buf []byte
	f   *os.File
	w   *bufio.Writer
	err error

	size, lfs int64
	lastLossy int64
	tail      [2]byte // the last two octets written out
}

// NewWriter returns a writer that spools into dir (created 0700 when
// missing) once the message is larger than threshold.
func NewWriter(dir string, threshold int64) *Writer {
	return &Writer{dir: dir, threshold: threshold, lastLossy: -1}
}

var crlf = []byte("\r\n")

// Write implements io.Writer. An error is sticky.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	for len(p) > 0 && w.err == nil {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.emit(p)
			break
		}
		w.line(p[:i+1])
		p = p[i+1:]
	}
	if w.err != nil {
		return 0, w.err
	}
	return n, nil
}

// WriteLine is Write for a p that holds no LF but possibly as its last
// octet: a line, or a piece of one, as bufio.Reader.ReadSlice('\n')
// returns it. The reader that split its input at LFs (the LMTP DATA
// reader) has found that LF already, and Write would look for it again:
// one IndexByte pass over every octet of the message fewer. An LF
// before p's last octet would reach the spool as it is, not canonical.
func (w *Writer) WriteLine(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if k := len(p); k > 0 && p[k-1] == '\n' {
		w.line(p)
	} else {
		w.emit(p)
	}
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

// line writes p, which ends in its only LF, with a CR before the LF
// when it has none.
func (w *Writer) line(p []byte) {
	i := len(p) - 1
	before := w.tail[1] // the octet before the LF, written or not
	if i > 0 {
		before = p[i-1]
	}
	if before != '\r' {
		w.emit(p[:i])
		w.emit(crlf)
	} else {
		w.emit(p)
	}
}

// grow makes room for need octets in memory by doubling from 16 KiB, up
// to the threshold: append alone grows a large slice by a quarter at a
// time, and a 100 KB message was copied some twenty times on its way in.
//
// The first buffer comes from memBufs when one there is large enough: a
// message a session received and delivered gave it back (Message.Close),
// so a stream of deliveries reuses a few buffers instead of making the
// collector free some 240 KB per 100 KB message. A buffer outgrown on
// the way is dropped, not pooled: pooled, the 16, 32 and 64 KiB steps of
// one message were what the next ones got first, and each of them grew
// through the steps again (44 KB allocated per 100 KB delivery).
func (w *Writer) grow(need int) {
	if len(w.buf) == 0 {
		if b, ok := memBufs.Get().(*[]byte); ok {
			if cap(*b) >= need {
				w.buf = (*b)[:0]
				return
			}
			memBufs.Put(b)
		}
	}
	c := max(2*cap(w.buf), need, 16<<10)
	if t := w.threshold; int64(c) > t && int64(need) <= t {
		c = int(t)
	}
	nb := make([]byte, len(w.buf), c)
	copy(nb, w.buf)
	w.buf = nb
}

// memBufs holds in-memory message buffers given back (putMem).
var memBufs sync.Pool

// putMem gives b back to memBufs; whoever held it must not use it again.
func putMem(b []byte) {
	if cap(b) < 16<<10 {
		return
	}
	b = b[:0]
	memBufs.Put(&b)
}

// emit writes canonical octets with at most one LF, at their end.
func (w *Writer) emit(b []byte) {
	k := len(b)
	if k == 0 || w.err != nil {
		return
	}
	if b[k-1] == '\n' {
		w.lfs++
		var c1, c2 byte // the two octets before this LF
		switch k {
		case 1:
			c1, c2 = w.tail[1], w.tail[0]
		case 2:
			c1, c2 = b[0], w.tail[1]
		default:
			c1, c2 = b[k-2], b[k-3]
		}
		if c1 == '\r' && c2 == '\r' && w.size+int64(k) >= 3 {
			w.lastLossy = w.size + int64(k) - 3
		}
	}
	if w.f == nil && w.size+int64(k) > w.threshold {
		w.spill()
		if w.err != nil {
			return
		}
	}
	if w.f == nil {
		if need := len(w.buf) + k; need > cap(w.buf) {
			w.grow(need)
		}
		w.buf = append(w.buf, b...)
	} else if _, err := w.w.Write(b); err != nil {
		w.err = fmt.Errorf("spool: write: %w", err)
		return
	}
	w.size += int64(k)
	if k >= 2 {
		w.tail = [2]byte{b[k-2], b[k-1]}
	} else {
		w.tail = [2]byte{w.tail[1], b[0]}
	}
}

// spill moves what is in memory into a new spool file.
func (w *Writer) spill() {
	f, err := create(w.dir)
	if err != nil {
		w.err = err
		return
	}
	w.f = f
	w.w = bufio.NewWriterSize(f, 64<<10)
	if _, err := w.w.Write(w.buf); err != nil {
		w.err = fmt.Errorf("spool: write: %w", err)
	}
	putMem(w.buf)
	w.buf = nil
}

// create makes an unlinked spool file in dir.
func create(dir string) (*os.File, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	for tries := 0; ; tries++ {
		var rnd [12]byte
		rand.Read(rnd[:])
		name := filepath.Join(dir, Prefix+hex.EncodeToString(rnd[:]))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) && tries < 3 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		// Unlinked at once: the descriptor keeps the data, and nothing
		// outlives the transaction, whatever ends it.
		if err := os.Remove(name); err != nil {
			f.Close()
			return nil, fmt.Errorf("spool: %w", err)
		}
		return f, nil
	}
}

// Prefix begins the name of every spool file (for the moment between
// its creation and its unlink).
const Prefix = "lmtp-spool-"

// Finish ends the message and returns it; the writer is spent.
func (w *Writer) Finish() (*Message, error) {
	if w.err == nil && w.w != nil {
		if err := w.w.Flush(); err != nil {
			w.err = fmt.Errorf("spool: write: %w", err)
		}
	}
	if w.err != nil {
		w.Discard()
		return nil, w.err
	}
	m := &Message{mem: w.buf, f: w.f, size: w.size, lfs: w.lfs, lastLossy: w.lastLossy, last: w.tail[1]}
	if m.mem == nil && m.f == nil {
		m.mem = []byte{}
	}
	w.buf, w.f, w.w, w.err = nil, nil, nil, errors.New("spool: writer finished")
	return m, nil
}

// Discard drops what was written, and the spool file with it.
func (w *Writer) Discard() {
	if w.f != nil {
		w.f.Close()
	}
	putMem(w.buf)
	w.buf, w.f, w.w = nil, nil, nil
	if w.err == nil {
		w.err = errors.New("spool: writer discarded")
	}
}

// Spooled tells whether the writer has moved to a file.
func (w *Writer) Spooled() bool { return w.f != nil }

var bufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

func getBuf() *[]byte  { return bufs.Get().(*[]byte) }
func putBuf(b *[]byte) { bufs.Put(b) }
