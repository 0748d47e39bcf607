package pop3

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// writeStuffed copies a canonical (CRLF) message from r to w as a POP3
// multi-line body: every line that starts with "." gets another one, and
// the body ends with CRLF "." CRLF (RFC 1939 §3). With bodyLines >= 0 it
// stops after the header, the blank line and that many body lines (TOP).
// buf is scratch space, reused across messages to keep RETR free of
// allocation.
func writeStuffed(w *bufio.Writer, r io.Reader, buf []byte, bodyLines int) error {
	var (
		bol      = true // at the beginning of a line
		inHeader = true
		lineLen  int  // octets of the current line so far
		firstCR  bool // the current line began with CR
		body     int  // body lines written
		last     byte = '\n'
	)
	for {
		n, rerr := r.Read(buf)
		chunk := buf[:n]
		for len(chunk) > 0 {
			if bol {
				if !inHeader && bodyLines >= 0 && body >= bodyLines {
					return finish(w, last)
				}
				if chunk[0] == '.' {
					w.WriteByte('.')
				}
				bol, lineLen, firstCR = false, 0, chunk[0] == '\r'
			}
			i := bytes.IndexByte(chunk, '\n')
			if i < 0 {
				w.Write(chunk)
				lineLen += len(chunk)
				last = chunk[len(chunk)-1]
				break
			}
			w.Write(chunk[:i+1])
			lineLen += i
			last = '\n'
			if inHeader {
				if lineLen == 0 || lineLen == 1 && firstCR {
					inHeader = false
				}
			} else {
				body++
			}
			bol = true
			chunk = chunk[i+1:]
		}
		if rerr == io.EOF {
			return finish(w, last)
		}
		if rerr != nil {
			return rerr
		}
		if n == 0 {
			return errors.New("pop3: message reader returned nothing")
		}
	}
}

func finish(w *bufio.Writer, last byte) error {
	if last != '\n' {
		w.WriteString("\r\n")
	}
	_, err := w.WriteString(".\r\n")
	return err
}
