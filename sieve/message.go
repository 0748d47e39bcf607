package sieve

import (
	"bytes"
	"mime"
	"strings"

	"github.com/emersion/go-message/charset"
	"github.com/storaged/storaged/message"
)

// Field is one header field. Value is unfolded (the CRLF of folding
// removed) with the white space after the colon dropped, still RFC 2047
// encoded. Raw is the field exactly as it came, line end included, so an
// unedited header is written back byte for byte; fields added by
// addheader have no Raw.
type Field struct {
	Name  string
	Value string
	Raw   string
}

// Message is the message a script runs against. Body is everything after
// the empty line that ends the header; Size is what the size test
// compares (RFC 5228 §5.9: the message as delivered), the length of the
// header and body when 0.
type Message struct {
	Header []Field
	Body   []byte
	Size   int64
}

// ParseMessage splits a raw message into header fields and body. Any
// bytes are a message: a header line without a colon is skipped, as the
// message package does.
func ParseMessage(raw []byte) *Message {
	m := &Message{Size: int64(len(raw))}
	b := raw
	var cur []byte
	flush := func() {
		if cur == nil {
			return
		}
		i := bytes.IndexByte(cur, ':')
		name := string(bytes.TrimRight(cur[:i], " \t"))
		if name != "" {
			m.Header = append(m.Header, Field{Name: name, Value: unfoldValue(cur[i+1:]), Raw: string(cur)})
		}
		cur = nil
	}
	for len(b) > 0 {
		j := bytes.IndexByte(b, '\n')
		var line []byte
		if j < 0 {
			line, b = b, nil
		} else {
			line, b = b[:j+1], b[j+1:]
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			flush()
			m.Body = b
			return m
		}
		if line[0] == ' ' || line[0] == '\t' {
			if cur != nil {
				cur = append(cur, line...)
			}
			continue
		}
		flush()
		if bytes.IndexByte(line, ':') > 0 {
			cur = append([]byte(nil), line...)
		}
	}
	flush()
	return m
}

func unfoldValue(v []byte) string {
	v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
	v = bytes.ReplaceAll(v, []byte("\n"), nil)
	return string(bytes.Trim(v, " \t\r"))
}

// FormatHeader writes header fields as a header block, without the empty
// line that ends it: unedited fields as they came, new ones folded
// nowhere (addheader values are one line), each ending in CRLF.
func FormatHeader(h []Field) []byte {
	var b bytes.Buffer
	for _, f := range h {
		if f.Raw != "" {
			b.WriteString(f.Raw)
			if !strings.HasSuffix(f.Raw, "\n") {
				b.WriteString("\r\n")
			}
			continue
		}
		b.WriteString(f.Name)
		b.WriteString(": ")
		b.WriteString(f.Value)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// decodeHeader decodes RFC 2047 encoded-words, as Pigeonhole does before
// any comparison. Words in an unknown charset stay as written.
func decodeHeader(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

// addr is an address as Sieve tests see it (RFC 5228 §2.7.4).
type addr struct {
	local, domain string
	null          bool // the empty address, as in MAIL FROM:<>
}

// parseAddresses reads an address header. Group markers are not
// addresses; the placeholders message writes for missing parts become
// empty parts again.
func parseAddresses(v string) []addr {
	var out []addr
	for _, a := range message.ParseAddressList(v) {
		if a.IsGroupStart() || a.IsGroupEnd() {
			continue
		}
		x := addr{local: a.Mailbox, domain: a.Host}
		if x.local == message.MissingMailbox {
			x.local = ""
		}
		if x.domain == message.MissingDomain {
			x.domain = ""
		}
		out = append(out, x)
	}
	return out
}

// parsePath reads an envelope address: a bare addr-spec, possibly in
// angle brackets; "" or "<>" is the null path.
func parsePath(s string) addr {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	if s == "" {
		return addr{null: true}
	}
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return addr{local: s}
	}
	return addr{local: s[:i], domain: s[i+1:]}
}

func (a addr) all() string {
	if a.null {
		return ""
	}
	if a.domain == "" {
		return a.local
	}
	return a.local + "@" + a.domain
}

// part returns the address part a test asks for, and false when the
// address has none (RFC 5233 §4: :detail of an address without a
// separator matches nothing).
func (a addr) part(p, sep string) (string, bool) {
	if a.null {
		return "", true // RFC 5228 §5.4: <> matches "" whatever the part
	}
	switch p {
	case "localpart":
		return a.local, true
	case "domain":
		return a.domain, true
	case "user", "detail":
		i := strings.Index(a.local, sep)
		if p == "user" {
			if i < 0 {
				return a.local, true
			}
			return a.local[:i], true
		}
		if i < 0 {
			return "", false
		}
		return a.local[i+len(sep):], true
	}
	return a.all(), true
}
