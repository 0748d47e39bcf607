package lmtp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// The DATA reader (RFC 5321 §4.1.1.4, §4.5.2). It replaced go-smtp's,
// which lost track of line starts after a bare CR: "\r\r\n.\r\n" did not
// end the data, and the commands that followed were stored in the
// message (SMTP smuggling).
//
// Rules:
//   - The data ends at the first line that is exactly ".\r\n" and
//     follows a line ending in CRLF (or opens the data): where the octets
//     CRLF "." CRLF first appear, as the MTA in front of us sees them.
//   - A bare LF or a bare CR ends nothing: "\n.\n", "\n.\r\n" and
//     "\r.\r\n" are message content, stored canonically by delivery.
//   - A leading dot is removed (dot-unstuffing) only where the end could
//     have been, at the start of a line after CRLF.
//   - After a size or line-length error the reader still reads to the end
//     of the data, so the next command is read as a command; so it does
//     after the sink failed (a spool file that could not be written).
//   - Nothing is held here: every fragment goes to the sink as it is
//     read (the session's spool.Writer, which keeps a large message in a
//     file), and nothing more once the data is refused.
//   - A sink with WriteLine (the spool.Writer) is given each fragment
//     there: one LF at most, at its end, as ReadSlice found it, so the
//     spool need not search the octets for LFs again.

var (
	errDataTooBig  = errors.New("message too big")
	errLineTooLong = errors.New("line too long")
	errSink        = errors.New("message not kept")
)

// lineWriter is a sink that takes a fragment of a line (no LF but as
// its last octet) without looking for LFs in it: spool.Writer.WriteLine.
type lineWriter interface {
	WriteLine(p []byte) (int, error)
}

// readData reads one DATA body from br and writes it unstuffed, its line
// ends as sent, to w. maxSize bounds the message, maxLine one line (CRLF
// excluded). On errDataTooBig, errLineTooLong or errSink (w failed) the
// data was read to its end and the stream is in sync; any other error is
// the connection's.
func readData(br *bufio.Reader, w io.Writer, maxSize int64, maxLine int) error {
	write := w.Write
	if lw, ok := w.(lineWriter); ok {
		write = lw.WriteLine
	}
	var (
		size int64 // octets written to w
		// lineStart: the next octet begins a line; afterCRLF: the line
		// before it ended in CRLF (true at the start: the CRLF of DATA).
		lineStart, afterCRLF = true, true
		lineLen              int
		// last is the final octet of the previous fragment of this line,
		// for a CR and an LF split across fragments.
		last     byte
		fail     error
		overLine bool
	)
	for {
		frag, err := br.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		complete := err == nil
		if lineStart && afterCRLF && complete && string(frag) == ".\r\n" {
			break
		}
		endsCRLF := false
		if complete {
			n := len(frag)
			endsCRLF = (n >= 2 && frag[n-2] == '\r') || (n == 1 && last == '\r')
		}
		if len(frag) > 0 {
			last = frag[len(frag)-1]
		}
		data := frag
		if lineStart && afterCRLF && len(data) > 0 && data[0] == '.' {
			data = data[1:]
		}
		lineLen += len(frag)
		if lineLen > maxLine+2 {
			overLine = true
		}
		if fail == nil && overLine {
			fail = errLineTooLong
		}
		if fail == nil && size+int64(len(data)) > maxSize {
			fail = errDataTooBig
		}
		if fail == nil {
			// What is read after a failure is dropped: none of it held.
			if _, err := write(data); err != nil {
				fail = fmt.Errorf("%w: %w", errSink, err)
			}
			size += int64(len(data))
		}
		lineStart = complete
		if complete {
			afterCRLF, lineLen, last, overLine = endsCRLF, 0, 0, false
		}
	}
	return fail
}
