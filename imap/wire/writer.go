package wire

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"
)

// Writer encodes responses onto a bufio.Writer. It never flushes: the
// caller decides when (before a continuation, after a tagged response,
// while streaming a large literal the bufio.Writer flushes by itself).
// Errors are sticky: after the first write error every method does
// nothing and Err reports it.
//
// Invariants:
//   - No NUL is written inside a quoted string or a non-binary literal:
//     Literal and String write 0x80 in its place (as Dovecot does), since
//     RFC 9051 §4.3 forbids NUL there and the octet count must not change.
//   - Output is 7-bit unless SetUTF8(true) (RFC 6855 §3: after ENABLE
//     UTF8=ACCEPT); 8-bit strings otherwise go out as literals.
type Writer struct {
	bw   *bufio.Writer
	utf8 bool
	err  error
	num  [20]byte
}

// NewWriter returns a Writer over bw.
func NewWriter(bw *bufio.Writer) *Writer { return &Writer{bw: bw} }

// ErrNoBuffer is the sticky error of a Writer whose buffer was taken
// away (SetBuffer(nil)) and not given back before a write.
var ErrNoBuffer = errors.New("imap writer has no buffer")

// SetBuffer points the writer at another bufio.Writer, or, with nil, at
// none: a server gives idle connections' buffers back to a pool, so that
// thousands of IDLE connections do not each hold 64 KiB. The sticky
// error is cleared when a buffer comes back; until then every write
// fails with ErrNoBuffer.
func (w *Writer) SetBuffer(bw *bufio.Writer) {
	w.bw = bw
	if bw == nil {
		w.err = ErrNoBuffer
	} else if w.err == ErrNoBuffer {
		w.err = nil
	}
}

// SetUTF8 allows UTF-8 in quoted strings and text (RFC 6855 §3).
func (w *Writer) SetUTF8(on bool) { w.utf8 = on }

// UTF8 reports whether UTF-8 output is on.
func (w *Writer) UTF8() bool { return w.utf8 }

// Err returns the first write error.
func (w *Writer) Err() error { return w.err }

// Flush flushes the bufio.Writer.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	w.err = w.bw.Flush()
	return w.err
}

func (w *Writer) set(err error) {
	if err != nil && w.err == nil {
		w.err = err
	}
}

// Raw writes s as is: the caller guarantees it is valid protocol text.
func (w *Writer) Raw(s string) {
	if w.err == nil {
		_, err := w.bw.WriteString(s)
		w.set(err)
	}
}

// RawBytes writes b as is.
func (w *Writer) RawBytes(b []byte) {
	if w.err == nil {
		_, err := w.bw.Write(b)
		w.set(err)
	}
}

func (w *Writer) byte1(c byte) {
	if w.err == nil {
		w.set(w.bw.WriteByte(c))
	}
}

// SP writes a space.
func (w *Writer) SP() { w.byte1(' ') }

// Open and Close write "(" and ")".
func (w *Writer) Open()  { w.byte1('(') }
func (w *Writer) Close() { w.byte1(')') }

// CRLF ends a response line.
func (w *Writer) CRLF() { w.Raw("\r\n") }

// Atom writes an atom (or flag, or keyword) the caller knows to be one.
func (w *Writer) Atom(s string) { w.Raw(s) }

// Number writes a decimal number.
func (w *Writer) Number(n uint64) { w.RawBytes(strconv.AppendUint(w.num[:0], n, 10)) }

// Number32 writes a decimal number.
func (w *Writer) Number32(n uint32) { w.Number(uint64(n)) }

// maxQuoted is the longest string sent quoted; longer ones go as literals,
// which clients handle without scanning for escapes.
const maxQuoted = 1024

// CanQuote reports whether s can be sent as a quoted string: no CR, LF or
// NUL, not too long, and 7-bit unless utf8 (valid UTF-8 then).
func CanQuote(s string, utf8ok bool) bool {
	if len(s) > maxQuoted {
		return false
	}
	eight := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\r' || c == '\n' || c == 0:
			return false
		case c >= 0x80:
			eight = true
		}
	}
	return !eight || utf8ok && utf8.ValidString(s)
}

// String writes s quoted when CanQuote allows, else as a literal.
func (w *Writer) String(s string) {
	if !CanQuote(s, w.utf8) {
		w.literalString(s)
		return
	}
	w.quoted(s)
}

// Quoted is String: a string that cannot be quoted still goes as a
// literal, so that the output is never invalid.
func (w *Writer) Quoted(s string) { w.String(s) }

func (w *Writer) quoted(s string) {
	if w.err != nil {
		return
	}
	w.byte1('"')
	start := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			w.Raw(s[start:i])
			w.byte1('\\')
			start = i
		}
	}
	w.Raw(s[start:])
	w.byte1('"')
}

// NString writes s, or NIL when isNil.
func (w *Writer) NString(s string, isNil bool) {
	if isNil {
		w.Raw("NIL")
		return
	}
	w.String(s)
}

// AString writes s as an atom when it is one (and not NIL), else as String.
func (w *Writer) AString(s string) {
	ok := s != "" && !(len(s) == 3 && equalFold(s, "NIL"))
	for i := 0; i < len(s) && ok; i++ {
		ok = isAStringChar(s[i]) && s[i] < 0x80
	}
	if ok {
		w.Raw(s)
		return
	}
	w.String(s)
}

func (w *Writer) literalHeader(n int64, binary bool) {
	if binary {
		w.byte1('~')
	}
	w.byte1('{')
	w.RawBytes(strconv.AppendInt(w.num[:0], n, 10))
	w.Raw("}\r\n")
}

func (w *Writer) literalString(s string) {
	w.literalHeader(int64(len(s)), false)
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			w.Raw(s[start:i])
			w.byte1(0x80)
			start = i + 1
		}
	}
	w.Raw(s[start:])
}

// LiteralBytes writes b as a literal, NUL replaced.
func (w *Writer) LiteralBytes(b []byte) { w.literalString(string(b)) }

// ErrShortLiteral means a literal's reader ended before its announced
// length: the response stream is then broken and the connection must be
// closed.
var ErrShortLiteral = errors.New("literal source shorter than its length")

// Literal writes "{n}" CRLF and exactly n octets from r, NUL replaced by
// 0x80. An error leaves the output mid-literal: the caller must close.
func (w *Writer) Literal(n int64, r io.Reader) error { return w.literal(n, r, false) }

// Literal8 writes "~{n}" CRLF and n octets from r unchanged (RFC 3516
// §4.2: BINARY[] data may contain NUL).
func (w *Writer) Literal8(n int64, r io.Reader) error { return w.literal(n, r, true) }

func (w *Writer) literal(n int64, r io.Reader, binary bool) error {
	w.literalHeader(n, binary)
	if w.err != nil {
		return w.err
	}
	var src io.Reader = io.LimitReader(r, n)
	if !binary {
		src = nulFilter{src}
	}
	k, err := io.Copy(w.bw, src)
	if err == nil && k < n {
		err = ErrShortLiteral
	}
	w.set(err)
	return err
}

type nulFilter struct{ r io.Reader }

func (f nulFilter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	ReplaceNUL(p[:n])
	return n, err
}

// ReplaceNUL replaces each NUL in b with 0x80, in place.
func ReplaceNUL(b []byte) {
	for i, c := range b {
		if c == 0 {
			b[i] = 0x80
		}
	}
}

// ContainsNUL reports whether b holds a NUL.
func ContainsNUL(b []byte) bool {
	for _, c := range b {
		if c == 0 {
			return true
		}
	}
	return false
}

// Untagged starts an untagged response: "* ".
func (w *Writer) Untagged() { w.Raw("* ") }

// Continuation writes "+ text" CRLF (RFC 9051 §7.5).
func (w *Writer) Continuation(text string) {
	w.Raw("+ ")
	w.text(text)
	w.CRLF()
}

// Status writes a complete status response: tag ("" for "*"), kind (OK,
// NO, BAD, PREAUTH, BYE), an optional response code written inside
// "[...]" as given (e.g. "UIDNEXT 5"), and human-readable text.
func (w *Writer) Status(tag, kind, code, text string) {
	if tag == "" {
		tag = "*"
	}
	w.Raw(tag)
	w.SP()
	w.Raw(kind)
	w.SP()
	if code != "" {
		w.byte1('[')
		w.Raw(code)
		w.Raw("] ")
	}
	if text == "" {
		text = kind // RFC 9051 §9: text is 1*TEXT-CHAR
	}
	if code == "" && text[0] == '[' {
		w.byte1(' ') // a leading "[" would be read as a response code
	}
	w.text(text)
	w.CRLF()
}

// text writes resp-text: CR, LF, NUL (and 8-bit octets unless UTF-8 is
// on and the text valid UTF-8) become "?", so a message built from client
// input cannot end the line early.
func (w *Writer) text(s string) {
	utf8ok := w.utf8 && utf8.ValidString(s)
	start := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\r' || c == '\n' || c == 0 || c >= 0x80 && !utf8ok {
			w.Raw(s[start:i])
			w.byte1('?')
			start = i + 1
		}
	}
	w.Raw(s[start:])
}
