package inflate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrCorrupt is wrapped by every error about the stream itself.
var ErrCorrupt = errors.New("inflate: corrupt input")

func corrupt(why string) error { return fmt.Errorf("%w: %s", ErrCorrupt, why) }

const (
	winSize = 1 << 15 // RFC 1951 §2: distances reach back 32 KiB
	inSize  = 4 << 10 // input read from the source at a time
)

// The decoder's place in the stream.
const (
	stHeader  = iota // at a block header
	stStored         // inside a stored block: stored octets left
	stHuffman        // inside a Huffman block
	stDone           // past the final block
)

// result of one decoding step.
type result int

const (
	needInput  result = iota // the input ran out: read the source
	windowFull               // hand the window's octets out first
	streamEnd                // the final block ended
)

// bits is the bit reader: acc holds nb bits not yet used, the next one
// lowest; they were loaded from the input before ip. Bits above nb may
// hold the next input octets' bits (refill loads eight at a time), which
// are loaded again at the same place, so they do no harm.
type bits struct {
	acc uint64
	nb  uint
	ip  int
}

// Reader decompresses a raw DEFLATE stream (no zlib or gzip wrapper)
// read from its source. It is not safe for concurrent use.
type Reader struct {
	src io.Reader
	// srcErr is an error the source returned with octets, kept for the
	// next read.
	srcErr error

	in   [inSize]byte
	iend int // in[b.ip:iend] is unread input
	b    bits

	// The window: decoded octets, the last 32 KiB of them kept for
	// back-references. win[rd:wr] is decoded but not yet handed out
	// (toRead); when wr reaches the end, decoding waits until it is, and
	// wr wraps to 0 (full: the whole window is history).
	win    [winSize]byte
	wr, rd int
	full   bool
	toRead []byte

	state  int
	final  bool // the current block is the last
	stored int  // octets left in a stored block
	// A match cut short by the end of the window.
	copyLen, copyDist int

	lit, dist []uint32 // the current block's tables
	litTab    [litTableSize]uint32
	distTab   [distTableSize]uint32
	clTab     [1 << clRoot]uint32
	lens      [286 + 30]uint8

	err error // sticky: corrupt input or the source's early end
}

// NewReader returns a Reader of the stream read from src.
func NewReader(src io.Reader) *Reader {
	r := new(Reader)
	r.Reset(src)
	return r
}

// Reset makes r read a new stream from src, reusing its memory.
func (r *Reader) Reset(src io.Reader) {
	r.src, r.srcErr = src, nil
	r.iend, r.b = 0, bits{}
	r.wr, r.rd, r.full, r.toRead = 0, 0, false, nil
	r.state, r.final, r.stored, r.copyLen, r.copyDist = stHeader, false, 0, 0, 0
	r.lit, r.dist, r.err = nil, nil, nil
}

// Read returns decoded octets. It decodes what its buffered input holds
// and returns as soon as that gives any octet; only when it gives none
// does it read the source (once, then decodes again).
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for empty := 0; ; {
		if len(r.toRead) > 0 {
			n := copy(p, r.toRead)
			r.toRead = r.toRead[n:]
			return n, nil
		}
		if r.err != nil {
			return 0, r.err
		}
		res, err := r.decode()
		r.toRead = r.win[r.rd:r.wr]
		r.rd = r.wr
		if r.wr == winSize {
			r.wr, r.rd, r.full = 0, 0, true
		}
		switch {
		case err != nil:
			r.err = err
		case res == streamEnd:
			r.err = io.EOF
		case res == needInput && len(r.toRead) == 0:
			n, err := r.fill()
			if err != nil {
				return 0, err
			}
			if n == 0 {
				if empty++; empty >= 100 {
					return 0, io.ErrNoProgress
				}
			}
		}
	}
}

// fill reads the source once into the input buffer, after the unread
// input.
func (r *Reader) fill() (int, error) {
	if r.b.ip > 0 {
		r.iend = copy(r.in[:], r.in[r.b.ip:r.iend])
		r.b.ip = 0
	}
	if r.iend == len(r.in) {
		// No step needs a buffer of input: a dynamic header, the
		// longest, fits in 300 octets.
		r.err = corrupt("no progress with a full input buffer")
		return 0, r.err
	}
	if err := r.srcErr; err != nil {
		r.srcErr = nil
		return 0, r.sourceErr(err)
	}
	n, err := r.src.Read(r.in[r.iend:])
	r.iend += n
	if err != nil {
		if n > 0 {
			r.srcErr = err
			return n, nil
		}
		return 0, r.sourceErr(err)
	}
	return n, nil
}

// sourceErr is what a read error of the source becomes: the end of the
// source inside the stream is the stream's early end, for good; any
// other error goes up as it is, and reading may go on later.
func (r *Reader) sourceErr(err error) error {
	if err == io.EOF {
		r.err = io.ErrUnexpectedEOF
		return r.err
	}
	return err
}

// decode runs the decoder over the buffered input until the input runs
// out, the window fills or the stream ends.
func (r *Reader) decode() (result, error) {
	for {
		var (
			res result
			err error
		)
		switch r.state {
		case stDone:
			return streamEnd, nil
		case stHeader:
			if r.wr == winSize {
				return windowFull, nil
			}
			res, err = r.header()
		case stStored:
			res = r.copyStored()
		case stHuffman:
			res, err = r.huffman()
		}
		if err != nil || res != blockStep {
			return res, err
		}
	}
}

// blockStep: the step ended a header or a block; decode goes on.
const blockStep result = -1

func (r *Reader) endBlock() {
	if r.final {
		r.state = stDone
	} else {
		r.state = stHeader
	}
}

// need loads input until b holds n bits; false if the input runs out
// first.
func (r *Reader) need(b *bits, n uint) bool {
	for b.nb < n {
		if b.ip >= r.iend {
			return false
		}
		b.acc |= uint64(r.in[b.ip]) << b.nb
		b.ip++
		b.nb += 8
	}
	return true
}

// refill loads as many whole octets as fit in b.acc.
func (r *Reader) refill(b *bits) {
	if r.iend-b.ip >= 8 {
		b.acc |= binary.LittleEndian.Uint64(r.in[b.ip:]) << b.nb
		b.ip += int(63-b.nb) >> 3
		b.nb |= 56
		return
	}
	for b.nb <= 56 && b.ip < r.iend {
		b.acc |= uint64(r.in[b.ip]) << b.nb
		b.ip++
		b.nb += 8
	}
}

func (b *bits) drop(n uint) {
	b.acc >>= n
	b.nb -= n
}

// lookup decodes the next symbol of table t (root bits wide); ok is
// false when b lacks the bits the code needs. refill first.
func lookup(b *bits, t []uint32, root uint) (e uint32, ok bool) {
	e = t[b.acc&(1<<root-1)]
	if entryKind(e) == kindLink {
		e = t[entryVal(e)+uint(b.acc>>root)&(1<<entryExtra(e)-1)]
	}
	return e, entryLen(e) <= b.nb
}

// header decodes a block header: RFC 1951 §3.2.3, with a stored block's
// length (§3.2.4) or a dynamic block's code tables (§3.2.7).
func (r *Reader) header() (result, error) {
	b := r.b
	if !r.need(&b, 3) {
		return needInput, nil
	}
	r.final = b.acc&1 == 1
	typ := b.acc >> 1 & 3
	b.drop(3)
	switch typ {
	case 0:
		b.drop(b.nb & 7)
		if !r.need(&b, 32) {
			return needInput, nil
		}
		n, nn := uint16(b.acc), uint16(b.acc>>16)
		if n != ^nn {
			return 0, corrupt("stored block length does not match its complement")
		}
		b.drop(32)
		r.stored = int(n)
		r.state = stStored
	case 1:
		r.lit, r.dist = fixedLit, fixedDist
		r.state = stHuffman
	case 2:
		ok, err := r.dynamic(&b)
		if err != nil || !ok {
			return needInput, err
		}
		r.lit, r.dist = r.litTab[:], r.distTab[:]
		r.state = stHuffman
	default:
		return 0, corrupt("block type 3")
	}
	r.b = b
	return blockStep, nil
}

// codeLenOrder is the order of the code length code lengths (RFC 1951
// §3.2.7).
var codeLenOrder = [19]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// dynamic reads a dynamic block's code tables; false when the input ends
// first.
func (r *Reader) dynamic(b *bits) (bool, error) {
	if !r.need(b, 14) {
		return false, nil
	}
	nlit := int(b.acc&31) + 257
	ndist := int(b.acc>>5&31) + 1
	nclen := int(b.acc>>10&15) + 4
	b.drop(14)
	if nlit > 286 || ndist > 30 {
		return false, corrupt("too many literal/length or distance codes")
	}
	var cl [19]uint8
	for i := 0; i < nclen; i++ {
		if !r.need(b, 3) {
			return false, nil
		}
		cl[codeLenOrder[i]] = uint8(b.acc & 7)
		b.drop(3)
	}
	if !build(r.clTab[:], cl[:], clRoot, codeLenSymbol) {
		return false, corrupt("bad code length code")
	}
	lens := r.lens[:nlit+ndist]
	for i := 0; i < len(lens); {
		r.refill(b)
		e, ok := lookup(b, r.clTab[:], clRoot)
		if !ok {
			return false, nil
		}
		if entryKind(e) != kindLit {
			return false, corrupt("bad code length code")
		}
		sym := entryVal(e)
		if sym < 16 {
			b.drop(entryLen(e))
			lens[i] = uint8(sym)
			i++
			continue
		}
		var rep int
		var val uint8
		var nx uint
		switch sym {
		case 16:
			if i == 0 {
				return false, corrupt("code length repeated before the first")
			}
			rep, nx, val = 3, 2, lens[i-1]
		case 17:
			rep, nx = 3, 3
		default:
			rep, nx = 11, 7
		}
		n := entryLen(e)
		if n+nx > b.nb {
			return false, nil
		}
		rep += int(b.acc >> n & (1<<nx - 1))
		b.drop(n + nx)
		if i+rep > len(lens) {
			return false, corrupt("code lengths repeated past the end")
		}
		for ; rep > 0; rep-- {
			lens[i] = val
			i++
		}
	}
	if !build(r.litTab[:], lens[:nlit], litRoot, litLenSymbol) ||
		!build(r.distTab[:], lens[nlit:], distRoot, distSymbol) {
		return false, corrupt("bad literal/length or distance code")
	}
	return true, nil
}

// copyStored copies a stored block's octets into the window.
func (r *Reader) copyStored() result {
	b := &r.b
	for r.stored > 0 {
		if r.wr == winSize {
			return windowFull
		}
		if b.nb >= 8 {
			// Octets the bit reader loaded already.
			r.win[r.wr] = byte(b.acc)
			b.drop(8)
			r.wr++
			r.stored--
			continue
		}
		b.acc = 0 // bits above nb are octets at ip, copied below
		if b.ip == r.iend {
			return needInput
		}
		n := copy(r.win[r.wr:min(r.wr+r.stored, winSize)], r.in[b.ip:r.iend])
		b.ip += n
		r.wr += n
		r.stored -= n
	}
	r.endBlock()
	return blockStep
}

// huffman decodes a Huffman block's symbols (RFC 1951 §3.2.5) until its
// end, the input's or the window's.
func (r *Reader) huffman() (result, error) {
	if r.copyLen > 0 && !r.copyMatch() {
		return windowFull, nil
	}
	lit, dist := r.lit, r.dist
	for {
		if r.wr == winSize {
			return windowFull, nil
		}
		b := r.b
		if b.nb < 48 {
			r.refill(&b)
		}
		e, ok := lookup(&b, lit, litRoot)
		if !ok {
			return needInput, nil
		}
		switch entryKind(e) {
		case kindLit:
			b.drop(entryLen(e))
			r.b = b
			r.win[r.wr] = byte(entryVal(e))
			r.wr++
			continue
		case kindEOB:
			b.drop(entryLen(e))
			r.b = b
			r.endBlock()
			return blockStep, nil
		case kindBad:
			return 0, corrupt("bad literal/length code")
		}
		// A length, then its distance: decoded together or not at all.
		n, nx := entryLen(e), entryExtra(e)
		if n+nx > b.nb {
			return needInput, nil
		}
		length := int(entryVal(e)) + int(b.acc>>n&(1<<nx-1))
		b.drop(n + nx)
		d, ok := lookup(&b, dist, distRoot)
		if !ok {
			return needInput, nil
		}
		if entryKind(d) != kindLen {
			return 0, corrupt("bad distance code")
		}
		n, nx = entryLen(d), entryExtra(d)
		if n+nx > b.nb {
			return needInput, nil
		}
		distance := int(entryVal(d)) + int(b.acc>>n&(1<<nx-1))
		b.drop(n + nx)
		if distance > r.wr && !r.full {
			return 0, corrupt("distance reaches before the stream")
		}
		r.b = b
		r.copyLen, r.copyDist = length, distance
		if !r.copyMatch() {
			return windowFull, nil
		}
	}
}

// copyMatch copies the pending match into the window; false if the
// window filled first.
func (r *Reader) copyMatch() bool {
	for r.copyLen > 0 {
		if r.wr == winSize {
			return false
		}
		src := r.wr - r.copyDist
		n := min(r.copyLen, winSize-r.wr)
		if src >= 0 {
			// The source may overlap what is being written (a run):
			// each copy doubles what the next can take.
			dst := r.win[r.wr : r.wr+n]
			for done := 0; done < n; {
				done += copy(dst[done:], r.win[src:r.wr+done])
			}
		} else {
			// From the window's end, history from before the wrap: it
			// lies after wr, so a plain copy reads it before any write
			// reaches it.
			src += winSize
			n = min(n, winSize-src)
			copy(r.win[r.wr:r.wr+n], r.win[src:src+n])
		}
		r.wr += n
		r.copyLen -= n
	}
	return true
}
