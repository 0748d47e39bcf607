package inflate

// Decoding tables for the canonical Huffman codes of RFC 1951 §3.2.2.
//
// A table is indexed by the next bits of the stream, least significant
// first (RFC 1951 §3.1.1: Huffman codes are packed starting with their
// most significant bit, so the table is indexed by the bit-reversed
// code). A root table of 1<<rootBits entries covers every code up to
// rootBits long, each repeated for all the bits that follow it; a
// longer code's root entry links to a subtable, indexed by the bits past
// the root, sized for the longest code sharing that root prefix.
//
// An entry is a uint32:
//
//	bits  0-7   the code's length in bits (for a link: rootBits; for an
//	            unused code: the bits the lookup looked at)
//	bits  8-11  kind (kindBad, kindLit, kindLen, kindEOB, kindLink)
//	bits 12-15  extra bits after the code (length and distance codes),
//	            or the subtable's index bits (links)
//	bits 16-31  the literal, the base length or distance, or the
//	            subtable's offset

const (
	kindBad  = iota // no code has these bits, or a symbol RFC 1951 forbids
	kindLit         // a literal octet, or a code length symbol
	kindLen         // a match length (lit/len codes 257-285)
	kindEOB         // end of block (256)
	kindLink        // the rest of the code is in a subtable
)

const (
	litRoot  = 10 // root index bits of the literal/length tables
	distRoot = 8  // ... of the distance tables
	clRoot   = 7  // ... of the code length code table (codes are ≤ 7 bits)
	maxBits  = 15 // RFC 1951 §3.2.7: no code is longer
)

// Dynamic table sizes: the root plus the largest subtables a code of
// that many symbols can need. A subtable of 1<<d entries needs at least
// d+1 codes, and at most 286 literal/length codes and 30 distance codes
// exist, so the literal/length subtables (d ≤ 5) hold at most 47×32+8
// entries and the distance ones (d ≤ 7) 3×128+32.
const (
	litTableSize  = 1<<litRoot + 47*32 + 8
	distTableSize = 1<<distRoot + 3*128 + 32
)

func entry(length, kind, extra, val uint32) uint32 {
	return length | kind<<8 | extra<<12 | val<<16
}

func entryLen(e uint32) uint   { return uint(e & 0xff) }
func entryKind(e uint32) uint  { return uint(e>>8) & 0xf }
func entryExtra(e uint32) uint { return uint(e>>12) & 0xf }
func entryVal(e uint32) uint   { return uint(e >> 16) }

// RFC 1951 §3.2.5: base lengths and extra bits of codes 257-285, base
// distances and extra bits of distance codes 0-29.
var (
	lenBase   = [29]uint16{3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258}
	lenExtra  = [29]uint8{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0}
	distBase  = [30]uint16{1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577}
	distExtra = [30]uint8{0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13}
)

// symbolizers give a symbol's kind, extra bits and value.
type symbolizer func(sym int) (kind, extra, val uint32)

func litLenSymbol(sym int) (kind, extra, val uint32) {
	switch {
	case sym < 256:
		return kindLit, 0, uint32(sym)
	case sym == 256:
		return kindEOB, 0, 0
	case sym <= 285:
		return kindLen, uint32(lenExtra[sym-257]), uint32(lenBase[sym-257])
	}
	return kindBad, 0, 0 // 286 and 287 have fixed codes but no meaning
}

func distSymbol(sym int) (kind, extra, val uint32) {
	if sym < 30 {
		return kindLen, uint32(distExtra[sym]), uint32(distBase[sym])
	}
	return kindBad, 0, 0 // fixed codes 30 and 31
}

func codeLenSymbol(sym int) (kind, extra, val uint32) { return kindLit, 0, uint32(sym) }

// build fills t with the decoding table of the code lengths lens (0: the
// symbol has no code) and reports whether they make a usable code. Like
// compress/flate (and zlib), it refuses over-subscribed codes and
// incomplete ones except a single code of one bit; a code with no
// symbols at all builds a table that fails when used.
func build(t []uint32, lens []uint8, root uint, sym symbolizer) bool {
	var count [maxBits + 1]int
	maxLen := 0
	for _, l := range lens {
		count[l]++
		maxLen = max(maxLen, int(l))
	}
	rootSize := 1 << root
	if len(t) < rootSize || rootSize > 1<<litRoot {
		return false
	}
	for i := range t[:rootSize] {
		t[i] = entry(uint32(root), kindBad, 0, 0)
	}
	if maxLen == 0 {
		return true
	}
	// The first code of each length (RFC 1951 §3.2.2); code ends as the
	// codes' share of the space in units of 2^-maxLen (Kraft).
	var first [maxBits + 1]int
	code := 0
	for l := 1; l <= maxLen; l++ {
		code <<= 1
		first[l] = code
		code += count[l]
	}
	if code != 1<<maxLen && !(code == 1 && maxLen == 1) {
		return false // over-subscribed, or incomplete
	}
	// The longest code sharing each root prefix sizes the prefix's
	// subtable; the subtables follow the root, in prefix order.
	var subBits [1 << litRoot]uint8
	next := first
	for _, l := range lens {
		if uint(l) <= root {
			continue
		}
		p := reverse(next[l], uint(l)) & (rootSize - 1)
		next[l]++
		subBits[p] = max(subBits[p], l-uint8(root))
	}
	var subOff [1 << litRoot]int
	off := rootSize
	for p, d := range subBits[:rootSize] {
		if d == 0 {
			continue
		}
		if off+1<<d > len(t) {
			return false
		}
		subOff[p] = off
		t[p] = entry(uint32(root), kindLink, uint32(d), uint32(off))
		off += 1 << d
	}
	next = first
	for s, l := range lens {
		if l == 0 {
			continue
		}
		r := reverse(next[l], uint(l))
		next[l]++
		kind, extra, val := sym(s)
		e := entry(uint32(l), kind, extra, val)
		if uint(l) <= root {
			for i := r; i < rootSize; i += 1 << l {
				t[i] = e
			}
			continue
		}
		p := r & (rootSize - 1)
		tab := t[subOff[p] : subOff[p]+1<<subBits[p]]
		for i := r >> root; i < len(tab); i += 1 << (uint(l) - root) {
			tab[i] = e
		}
	}
	return true
}

// reverse returns the n low bits of c in reverse order.
func reverse(c int, n uint) int {
	r := 0
	for i := uint(0); i < n; i++ {
		r = r<<1 | c&1
		c >>= 1
	}
	return r
}

// The fixed codes of RFC 1951 §3.2.6, built once.
var fixedLit, fixedDist = func() ([]uint32, []uint32) {
	var lens [288]uint8
	for i := range lens {
		switch {
		case i < 144:
			lens[i] = 8
		case i < 256:
			lens[i] = 9
		case i < 280:
			lens[i] = 7
		default:
			lens[i] = 8
		}
	}
	lit := make([]uint32, 1<<litRoot)
	if !build(lit, lens[:], litRoot, litLenSymbol) {
		panic("inflate: fixed literal/length code")
	}
	var dl [32]uint8
	for i := range dl {
		dl[i] = 5
	}
	dist := make([]uint32, 1<<distRoot)
	if !build(dist, dl[:], distRoot, distSymbol) {
		panic("inflate: fixed distance code")
	}
	return lit, dist
}()
