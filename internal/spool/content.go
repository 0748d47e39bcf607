package spool

import (
	"bufio"
	"bytes"
	"io"
	"slices"

	"github.com/storaged/storaged/message"
)

// Content is one copy of a message as a store is given it: Head in
// memory (the trace fields of one recipient, or a header Sieve edited),
// then Body's octets from Off on. Both are canonical; Head is empty or
// ends in LF, and Off is 0 or follows an LF in Body (the start of a
// line), so the LF form of the whole is the LF forms of the two parts
// put together, and is lossless exactly when both are.
type Content struct {
	Head []byte
	Body *Message
	Off  int64
}

// Size is the canonical size in octets.
func (c *Content) Size() int64 { return int64(len(c.Head)) + c.Body.size - c.Off }

// NewReader reads the canonical octets.
func (c *Content) NewReader() io.Reader {
	if len(c.Head) == 0 {
		return c.Body.NewReader(c.Off)
	}
	return io.MultiReader(bytes.NewReader(c.Head), c.Body.NewReader(c.Off))
}

// Last is the final octet, 0 when the content is empty.
func (c *Content) Last() byte {
	if c.Body.size > c.Off {
		return c.Body.last
	}
	if len(c.Head) > 0 {
		return c.Head[len(c.Head)-1]
	}
	return 0
}

// lossless tells whether the LF form reads back as the canonical form
// (message.StorageLF's test, on both parts).
func (c *Content) lossless() bool {
	if _, ok := message.StorageLF(c.Head); !ok {
		return false
	}
	return c.Body.lastLossy < c.Off
}

// Pieces returns the canonical octets as the two slices they are in
// memory, the head and the body from Off on; ok is false when the body
// is spooled. The body is the spool's memory: see the package
// invariants.
func (c *Content) Pieces() (head, body []byte, ok bool) {
	if c.Body.f != nil {
		return nil, nil, false
	}
	return c.Head, c.Body.mem[c.Off:], true
}

// AppendStored appends the stored form (see StoredSize) of a content
// whose body is in memory to dst, which must not be the spool's memory,
// and tells whether it is the LF form: byte for byte what
// message.StorageLF of the whole would give, in one pass over the
// octets and never aliasing the spool. ok is false for a spooled body.
func (c *Content) AppendStored(dst []byte) (out []byte, lf, ok bool) {
	head, body, ok := c.Pieces()
	if !ok {
		return dst, false, false
	}
	if !c.lossless() {
		return append(append(dst, head...), body...), false, true
	}
	// Lossless: neither part holds a bare LF or "\r\r\n", and head
	// ends in LF, so body starts a line as AppendStorageLF's scan of
	// the whole would see it. Were either lossy after all, the call
	// would give its input back, never to be stored as an LF form.
	out = slices.Grow(dst, len(head)+len(body))
	out, lf = message.AppendStorageLF(out, head)
	if lf {
		out, lf = message.AppendStorageLF(out, body)
	}
	if !lf {
		return append(append(dst, head...), body...), false, true
	}
	return out, true, true
}

// StoredSize is the size of the form the formats store: the LF form
// when it is lossless (lf true), else the canonical form; what
// message.StorageLF of the whole would give.
func (c *Content) StoredSize() (size int64, lf bool, err error) {
	if !c.lossless() {
		return c.Size(), false, nil
	}
	before, err := c.Body.lfsBefore(c.Off)
	if err != nil {
		return 0, false, err
	}
	head := int64(bytes.Count(c.Head, []byte{'\n'}))
	return c.Size() - head - (c.Body.lfs - before), true, nil
}

// StoredReader reads the stored form (see StoredSize) as it streams:
// byte for byte what message.StorageLF of the whole would give.
func (c *Content) StoredReader() io.Reader {
	if !c.lossless() {
		return c.NewReader()
	}
	return &lfReader{br: bufio.NewReaderSize(c.NewReader(), 64<<10)}
}

// lfReader turns a lossless canonical stream into its LF form: every CR
// right before an LF goes (in a lossless canonical stream every LF has
// one, and no CR before it is another's).
type lfReader struct {
	br *bufio.Reader
}

func (l *lfReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	// Two at least: a CR is only decided with the octet after it.
	chunk, err := l.br.Peek(max(2, min(len(p), l.br.Size())))
	if len(chunk) == 0 {
		return 0, err
	}
	n, i := 0, 0
	for i < len(chunk) && n < len(p) {
		j := bytes.IndexByte(chunk[i:], '\r')
		if j < 0 {
			j = len(chunk) - i
		}
		j = min(j, len(p)-n)
		n += copy(p[n:], chunk[i:i+j])
		i += j
		if i >= len(chunk) || n >= len(p) {
			break
		}
		// chunk[i] is a CR.
		if i+1 < len(chunk) {
			if chunk[i+1] == '\n' {
				i++ // dropped; the LF is copied next
				continue
			}
		} else if err == nil {
			break // the next Read decides it
		}
		p[n] = '\r'
		n++
		i++
	}
	l.br.Discard(i)
	if n == 0 && err != nil && l.br.Buffered() == 0 {
		return 0, err
	}
	return n, nil
}
