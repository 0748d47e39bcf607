package message

import (
	"bufio"
	"bytes"
	"io"
	"slices"
)

// Line endings. A message has one canonical form, the one IMAP and POP3
// serve: every LF that is not already preceded by CR becomes CRLF; a bare
// CR stays as it is. Formats may store a more compact form (Maildir keeps
// LF) only when reading it back through CRLFReader gives the canonical
// form again, byte for byte: see StorageLF.

// CRLFSize returns the size of b in canonical form.
func CRLFSize(b []byte) int64 {
	n := int64(len(b))
	prev := byte(0)
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		if i+j == 0 {
			prev = 0
		} else {
			prev = b[i+j-1]
		}
		if prev != '\r' {
			n++
		}
		i += j + 1
	}
	return n
}

// Canonical returns b in canonical form; b itself when it already is.
func Canonical(b []byte) []byte {
	if CRLFSize(b) == int64(len(b)) {
		return b
	}
	out := make([]byte, 0, CRLFSize(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, b[i])
	}
	return out
}

// StorageLF returns the LF form of a canonical message and whether it is
// lossless: CRLFReader over it must give canon back exactly. It is lossy
// when canon holds "\r\r\n" (stored LF as "\r\n", which reads back as one
// CRLF) or a bare LF (canon then is not canonical). A caller that gets
// false stores canon as it is.
func StorageLF(canon []byte) ([]byte, bool) { return AppendStorageLF(nil, canon) }

// AppendStorageLF is StorageLF appending the LF form to dst (which must
// not overlap canon); lossy, it returns canon itself, and dst unused.
func AppendStorageLF(dst, canon []byte) ([]byte, bool) {
	// Line by line (IndexByte), not octet by octet: at 100 KB the octet
	// loop was 8 % of a delivery's CPU. One pass: a "\r\r\n" is a line
	// that ends in two CRs.
	out := slices.Grow(dst, len(canon))
	for rest := canon; len(rest) > 0; {
		j := bytes.IndexByte(rest, '\n')
		if j < 0 {
			out = append(out, rest...)
			break
		}
		// rest starts after an LF (or at the start): an LF at 0 is bare,
		// and so is the octet before rest's first.
		if j == 0 || rest[j-1] != '\r' || (j >= 2 && rest[j-2] == '\r') {
			return canon, false
		}
		out = append(out, rest[:j-1]...)
		out = append(out, '\n')
		rest = rest[j+1:]
	}
	return out, true
}

// StoredForm returns a message file's content as it was received, given
// the file's bytes. Formats write the LF form only when it reads back as
// the canonical form exactly (StorageLF), and the LF form never holds a
// CRLF; so a file that holds one was written as received (a message with
// a binary part, RFC 3516, keeps its bare LFs that way), and one without
// is the LF form of a canonical message.
func StoredForm(b []byte) []byte {
	if bytes.Contains(b, []byte("\r\n")) {
		return b
	}
	return Canonical(b)
}

// CRLFReader turns any stored form into canonical form as it streams.
type CRLFReader struct {
	r      *bufio.Reader
	prevCR bool
	pendLF bool
}

// NewCRLFReader wraps r; it buffers internally.
func NewCRLFReader(r io.Reader) *CRLFReader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 32*1024)
	}
	return &CRLFReader{r: br}
}

// Reset reuses the reader for another source.
func (c *CRLFReader) Reset(r io.Reader) {
	c.r.Reset(r)
	c.prevCR, c.pendLF = false, false
}

func (c *CRLFReader) Read(p []byte) (int, error) {
	n := 0
	if c.pendLF && len(p) > 0 {
		p[0] = '\n'
		n, c.pendLF, c.prevCR = 1, false, false
	}
	for n < len(p) {
		buffered := c.r.Buffered()
		if buffered == 0 {
			if n > 0 {
				return n, nil
			}
			if _, err := c.r.Peek(1); err != nil {
				return n, err
			}
			buffered = c.r.Buffered()
		}
		chunk, _ := c.r.Peek(buffered)
		// Copy a run that needs no change in one go.
		room := len(p) - n
		if room > len(chunk) {
			room = len(chunk)
		}
		seg := chunk[:room]
		i := bytes.IndexByte(seg, '\n')
		if i < 0 {
			copy(p[n:], seg)
			n += len(seg)
			c.prevCR = seg[len(seg)-1] == '\r'
			c.r.Discard(len(seg))
			continue
		}
		copy(p[n:], seg[:i])
		n += i
		before := c.prevCR
		if i > 0 {
			before = seg[i-1] == '\r'
		}
		c.r.Discard(i + 1)
		if before {
			p[n] = '\n'
			n++
			c.prevCR = false
			continue
		}
		p[n] = '\r'
		n++
		if n < len(p) {
			p[n] = '\n'
			n++
			c.prevCR = false
		} else {
			c.pendLF = true
		}
	}
	return n, nil
}
