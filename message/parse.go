package message

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MaxDepth bounds MIME nesting. Deeper parts are kept as opaque leaves:
// enough for any real message, and it bounds recursion on hostile ones.
const MaxDepth = 64

// Envelope is the IMAP ENVELOPE (RFC 9051 §7.5.2): raw header values, ""
// for an absent field, addresses parsed. Sender and ReplyTo default to
// From, as the RFC tells servers to fill them.
type Envelope struct {
	Date, Subject string
	// Time is Date parsed (ParseDate), zero when it cannot be: parsed
	// once here rather than on every FETCH.
	Time                               time.Time
	From, Sender, ReplyTo, To, Cc, Bcc []Address
	InReplyTo, MessageID               string
}

// Param is one MIME parameter.
type Param struct{ Name, Value string }

// Part is one node of the MIME tree, with what IMAP BODYSTRUCTURE reports
// and where its bytes are.
type Part struct {
	Type, Subtype     string // as written; defaults text/plain (RFC 2045 §5.2)
	Params            []Param
	ID, Description   string
	Encoding          string // default 7BIT
	MD5               string
	Disposition       string
	DispositionParams []Param
	Language          []string
	Location          string
	Size              int64 // octets of the body
	Lines             int64 // text/* and message/rfc822
	Children          []*Part
	Envelope          *Envelope // message/rfc822
	Message           *Part     // message/rfc822: the embedded message's body
	// Offsets in the whole message: the part's MIME header, its body, and
	// the end of its body.
	HeaderOffset, BodyOffset, EndOffset int64
}

// IsMultipart reports whether p has children.
func (p *Part) IsMultipart() bool { return strings.EqualFold(p.Type, "multipart") }

// Param returns a parameter's value.
func (p *Part) Param(name string) string {
	for _, x := range p.Params {
		if strings.EqualFold(x.Name, name) {
			return x.Value
		}
	}
	return ""
}

// Info is everything the index caches about a message.
type Info struct {
	Envelope   Envelope
	Body       *Part
	Size       int64
	HeaderSize int64
	Date       time.Time // the Date field, zero when absent or unreadable
}

// Parse reads a canonical message and parses it.
func Parse(r io.Reader) (*Info, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("message: read: %w", err)
	}
	return ParseBytes(b)
}

// ParseBytes parses a message in canonical form. It does not fail on
// content; the error is for future streaming sources.
func ParseBytes(b []byte) (*Info, error) {
	p := &parser{buf: b}
	hdr, bodyOff := splitHeader(b)
	h := parseHeader(hdr)
	info := &Info{Size: int64(len(b)), HeaderSize: int64(bodyOff)}
	info.Envelope = envelope(h)
	info.Date = info.Envelope.Time
	info.Body = p.part(0, len(b), h, bodyOff, 0, false)
	return info, nil
}

type parser struct {
	buf   []byte
	parts int
}

// maxParts bounds the parts of one message; past it, multiparts become
// opaque. 10,000 real parts still fit.
const maxParts = 20000

func envelope(h Header) Envelope {
	get := func(n string) string { v, _ := h.Get(n); return v }
	addrs := func(n string) []Address {
		v, ok := h.Get(n)
		if !ok {
			return nil
		}
		return ParseAddressList(v)
	}
	e := Envelope{
		Date: get("Date"), Subject: get("Subject"),
		From: addrs("From"), Sender: addrs("Sender"), ReplyTo: addrs("Reply-To"),
		To: addrs("To"), Cc: addrs("Cc"), Bcc: addrs("Bcc"),
		InReplyTo: get("In-Reply-To"), MessageID: get("Message-ID"),
	}
	if t, ok := ParseDate(e.Date); ok {
		e.Time = normTime(t.Unix(), t)
	}
	if len(e.Sender) == 0 {
		e.Sender = e.From
	}
	if len(e.ReplyTo) == 0 {
		e.ReplyTo = e.From
	}
	return e
}

// part parses the part whose header starts at start and which ends at
// end; h and bodyOff are its parsed header and body offset (absolute).
func (p *parser) part(start, end int, h Header, bodyOff int, depth int, digest bool) *Part {
	p.parts++
	pt := &Part{HeaderOffset: int64(start), BodyOffset: int64(min(bodyOff, end)), EndOffset: int64(end), Encoding: "7BIT"}
	if bodyOff > end {
		bodyOff = end
	}
	body := p.buf[bodyOff:end]
	pt.Size = int64(len(body))
	ct, hasCT := h.Get("Content-Type")
	typ, sub, params := parseContentType(ct)
	switch {
	case !hasCT || typ == "":
		if digest {
			typ, sub = "message", "rfc822"
		} else {
			typ, sub = "text", "plain"
		}
		if !hasCT || typ == "text" {
			params = []Param{{"charset", "us-ascii"}}
		}
	case sub == "":
		// "Content-Type: text" has no subtype: RFC 2045 §5.2 says to
		// take it as text/plain.
		typ, sub, params = "text", "plain", []Param{{"charset", "us-ascii"}}
	}
	pt.Type, pt.Subtype, pt.Params = typ, sub, params
	if v, ok := h.Get("Content-Transfer-Encoding"); ok && v != "" {
		pt.Encoding = strings.ToUpper(strings.Fields(stripComments(v) + " x")[0])
		if pt.Encoding == "X" {
			pt.Encoding = "7BIT"
		}
	}
	pt.ID, _ = h.Get("Content-ID")
	pt.Description, _ = h.Get("Content-Description")
	pt.MD5, _ = h.Get("Content-MD5")
	pt.Location, _ = h.Get("Content-Location")
	if v, ok := h.Get("Content-Disposition"); ok {
		d, rest, _ := strings.Cut(v, ";")
		pt.Disposition = strings.TrimSpace(stripComments(d))
		pt.DispositionParams = parseParams(rest)
	}
	if v, ok := h.Get("Content-Language"); ok {
		for _, l := range strings.Split(stripComments(v), ",") {
			if l = strings.TrimSpace(l); l != "" {
				pt.Language = append(pt.Language, l)
			}
		}
	}
	lower := strings.ToLower(typ)
	switch {
	case lower == "multipart":
		boundary := pt.Param("boundary")
		if boundary == "" || depth >= MaxDepth || p.parts >= maxParts {
			// No boundary (or too deep): nothing delimits the parts, so
			// the body is one opaque text, as Dovecot reads it.
			pt.Type, pt.Subtype, pt.Params = "text", "plain", []Param{{"charset", "us-ascii"}}
			pt.Lines = countLines(body)
			return pt
		}
		p.multipart(pt, bodyOff, end, boundary, depth, strings.EqualFold(sub, "digest"))
	case lower == "message" && (strings.EqualFold(sub, "rfc822") || strings.EqualFold(sub, "global")):
		pt.Lines = countLines(body)
		if enc := strings.ToLower(pt.Encoding); (enc == "7bit" || enc == "8bit" || enc == "binary") && depth < MaxDepth {
			ih, ibody := splitHeader(body)
			inner := parseHeader(ih)
			env := envelope(inner)
			pt.Envelope = &env
			pt.Message = p.part(bodyOff, end, inner, bodyOff+ibody, depth+1, false)
		}
	case lower == "text":
		pt.Lines = countLines(body)
		if pt.Param("charset") == "" {
			// RFC 2045 §5.2 default, reported as Dovecot and Cyrus do.
			pt.Params = append(pt.Params, Param{"charset", "us-ascii"})
		}
	}
	return pt
}

// multipart splits the body at boundary delimiter lines (RFC 2046
// §5.1.1): "--" boundary, then optionally "--", then only white space to
// the end of the line. The CRLF before a delimiter belongs to it.
func (p *parser) multipart(pt *Part, bodyOff, end int, boundary string, depth int, digest bool) {
	delim := []byte("--" + boundary)
	var starts []int // offsets where a child's header begins
	var ends []int   // offsets where a child's body ends
	closed := false
	pos := bodyOff
	for pos < end && !closed {
		// Find the next delimiter at a line start.
		i := bytes.Index(p.buf[pos:end], delim)
		if i < 0 {
			break
		}
		at := pos + i
		lineStart := at == bodyOff || p.buf[at-1] == '\n'
		after := at + len(delim)
		if !lineStart {
			pos = after
			continue
		}
		isClose := after+1 < end && p.buf[after] == '-' && p.buf[after+1] == '-'
		rest := after
		if isClose {
			rest += 2
		}
		for rest < end && (p.buf[rest] == ' ' || p.buf[rest] == '\t') {
			rest++
		}
		lineEnd := rest
		switch {
		case rest >= end:
		case p.buf[rest] == '\r' && rest+1 < end && p.buf[rest+1] == '\n':
			lineEnd = rest + 2
		case p.buf[rest] == '\n':
			lineEnd = rest + 1
		default:
			pos = after // "--boundaryX": another boundary with our prefix
			continue
		}
		if len(starts) > 0 {
			e := at
			if e > bodyOff && p.buf[e-1] == '\n' {
				e--
				if e > bodyOff && p.buf[e-1] == '\r' {
					e--
				}
			}
			ends = append(ends, max(e, starts[len(starts)-1]))
		}
		if isClose {
			closed = true
			break
		}
		starts = append(starts, lineEnd)
		pos = lineEnd
	}
	if len(ends) < len(starts) {
		// No close delimiter: the last part runs to the end.
		ends = append(ends, end)
	}
	for i, s := range starts {
		if p.parts >= maxParts {
			break
		}
		e := ends[i]
		hb, bo := splitHeader(p.buf[s:e])
		child := p.part(s, e, parseHeader(hb), s+bo, depth+1, digest)
		pt.Children = append(pt.Children, child)
	}
	if len(pt.Children) == 0 {
		// IMAP needs at least one part in a multipart: an empty text one
		// stands for a boundary that never came.
		pt.Children = []*Part{{Type: "text", Subtype: "plain", Params: []Param{{"charset", "us-ascii"}}, Encoding: "7BIT",
			HeaderOffset: int64(end), BodyOffset: int64(end), EndOffset: int64(end)}}
	}
}

func countLines(b []byte) int64 {
	n := int64(bytes.Count(b, []byte("\n")))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

// parseContentType splits "type/subtype; params". Malformed values give
// an empty type, which the caller treats as absent.
func parseContentType(v string) (typ, sub string, params []Param) {
	t, rest, _ := strings.Cut(v, ";")
	t = strings.TrimSpace(stripComments(t))
	typ, sub, _ = strings.Cut(t, "/")
	typ, sub = strings.TrimSpace(typ), strings.TrimSpace(sub)
	if !isToken(typ) || (sub != "" && !isToken(sub)) {
		return "", "", nil
	}
	return typ, sub, parseParams(rest)
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// parseParams reads "; a=b; c="d"" with RFC 2231 continuations and
// charsets folded into one value per name where they are well-formed.
func parseParams(s string) []Param {
	var raw []Param
	for len(s) > 0 {
		s = strings.TrimLeft(s, " \t;")
		if s == "" {
			break
		}
		eq := strings.IndexByte(s, '=')
		semi := strings.IndexByte(s, ';')
		if eq < 0 || (semi >= 0 && semi < eq) {
			if semi < 0 {
				break
			}
			s = s[semi+1:]
			continue
		}
		name := strings.ToLower(strings.TrimSpace(stripComments(s[:eq])))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			val, s = b.String(), s[min(i+1, len(s)):]
		} else {
			j := strings.IndexByte(s, ';')
			if j < 0 {
				j = len(s)
			}
			val, s = strings.TrimSpace(stripComments(s[:j])), s[j:]
		}
		if name != "" {
			raw = append(raw, Param{name, val})
		}
	}
	return fold2231(raw)
}

// fold2231 joins name*0, name*1*, … and decodes name*=charset'lang'value
// (RFC 2231) into plain name=value when the charset is UTF-8 or ASCII;
// other charsets keep the encoded form under "name*". Broken sequences
// (a missing piece, a huge index) keep what arrived, in order.
func fold2231(in []Param) []Param {
	type piece struct {
		n   int
		ext bool
		v   string
	}
	pieces := map[string][]piece{}
	var order []string
	var out []Param
	for _, p := range in {
		base, idx, ok := strings.Cut(p.Name, "*")
		if !ok {
			if _, seen := pieces[base]; !seen {
				out = append(out, p)
			}
			continue
		}
		ext := strings.HasSuffix(idx, "*") || idx == ""
		idx = strings.TrimSuffix(idx, "*")
		n := 0
		if idx != "" {
			v, err := strconv.Atoi(idx)
			if err != nil || v < 0 || v > 999 {
				continue
			}
			n = v
		}
		if _, seen := pieces[base]; !seen {
			order = append(order, base)
		}
		pieces[base] = append(pieces[base], piece{n, ext, p.Value})
	}
	for _, base := range order {
		ps := pieces[base]
		sort.SliceStable(ps, func(i, j int) bool { return ps[i].n < ps[j].n })
		var b strings.Builder
		charset := ""
		for i, pc := range ps {
			v := pc.v
			if pc.ext {
				if i == 0 {
					parts := strings.SplitN(v, "'", 3)
					if len(parts) == 3 {
						charset, v = strings.ToLower(parts[0]), parts[2]
					}
				}
				if dec, err := url.PathUnescape(v); err == nil {
					v = dec
				}
			}
			b.WriteString(v)
		}
		name := base
		if charset != "" && charset != "utf-8" && charset != "us-ascii" {
			name = base + "*"
		}
		out = append(out, Param{name, b.String()})
	}
	return out
}

// normTime gives a time the form the cache decodes to, so that a parsed
// and a decoded envelope compare equal.
func normTime(sec int64, zoneOf time.Time) time.Time {
	_, off := zoneOf.Zone()
	return time.Unix(sec, 0).In(fixedZone(off))
}

func fixedZone(off int) *time.Location {
	if off == 0 {
		return time.UTC
	}
	return time.FixedZone("", off)
}
