package message

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// readBufSize is the streaming buffer. A line longer than this is read in
// pieces; nothing depends on where the pieces fall, so Parse over any
// reader and ParseBytes give the same result.
const readBufSize = 64 << 10

// line is one line of the message, as far as the parser needs it.
type line struct {
	start int64 // offset of its first byte
	n     int64 // octets, line break included
	eol   int   // length of the line break: 0 (end of input), 1 (LF), 2 (CRLF)
	// text is the content without the line break, cut to the length the
	// caller asked to keep; it is only valid until the next line.
	text []byte
	long bool // the content was longer than text
	// wsTail reports whether the content beyond text is only SP and HT,
	// which is all a delimiter line may have after its boundary.
	wsTail bool
}

// lineReader splits a message into lines, reading from a byte slice
// (ParseBytes, no copy) or a bufio.Reader (Parse, bounded memory).
type lineReader struct {
	src []byte // ParseBytes: the unread rest
	// then is read after src (ParsePieces: a body after its head), as
	// if the two were one slice.
	then []byte
	br   *bufio.Reader // Parse
	off  int64
	err  error // first read error other than io.EOF
	eof  bool
	buf  []byte
	ln   line
}

// next reads the next line into r.ln, keeping at most keep bytes of its
// content, or none when dashOnly is set and the line does not start with
// "--" (body lines matter only as possible delimiters). It reports false
// at the end of input.
func (r *lineReader) next(keep int, dashOnly bool) bool {
	if r.eof {
		return false
	}
	ln := &r.ln
	*ln = line{start: r.off, text: r.buf[:0], wsTail: true}
	first := true
	pendingCR := false // a piece ended in CR: line break or content?
	for {
		frag, complete, ok := r.fragment()
		if !ok {
			if pendingCR {
				r.add(ln, []byte{'\r'}, keep)
			}
			r.eof = true
			r.buf = ln.text
			return ln.n > 0
		}
		ln.n += int64(len(frag))
		r.off += int64(len(frag))
		if first {
			first = false
			if dashOnly && !(len(frag) >= 2 && frag[0] == '-' && frag[1] == '-') {
				keep = 0
			}
		}
		if complete {
			content := frag[:len(frag)-1]
			ln.eol = 1
			if len(content) > 0 && content[len(content)-1] == '\r' {
				content = content[:len(content)-1]
				ln.eol = 2
			} else if len(content) == 0 && pendingCR {
				pendingCR = false
				ln.eol = 2
			}
			if pendingCR {
				r.add(ln, []byte{'\r'}, keep)
			}
			r.add(ln, content, keep)
			r.buf = ln.text
			return true
		}
		if pendingCR {
			r.add(ln, []byte{'\r'}, keep)
			pendingCR = false
		}
		if frag[len(frag)-1] == '\r' {
			frag = frag[:len(frag)-1]
			pendingCR = true
		}
		r.add(ln, frag, keep)
	}
}

func (r *lineReader) add(ln *line, b []byte, keep int) {
	if room := keep - len(ln.text); room > 0 {
		take := min(room, len(b))
		ln.text = append(ln.text, b[:take]...)
		b = b[take:]
	}
	if len(b) > 0 {
		ln.long = true
		if ln.wsTail {
			ln.wsTail = isWSP(b)
		}
	}
}

// fragment returns the next piece of a line: up to and including LF
// (complete) or as much as the buffer holds. ok is false at the end.
func (r *lineReader) fragment() (frag []byte, complete, ok bool) {
	if r.br == nil {
		if len(r.src) == 0 {
			r.src, r.then = r.then, nil
		}
		if len(r.src) == 0 {
			return nil, false, false
		}
		i := bytes.IndexByte(r.src, '\n')
		if i < 0 {
			frag, r.src = r.src, nil
			return frag, false, true
		}
		frag, r.src = r.src[:i+1], r.src[i+1:]
		return frag, true, true
	}
	if r.err != nil {
		return nil, false, false
	}
	frag, err := r.br.ReadSlice('\n')
	switch {
	case err == nil:
		return frag, true, true
	case errors.Is(err, bufio.ErrBufferFull):
		return frag, false, true
	case err != io.EOF:
		r.err = err
	}
	return frag, false, len(frag) > 0
}

// rest reads the input to its end and returns the LFs in it, in
// passes of bytes.Count over whole buffers instead of a line at a time.
func (r *lineReader) rest() int64 {
	if r.eof {
		return 0
	}
	r.eof = true
	var n int64
	if r.br == nil {
		for _, b := range [][]byte{r.src, r.then} {
			n += int64(bytes.Count(b, newline))
			r.off += int64(len(b))
		}
		r.src, r.then = nil, nil
		return n
	}
	for r.err == nil {
		b, err := r.br.Peek(r.br.Size())
		n += int64(bytes.Count(b, newline))
		r.off += int64(len(b))
		r.br.Discard(len(b))
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if err != io.EOF {
				r.err = err
			}
			break
		}
	}
	return n
}

var newline = []byte{'\n'}

func isWSP(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}
