package mbox

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/spool"
)

// A spooled message (folder.NewMessage.Content) is appended as a stream:
// the record appendRecord would build is written a line at a time, twice
// (once to learn its length for the journal's intent, then into the
// file), and where the message ends within it is worked out as Split
// would find it, without the record in memory.
//
// Rules kept from appendRecord (the bytes must be the same):
//   - the stored form is the spool's StoredReader, the state fields come
//     first, a header line that reads as a state field is escaped, every
//     line that reads as a From_ line (">"* "From ") is quoted;
//   - a line is judged by its first streamLine octets: a line longer than
//     that made only of CRs, of ">" or of escape prefixes up to there is
//     the only case that could be judged otherwise, and no mail is so.
const streamLine = 64 << 10

// recordStream is one record being streamed.
type recordStream struct {
	from   []byte
	key    string
	flags  folder.Flags
	state  bool // write the state fields
	c      *spool.Content
	unterm bool
}

// result of one pass: the record's length, and the end of its message
// (Record.End, relative to the record's start).
type streamed struct {
	n, end int64
}

// write streams the record to w.
func (s *recordStream) write(w io.Writer) (streamed, error) {
	cw := &countWriter{w: w}
	bw := bufio.NewWriterSize(cw, 64<<10)
	// contentLength's scan (split.go), line by line over the record
	// after the From_ line: the last Content-Length before the first
	// empty line, and where the body after that line starts.
	cl := clScan{found: -1}
	var pos int64
	put := func(b []byte, lineStart bool) {
		bw.Write(b)
		if lineStart {
			cl.line(b, pos)
		} else {
			cl.more(b)
		}
		pos += int64(len(b))
	}
	bw.Write(s.from)
	pos = 0 // positions from the end of the From_ line
	fromLen := int64(len(s.from))
	var fields bytes.Buffer
	if s.key != "" {
		fields.WriteString("X-Storaged-Key: " + s.key + "\n")
	}
	if s.unterm {
		fields.WriteString(unterminatedField + ": yes\n")
	}
	if s.state {
		fields.Write(stateLines(s.flags))
	}
	for _, l := range bytes.SplitAfter(fields.Bytes(), []byte("\n")) {
		if len(l) > 0 {
			put(l, true)
		}
	}
	br := bufio.NewReaderSize(s.c.StoredReader(), streamLine)
	inHeader, lineStart := true, true
	var last []byte // the final octets of the record so far, for validTail
	for {
		frag, err := br.ReadSlice('\n')
		if len(frag) > 0 {
			if lineStart {
				if inHeader {
					if len(bytes.TrimRight(frag, "\r\n")) == 0 {
						inHeader = false
					} else if isEscaped(frag) {
						put([]byte(escapePrefix), true)
						lineStart = false
					}
				}
				if needsQuote(frag) {
					put([]byte{'>'}, lineStart)
					lineStart = false
				}
			}
			put(frag, lineStart)
			last = keepTail(last, frag)
		}
		lineStart = err == nil
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				break
			}
			return streamed{}, err
		}
	}
	if s.unterm {
		put([]byte{'\n'}, false)
		last = keepTail(last, []byte{'\n'})
	}
	put([]byte{'\n'}, true)
	last = keepTail(last, []byte{'\n'})
	if err := bw.Flush(); err != nil {
		return streamed{}, err
	}
	n := cw.n
	// messageEnd (split.go) on this record alone: no X-Storaged-Length;
	// a Content-Length that ends the message where one or two line
	// breaks and the end follow; else the separator, the final blank
	// line not counted. Inside the record no line reads as a From_ line
	// (all are quoted), so validTail can only succeed at its end.
	end := n - 1
	if cl.done && cl.found >= 0 {
		e := fromLen + cl.bodyStart + cl.found
		if e >= fromLen+cl.bodyStart && e <= n && n-e <= int64(len(last)) {
			if _, ok := validTail(last, len(last)-int(n-e)); ok {
				end = e
			}
		}
	}
	return streamed{n: n, end: end}, nil
}

// keepTail keeps the last four octets of what was written.
func keepTail(t, b []byte) []byte {
	t = append(t, b[max(0, len(b)-4):]...)
	return t[max(0, len(t)-4):]
}

// clScan is contentLength's loop, fed line by line.
type clScan struct {
	found     int64
	bodyStart int64
	done      bool
	cur       []byte // the line so far, up to streamLine octets
	start     int64
	long      bool
}

func (c *clScan) line(b []byte, pos int64) {
	if c.done {
		return
	}
	c.cur, c.start, c.long = append(c.cur[:0], b...), pos, false
	c.check()
}

func (c *clScan) more(b []byte) {
	if c.done {
		return
	}
	if len(c.cur)+len(b) > streamLine {
		c.long = true
		return
	}
	c.cur = append(c.cur, b...)
	c.check()
}

// check judges the current line once it is complete.
func (c *clScan) check() {
	if len(c.cur) == 0 || c.cur[len(c.cur)-1] != '\n' || c.long {
		return
	}
	l := bytes.TrimSuffix(c.cur[:len(c.cur)-1], []byte("\r"))
	if len(l) == 0 {
		c.done, c.bodyStart = true, c.start+int64(len(c.cur))
		return
	}
	if v, ok := fieldValue(l, "Content-Length"); ok {
		if x, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && x >= 0 {
			c.found = int64(x)
		}
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
