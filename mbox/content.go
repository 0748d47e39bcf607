package mbox

import (
	"bytes"
	"strings"
	"time"

	"github.com/storaged/storaged/folder"
)

// stateFields are the header fields mbox tools keep their own state in;
// they are not part of the message. Lines is among them because mutt
// writes it (with Content-Length) into every message from the first one
// it changes: left in, a message we delivered would no longer read back
// as the bytes the index has cached for it.
var stateFields = []string{"Status", "X-Status", "X-Keywords", "X-UID", "X-IMAP", "X-IMAPbase", "Content-Length", "Lines", "X-Storaged-Length", "X-Storaged-Key", unterminatedField}

// unterminatedField marks a message whose last line has no line break:
// the one before the separator is ours, and goes on reading. A marker,
// not a length, because other programs add header fields (mutt: Status,
// Content-Length, Lines) and would leave a length wrong; the line break
// itself they keep, counted in their Content-Length as part of the body.
// (Records written before it carry X-Storaged-Length, a length from the
// line after it, still read; see storagedLength.)
const unterminatedField = "X-Storaged-Unterminated"

func isStateField(l []byte) bool {
	for _, f := range stateFields {
		if _, ok := fieldValue(l, f); ok {
			return true
		}
	}
	return false
}

// Content returns a record's message as stored (line ends as in the file):
// without the From_ line and the state fields, mboxrd quoting undone.
func Content(b []byte, r Record) []byte {
	out := make([]byte, 0, r.End-r.Body)
	contentTo(b, r, func(p []byte) { out = append(out, p...) })
	return out
}

// contentTo hands Content's bytes to put, in pieces of b (or constants)
// that it does not copy: a scan checksums every message another program
// wrote, and copying 100 MB to hash it would double the scan's cost.
func contentTo(b []byte, r Record, put func([]byte)) {
	// The last piece waits, so that an unterminated message can lose
	// the line break we added after it.
	var pend []byte
	emit := func(p []byte) {
		if len(p) == 0 {
			return
		}
		if pend != nil {
			put(pend)
		}
		pend = p
	}
	src := b[r.Body:r.End]
	unterminated := false
	for len(src) > 0 {
		n := bytes.IndexByte(src, '\n') + 1
		if n == 0 {
			n = len(src)
		}
		l := src[:n]
		src = src[n:]
		bare := bytes.TrimRight(l, "\r\n")
		if len(bare) == 0 {
			emit(l)
			break // the body follows
		}
		if isStateField(bare) {
			// State fields never fold; a line after one that starts
			// with a space belongs to the message.
			if _, ok := fieldValue(bare, unterminatedField); ok {
				unterminated = true
			}
			continue
		}
		if rest, ok := bytes.CutPrefix(l, []byte(escapePrefix)); ok && isEscaped(rest) {
			emit(rest)
			continue
		}
		emitLine(l, emit)
	}
	bodyTo(src, emit)
	if unterminated {
		pend = bytes.TrimSuffix(pend, []byte("\n"))
	}
	if len(pend) > 0 {
		put(pend)
	}
}

// emitLine emits one line with mboxrd quoting undone.
func emitLine(l []byte, emit func([]byte)) {
	if isQuotedFrom(l) {
		l = l[1:]
	}
	emit(l)
}

// bodyTo emits a body with mboxrd quoting undone, jumping from one line
// that starts with '>' to the next: most bodies have none.
func bodyTo(body []byte, emit func([]byte)) {
	done := 0 // body[:done] is emitted
	i := 0    // the start of a line that begins with '>'
	if len(body) == 0 || body[0] != '>' {
		k := bytes.Index(body, []byte("\n>"))
		if k < 0 {
			emit(body)
			return
		}
		i = k + 1
	}
	for {
		if isQuotedFrom(body[i:]) {
			emit(body[done:i])
			done = i + 1
		}
		k := bytes.Index(body[i+1:], []byte("\n>"))
		if k < 0 {
			break
		}
		i += 1 + k + 1
	}
	emit(body[done:])
}

// isQuotedFrom tells whether a line matches ^>+From (mboxrd).
func isQuotedFrom(l []byte) bool {
	i := 0
	for i < len(l) && l[i] == '>' {
		i++
	}
	return i > 0 && bytes.HasPrefix(l[i:], []byte("From "))
}

// escapePrefix hides a message's own state fields when we store it: a
// "Status:" of the message's header is written "X-Storaged-Orig-Status:"
// (and one already so written gets the prefix once more, as mboxrd
// quotes From_ lines), so that it is neither taken for flags nor lost.
const escapePrefix = "X-Storaged-Orig-"

// isEscaped tells whether a header line, with one escape prefix removed,
// is a state field or still an escaped one.
func isEscaped(l []byte) bool {
	for {
		if isStateField(bytes.TrimRight(l, "\r\n")) {
			return true
		}
		rest, ok := bytes.CutPrefix(l, []byte(escapePrefix))
		if !ok {
			return false
		}
		l = rest
	}
}

// needsQuote tells whether a line matches ^>*From (mboxrd).
func needsQuote(l []byte) bool {
	i := 0
	for i < len(l) && l[i] == '>' {
		i++
	}
	return bytes.HasPrefix(l[i:], []byte("From "))
}

// Flags reads the flags the state fields of a record's header record.
func Flags(b []byte, r Record) folder.Flags {
	var f folder.Flags
	src := b[r.Body:r.End]
	for len(src) > 0 {
		l := line(src, 0)
		adv := bytes.IndexByte(src, '\n') + 1
		if adv == 0 {
			adv = len(src)
		}
		src = src[adv:]
		if len(l) == 0 {
			break
		}
		if v, ok := fieldValue(l, "Status"); ok && strings.Contains(v, "R") {
			f.Sys |= folder.Seen
		}
		if v, ok := fieldValue(l, "X-Status"); ok {
			for _, c := range v {
				switch c {
				case 'A':
					f.Sys |= folder.Answered
				case 'F':
					f.Sys |= folder.Flagged
				case 'T':
					f.Sys |= folder.Draft
				case 'D':
					f.Sys |= folder.Deleted
				}
			}
		}
		if v, ok := fieldValue(l, "X-Keywords"); ok {
			for _, k := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
				f.Keywords = append(f.Keywords, k)
			}
		}
	}
	f.Keywords = folder.NormalizeKeywords(f.Keywords)
	return f
}

// stateLines are the state fields that record flags.
func stateLines(f folder.Flags) []byte {
	var b bytes.Buffer
	b.WriteString("Status: ")
	if f.Sys.Has(folder.Seen) {
		b.WriteByte('R')
	}
	b.WriteString("O\n")
	var x []byte
	for _, p := range []struct {
		flag folder.SysFlags
		c    byte
	}{{folder.Answered, 'A'}, {folder.Flagged, 'F'}, {folder.Draft, 'T'}, {folder.Deleted, 'D'}} {
		if f.Sys.Has(p.flag) {
			x = append(x, p.c)
		}
	}
	if len(x) > 0 {
		b.WriteString("X-Status: ")
		b.Write(x)
		b.WriteByte('\n')
	}
	if len(f.Keywords) > 0 {
		b.WriteString("X-Keywords: ")
		b.WriteString(strings.Join(f.Keywords, " "))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// fromLine formats a From_ line. A sender with spaces or controls (a
// quoted local part) has them replaced, so that the line still parses.
func fromLine(sender string, date time.Time) []byte {
	if sender == "" {
		sender = "MAILER-DAEMON"
	}
	sender = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return '_'
		}
		return r
	}, sender)
	if date.IsZero() {
		date = time.Now()
	}
	return []byte("From " + sender + " " + date.UTC().Format("Mon Jan _2 15:04:05 2006") + "\n")
}

// AppendRecord appends to dst the record of a message (data as it is to
// be stored, LF or CRLF) with state fields for flags when withFlags.
func AppendRecord(dst []byte, sender string, date time.Time, data []byte, flags folder.Flags, withFlags bool) []byte {
	return appendRecord(dst, fromLine(sender, date), "", data, flags, withFlags)
}

// appendRecord writes a record with a given From_ line (with its line
// end) and, when key is set, our key field.
func appendRecord(dst, from []byte, key string, data []byte, flags folder.Flags, withFlags bool) []byte {
	var body bytes.Buffer
	if key != "" {
		body.WriteString("X-Storaged-Key: " + key + "\n")
	}
	unterminated := len(data) == 0 || data[len(data)-1] != '\n'
	if unterminated {
		body.WriteString(unterminatedField + ": yes\n")
	}
	if withFlags {
		body.Write(stateLines(flags))
	}
	inHeader := true
	for src := data; len(src) > 0; {
		n := bytes.IndexByte(src, '\n') + 1
		if n == 0 {
			n = len(src)
		}
		l := src[:n]
		if inHeader {
			if len(bytes.TrimRight(l, "\r\n")) == 0 {
				inHeader = false
			} else if isEscaped(l) {
				body.WriteString(escapePrefix)
			}
		}
		if needsQuote(l) {
			body.WriteByte('>')
		}
		body.Write(l)
		src = src[n:]
	}
	dst = append(dst, from...)
	dst = append(dst, body.Bytes()...)
	if unterminated {
		dst = append(dst, '\n')
	}
	return append(dst, '\n')
}

// storedKey returns the X-Storaged-Key field among the state fields at
// the top of a record.
func storedKey(b []byte, r Record) string {
	p := r.Body
	if _, after, ok := storagedLength(b, p); ok {
		p = after
	}
	for p < r.End {
		l := line(b[:r.End], p)
		if v, ok := fieldValue(l, "X-Storaged-Key"); ok {
			return strings.TrimSpace(v)
		}
		if !isStateField(l) {
			return ""
		}
		p += len(l) + 1
		if p <= r.End && p-1 < len(b) && b[p-1] == '\r' {
			p++
		}
	}
	return ""
}

// StripState returns msg, a message with no From_ line and no mboxrd
// quoting (an MMDF message: its separators are ^A lines, so its body is
// never quoted), without the header's state fields, every other octet as
// it was.
func StripState(msg []byte) []byte {
	out := make([]byte, 0, len(msg))
	src := msg
	for len(src) > 0 {
		n := bytes.IndexByte(src, '\n') + 1
		if n == 0 {
			n = len(src)
		}
		l := src[:n]
		bare := bytes.TrimRight(l, "\r\n")
		if len(bare) == 0 {
			break // the body follows, as it is
		}
		src = src[n:]
		if !isStateField(bare) {
			out = append(out, l...)
		}
	}
	return append(out, src...)
}
