package message

// How the parser reads a message (the rules a change must keep):
//   - One pass, a line at a time, with an explicit stack of the parts that
//     are open (root … innermost); no recursion, so depth costs no stack.
//   - A line starting with "--" is tested against the boundaries of the
//     open multiparts, innermost first (RFC 2046 §5.1.2: an inner
//     boundary must not be taken for an outer one). A delimiter line is
//     "--" boundary, then optionally "--", then only SP/HT (RFC 2046
//     §5.1.1); "--abc" is never a delimiter of boundary "ab".
//   - The line break before a delimiter belongs to the delimiter, so a
//     part ends before it; the empty line ending a header belongs to the
//     header and is never given away.
//   - A delimiter of an outer multipart ends every part inside it, even
//     one still in its header; the end of input ends every open part (a
//     missing close delimiter is no error).
//   - Only header fields the ENVELOPE and BODYSTRUCTURE need are kept,
//     the first of each name, each cut at MaxFieldSize: memory is one
//     line plus those fields, whatever the input.
//   - The top-level envelope's header facts (Envelope.Field) say what
//     ParseHeaderBlock would find, or nothing: a fact is recorded only
//     where this parse and that one provably read the header alike.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Header fields the parser keeps; the envelope ones only for the root and
// for embedded messages.
const (
	hContentType = iota
	hEncoding
	hID
	hDescription
	hMD5
	hDisposition
	hLanguage
	hLocation
	hDate // envelope fields from here on
	hSubject
	hFrom
	hSender
	hReplyTo
	hTo
	hCc
	hBcc
	hInReplyTo
	hMessageID
	numFields
)

func fieldID(name []byte, envelope bool) int {
	if len(name) < 2 || len(name) > 25 {
		return -1
	}
	var buf [25]byte
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	id := -1
	switch string(buf[:len(name)]) {
	case "content-type":
		id = hContentType
	case "content-transfer-encoding":
		id = hEncoding
	case "content-id":
		id = hID
	case "content-description":
		id = hDescription
	case "content-md5":
		id = hMD5
	case "content-disposition":
		id = hDisposition
	case "content-language":
		id = hLanguage
	case "content-location":
		id = hLocation
	case "date":
		id = hDate
	case "subject":
		id = hSubject
	case "from":
		id = hFrom
	case "sender":
		id = hSender
	case "reply-to":
		id = hReplyTo
	case "to":
		id = hTo
	case "cc":
		id = hCc
	case "bcc":
		id = hBcc
	case "in-reply-to":
		id = hInReplyTo
	case "message-id":
		id = hMessageID
	}
	if id >= hDate && !envelope {
		return -1
	}
	return id
}

// header collects the kept fields of the header block being read.
type header struct {
	vals     [numFields][]byte
	seen     [numFields]bool
	dup      [numFields]bool // a second field of the name came
	cut      [numFields]bool // the value was cut (MaxFieldSize, MaxHeaderSize)
	cur      int             // field a continuation line extends, or -1
	total    int
	envelope bool
	// odd: a line that ParseHeaderBlock may read otherwise, so no header
	// facts: a line longer than the parse keeps (its colon or value may
	// lie beyond), or an 8-bit field name (strings.EqualFold, which
	// SEARCH HEADER uses, takes "ſubject" for Subject; fieldID does not).
	odd bool
}

func (h *header) reset(envelope bool) {
	for i := range h.vals {
		h.vals[i] = h.vals[i][:0]
	}
	h.seen, h.dup, h.cut = [numFields]bool{}, [numFields]bool{}, [numFields]bool{}
	h.cur, h.total, h.envelope, h.odd = -1, 0, envelope, false
}

// line takes one header line (without its line break). Unfolding (RFC
// 5322 §2.2.3) is just joining a field's lines without their breaks. A
// line that is neither a field nor a continuation is skipped rather than
// taken for the end of the header, so mail from broken clients keeps its
// real fields; only an empty line ends a header.
func (h *header) line(text []byte) {
	if len(text) > 0 && (text[0] == ' ' || text[0] == '\t') {
		if h.cur >= 0 {
			h.keep(text)
		}
		return
	}
	h.cur = -1
	i := bytes.IndexByte(text, ':')
	if i < 0 {
		return
	}
	name := bytes.TrimRight(text[:i], " \t")
	if h.envelope && !isASCII(name) {
		h.odd = true
	}
	id := fieldID(name, h.envelope)
	if id < 0 {
		return
	}
	if h.seen[id] {
		h.dup[id] = true
		return // the first field of a name wins (Content-Type given thrice)
	}
	h.seen[id], h.cur = true, id
	h.keep(bytes.TrimLeft(text[i+1:], " \t"))
}

func (h *header) keep(b []byte) {
	room := min(MaxFieldSize-len(h.vals[h.cur]), MaxHeaderSize-h.total)
	if len(b) > room {
		h.cut[h.cur] = true
	}
	if room <= 0 {
		return
	}
	b = b[:min(len(b), room)]
	h.vals[h.cur] = append(h.vals[h.cur], b...)
	h.total += len(b)
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// facts are the header facts of a header of size octets (see
// Envelope.Field). A header longer than MaxHeaderSize gets none: a
// reader that bounds what it reads of a header (SEARCH: 64 MiB) may then
// rely on the facts when its bound is at least MaxHeaderSize.
func (h *header) facts(size int64) headerFacts {
	if h.odd || size > MaxHeaderSize {
		return 0
	}
	f := factsKnown
	for id := hDate; id < numFields; id++ {
		bit := headerFacts(1) << (id - hDate)
		if h.seen[id] {
			f |= bit
		}
		if h.seen[id] && !h.dup[id] && !h.cut[id] {
			f |= bit << factsOnce
		}
	}
	return f
}

func (h *header) get(id int) (string, bool) {
	return string(bytes.Trim(h.vals[id], " \t")), h.seen[id]
}

func (h *header) str(id int) string {
	s, _ := h.get(id)
	return s
}

func (h *header) addrs(id int) []Address {
	if !h.seen[id] {
		return nil
	}
	return ParseAddressList(h.str(id))
}

func (h *header) envelopeOf() Envelope {
	e := Envelope{
		Date: h.str(hDate), Subject: h.str(hSubject),
		From: h.addrs(hFrom), Sender: h.addrs(hSender), ReplyTo: h.addrs(hReplyTo),
		To: h.addrs(hTo), Cc: h.addrs(hCc), Bcc: h.addrs(hBcc),
		InReplyTo: h.str(hInReplyTo), MessageID: h.str(hMessageID),
	}
	if t, ok := ParseDate(e.Date); ok {
		e.Time = t
	}
	// RFC 9051 §7.5.2: the server fills Sender and Reply-To from From.
	if len(e.Sender) == 0 {
		e.Sender = e.From
	}
	if len(e.ReplyTo) == 0 {
		e.ReplyTo = e.From
	}
	return e
}

type frameKind uint8

const (
	leaf frameKind = iota
	multipart
	embedded // message/rfc822 or message/global with a parsed message
)

// frame is an open part.
type frame struct {
	p          *Part
	depth      int
	kind       frameKind
	boundary   []byte // multipart, until its close delimiter
	digest     bool   // multipart/digest: parts default to message/rfc822
	inDigest   bool
	envelope   bool // the header is a message's: keep the envelope fields
	countLines bool
	bodyLF     int64 // line feeds before the body
}

type parser struct {
	lr       lineReader
	hdr      header
	stack    []*frame
	info     *Info
	parts    int
	capped   bool // MaxParts reached: boundaries are no longer looked for
	inHeader bool // the innermost part is in its header
	lf       int64
	// prevEOL is the line break of the last line the innermost part read,
	// which a delimiter takes; 0 when it has read none or the last was
	// the empty line ending its header.
	prevEOL int
}

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}

// Parse reads a message in canonical form (see NewCRLFReader) and returns
// its structure. It holds one line and the kept header fields in memory,
// never the message. The error is a read error; no content is an error.
func Parse(r io.Reader) (*Info, error) {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() { br.Reset(nil); readers.Put(br) }()
	p := &parser{lr: lineReader{br: br}}
	info := p.run()
	if p.lr.err != nil {
		return nil, fmt.Errorf("message: read: %w", p.lr.err)
	}
	return info, nil
}

// ParseBytes is Parse over a message in memory. It never fails; the error
// is there to match Parse.
func ParseBytes(b []byte) (*Info, error) {
	p := &parser{lr: lineReader{src: b}}
	return p.run(), nil
}

// ParsePieces is ParseBytes of head followed by body, without the copy
// that joining them would cost (a delivery's trace fields, then the
// received message). head is empty or ends in LF, so that no line is
// split between the two: a line split there would be read as two
// fragments, and the first alone decides whether a body line may be a
// delimiter (lineReader.next).
func ParsePieces(head, body []byte) (*Info, error) {
	if len(head) > 0 && head[len(head)-1] != '\n' {
		return ParseBytes(append(head[:len(head):len(head)], body...))
	}
	p := &parser{lr: lineReader{src: head, then: body}}
	return p.run(), nil
}

func (ps *parser) run() *Info {
	ps.info = &Info{}
	ps.parts = 1
	root := &frame{p: &Part{}, envelope: true}
	ps.info.Body = root.p
	ps.stack = append(ps.stack, root)
	ps.inHeader = true
	ps.hdr.reset(true)
	for {
		keep, dashOnly := 4+MaxBoundary, true
		if ps.inHeader {
			// Room for the field name, so a value can be kept whole.
			keep, dashOnly = MaxFieldSize+256, false
		}
		if !ps.inHeader && !skipOff && ps.opaque() {
			// No line of the rest can be a delimiter or a header: it
			// only adds octets and lines to the parts open, and is
			// counted at once, not split into lines.
			ps.lf += ps.lr.rest()
			break
		}
		if !ps.lr.next(keep, dashOnly) {
			break
		}
		ln := &ps.lr.ln
		if !ps.capped && len(ln.text) >= 2 && ln.text[0] == '-' && ln.text[1] == '-' {
			if k, closing := ps.findDelimiter(ln); k >= 0 {
				ps.delimiter(k, closing, ln)
				continue
			}
		}
		if ln.eol > 0 {
			ps.lf++
		}
		if ps.inHeader {
			if ln.eol > 0 && len(ln.text) == 0 && !ln.long {
				ps.endHeader(ln.start + ln.n)
				ps.prevEOL = 0
				continue
			}
			if ln.long {
				ps.hdr.odd = true
			}
			ps.hdr.line(ln.text)
		}
		ps.prevEOL = ln.eol
	}
	ps.closeTo(-1, ps.lr.off, false)
	ps.info.Size = ps.lr.off
	ps.info.Lines = ps.lf
	ps.info.HeaderSize = ps.info.Body.BodyOffset
	ps.info.Date = ps.info.Envelope.Time
	return ps.info
}

// skipOff turns opaque's shortcut off, for tests to compare the results
// with and without it.
var skipOff bool

// opaque tells whether the rest of the input is body that no delimiter
// can end: no multipart open has a boundary still to come, or the parts
// are capped (MaxParts: delimiters are no longer looked for).
func (ps *parser) opaque() bool {
	if ps.capped {
		return true
	}
	for _, f := range ps.stack {
		if f.boundary != nil {
			return false
		}
	}
	return true
}

// findDelimiter returns the index in the stack of the multipart whose
// delimiter ln is, innermost first, or -1.
func (ps *parser) findDelimiter(ln *line) (int, bool) {
	for i := len(ps.stack) - 1; i >= 0; i-- {
		f := ps.stack[i]
		if f.boundary == nil {
			continue
		}
		b := f.boundary
		t := ln.text
		if len(t) < 2+len(b) || !bytes.Equal(t[2:2+len(b)], b) {
			continue
		}
		rest := t[2+len(b):]
		closing := len(rest) >= 2 && rest[0] == '-' && rest[1] == '-'
		if closing {
			rest = rest[2:]
		}
		if isWSP(rest) && (!ln.long || ln.wsTail) {
			return i, closing
		}
	}
	return -1, false
}

// delimiter handles a delimiter line of the multipart at stack[k].
func (ps *parser) delimiter(k int, closing bool, ln *line) {
	ps.closeTo(k, ln.start-int64(ps.prevEOL), ps.prevEOL > 0)
	if ln.eol > 0 {
		ps.lf++
	}
	f := ps.stack[k]
	if closing {
		// The epilogue is the multipart's own; its boundary is done.
		f.boundary = nil
		ps.prevEOL = ln.eol
		return
	}
	ps.open(f, ln.start+ln.n)
}

// open starts a part inside parent (a multipart or an embedded message)
// whose header begins at off.
func (ps *parser) open(parent *frame, off int64) {
	ps.parts++
	if ps.parts >= MaxParts {
		ps.capped = true
	}
	f := &frame{p: &Part{HeaderOffset: off}, depth: parent.depth + 1}
	if parent.kind == multipart {
		f.inDigest = parent.digest
		parent.p.Children = append(parent.p.Children, f.p)
	} else {
		f.envelope = true
		parent.p.Message = f.p
	}
	ps.stack = append(ps.stack, f)
	ps.inHeader = true
	ps.hdr.reset(f.envelope)
	ps.prevEOL = 0
}

// endHeader finishes the innermost part's header; its body starts at
// bodyOff. Depending on the type, the body is split (multipart), holds a
// message whose header starts right away (message/rfc822), or is opaque.
func (ps *parser) endHeader(bodyOff int64) {
	f := ps.stack[len(ps.stack)-1]
	p := f.p
	p.BodyOffset = bodyOff
	ps.inHeader = false
	ps.describe(f)
	f.bodyLF = ps.lf
	if f.envelope {
		env := ps.hdr.envelopeOf()
		if len(ps.stack) == 1 {
			// Only the top level's: SEARCH HEADER reads no other.
			env.fields = ps.hdr.facts(bodyOff)
			ps.info.Envelope = env
		} else {
			ps.stack[len(ps.stack)-2].p.Envelope = &env
		}
	}
	if f.depth >= MaxDepth || ps.capped {
		return
	}
	switch {
	case strings.EqualFold(p.Type, "multipart"):
		// Dovecot too reads a multipart without a boundary as one
		// opaque body of its declared type.
		if b := p.Param("boundary"); len(b) > 0 && len(b) <= MaxBoundary {
			f.kind = multipart
			f.boundary = []byte(b)
			f.digest = strings.EqualFold(p.Subtype, "digest")
		}
	case isMessageType(p.Type, p.Subtype):
		switch p.Encoding {
		case "7BIT", "8BIT", "BINARY":
			// Anything else (base64, quoted-printable) hides the
			// message; it stays opaque, as RFC 2046 §5.2.1 forbids it.
			f.kind = embedded
			ps.open(f, bodyOff)
		}
	}
}

func isMessageType(typ, sub string) bool {
	return strings.EqualFold(typ, "message") && (strings.EqualFold(sub, "rfc822") || strings.EqualFold(sub, "global"))
}

// describe fills the part's BODYSTRUCTURE fields from its header.
func (ps *parser) describe(f *frame) {
	h, p := &ps.hdr, f.p
	ct, hasCT := h.get(hContentType)
	var ok bool
	if hasCT {
		p.Type, p.Subtype, p.Params, ok = parseContentType(ct)
	}
	switch {
	case !hasCT && f.inDigest:
		p.Type, p.Subtype = "message", "rfc822" // RFC 2046 §5.1.5
	case !ok:
		// RFC 2045 §5.2: no or invalid Content-Type means text/plain;
		// charset=us-ascii.
		p.Type, p.Subtype, p.Params = "text", "plain", nil
	}
	if strings.EqualFold(p.Type, "text") {
		setDefaultCharset(p)
	}
	p.Encoding = "7BIT"
	if v, ok := h.get(hEncoding); ok {
		if e := parseEncoding(v); e != "" {
			p.Encoding = e
		}
	}
	p.ID = h.str(hID)
	p.Description = h.str(hDescription)
	p.MD5 = h.str(hMD5)
	p.Location = h.str(hLocation)
	if v, ok := h.get(hDisposition); ok {
		p.Disposition, p.DispositionParams = parseDisposition(v)
	}
	if v, ok := h.get(hLanguage); ok {
		p.Language = parseLanguage(v)
	}
	f.countLines = strings.EqualFold(p.Type, "text") || isMessageType(p.Type, p.Subtype)
}

// setDefaultCharset gives a text part without a charset (or with an empty
// one) charset=us-ascii, RFC 2045 §5.2's default, as Dovecot and Cyrus
// report it.
func setDefaultCharset(p *Part) {
	for i, x := range p.Params {
		if x.Name == "charset" {
			if x.Value == "" {
				p.Params[i].Value = "us-ascii"
			}
			return
		}
	}
	p.Params = append(p.Params, Param{"charset", "us-ascii"})
}

// closeTo ends every part above stack[k] at end. stolen says the last
// line's break went to a delimiter and is not in those bodies.
func (ps *parser) closeTo(k int, end int64, stolen bool) {
	for len(ps.stack) > k+1 {
		f := ps.stack[len(ps.stack)-1]
		if ps.inHeader {
			// The header ran into a delimiter or the end of input: it
			// is all header, and the body is empty. (An embedded
			// message opened here gets an empty header in turn.)
			ps.endHeader(end)
			continue
		}
		p := f.p
		p.EndOffset = end
		p.Size = end - p.BodyOffset
		if f.countLines {
			n := ps.lf - f.bodyLF
			if stolen {
				n--
			}
			p.Lines = max(n, 0)
		}
		if f.kind == multipart && len(p.Children) == 0 {
			// The boundary never came: IMAP needs one part, so give
			// the empty text/plain Dovecot writes.
			p.Children = []*Part{{Type: "text", Subtype: "plain", Params: []Param{{"charset", "us-ascii"}}, Encoding: "7BIT",
				HeaderOffset: end, BodyOffset: end, EndOffset: end}}
		}
		ps.stack[len(ps.stack)-1] = nil
		ps.stack = ps.stack[:len(ps.stack)-1]
	}
}
