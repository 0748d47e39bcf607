package imap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/message"
	"github.com/storaged/storaged/store"
)

// The text side of SEARCH: header and body keys, read from the message
// file only when a key needs it (RFC 9051 §6.4.4: "a case-insensitive
// substring match", header values decoded, RFC 2047).

// maxSearchRead bounds how much of one message BODY and TEXT read; what
// lies beyond is not searched.
const maxSearchRead = 64 << 20

// The envelope's header facts cover headers of at most MaxHeaderSize
// octets, which readHeaderBlock reads whole: this fails to compile if
// that stops being so (cachedHeaderHas relies on it).
const _ = uint(maxSearchRead - message.MaxHeaderSize)

// maxSearchNesting bounds message/rfc822 parts searched inside each other.
const maxSearchNesting = 8

var searchWordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// decodeHeader decodes RFC 2047 encoded words; a value that does not
// decode is searched as written.
func decodeHeader(v string) string {
	if !strings.Contains(v, "=?") {
		return v
	}
	if d, err := searchWordDecoder.DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// fold maps s to a case-folded form in which a substring test is a
// case-insensitive match: every rune becomes the lower case of the
// smallest rune of its simple case-folding orbit (K, k and the Kelvin
// sign all become k), close to i;unicode-casemap (RFC 5051) without its
// decomposition.
func fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		return unicode.ToLower(r)
	}
	least := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		least = min(least, f)
	}
	return unicode.ToLower(least)
}

// candidate is the message under test; its header and body are read at
// most once, when a key first needs them.
type candidate struct {
	s    *search
	meta *store.Meta
	seq  uint32

	hdr    message.Header
	hdrOK  bool
	raw    []byte
	rawOK  bool
	body   string // folded text of the text parts
	bodyOK bool
	htext  string // folded "Name: value" lines, values decoded
	htOK   bool
}

func (m *candidate) reset(meta *store.Meta, seq uint32) {
	*m = candidate{s: m.s, meta: meta, seq: seq}
}

// openMessage opens the file; a file another program removed is
// errMessageGone.
func (m *candidate) openMessage() (io.ReadCloser, error) {
	r, err := m.s.open(m.meta.Message)
	if errors.Is(err, folder.ErrGone) {
		return nil, errMessageGone
	}
	if err != nil {
		return nil, fmt.Errorf("search: open uid %d: %w", m.meta.UID, err)
	}
	return r, nil
}

func (m *candidate) header() (message.Header, error) {
	if m.hdrOK {
		return m.hdr, nil
	}
	var block []byte
	if m.rawOK {
		block = headerBlock(m.raw)
	} else {
		r, err := m.openMessage()
		if err != nil {
			return nil, err
		}
		block, err = readHeaderBlock(r)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("search: read uid %d: %w", m.meta.UID, err)
		}
	}
	m.hdr, m.hdrOK = message.ParseHeaderBlock(block), true
	return m.hdr, nil
}

// headerBlock is the header of a canonical (CRLF) message, without the
// blank line.
func headerBlock(raw []byte) []byte {
	if bytes.HasPrefix(raw, []byte("\r\n")) {
		return nil
	}
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return raw[:i+2]
	}
	return raw
}

// readHeaderBlock reads up to the blank line that ends the header.
func readHeaderBlock(r io.Reader) ([]byte, error) {
	br := bufio.NewReader(io.LimitReader(r, maxSearchRead))
	var out []byte
	// A line longer than the buffer comes in pieces; only a whole line
	// can be the blank one (the last piece of "…\r\n" may be "\n").
	whole := true
	for {
		line, err := br.ReadSlice('\n')
		if whole && (string(line) == "\r\n" || string(line) == "\n") {
			return out, nil
		}
		whole = err == nil
		out = append(out, line...)
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return out, nil
		default:
			return nil, err
		}
	}
}

func (m *candidate) message() ([]byte, error) {
	if m.rawOK {
		return m.raw, nil
	}
	r, err := m.openMessage()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	m.raw, err = io.ReadAll(io.LimitReader(r, maxSearchRead))
	if err != nil {
		return nil, fmt.Errorf("search: read uid %d: %w", m.meta.UID, err)
	}
	m.rawOK = true
	return m.raw, nil
}

var addressFields = map[wire.SearchOp]string{
	wire.SearchFrom: "From", wire.SearchTo: "To", wire.SearchCc: "Cc", wire.SearchBcc: "Bcc",
}

// addressHas is FROM, TO, CC and BCC: the needle is a substring of the
// field as written (decoded), or of its addresses as parsed ("Name
// <mailbox@host>", comments and quoting gone), so that a display name, a
// group name, an address split by comments and a part of either all
// match (as imaptest's search-addresses expects).
func (m *candidate) addressHas(name, needle string) (bool, error) {
	h, err := m.header()
	if err != nil {
		return false, err
	}
	for _, f := range h {
		if !strings.EqualFold(f.Name, name) {
			continue
		}
		if strings.Contains(fold(decodeHeader(f.Value)), needle) ||
			strings.Contains(fold(addressText(f.Value)), needle) {
			return true, nil
		}
	}
	return false, nil
}

// addressText writes an address list the way a reader sees it.
func addressText(v string) string {
	var b strings.Builder
	sep := false
	for _, a := range message.ParseAddressList(v) {
		switch {
		case a.IsGroupEnd():
			b.WriteByte(';')
			sep = true
			continue
		case sep:
			b.WriteString(", ")
		}
		if a.IsGroupStart() {
			b.WriteString(decodeHeader(a.Mailbox))
			b.WriteByte(':')
			sep = false
			continue
		}
		if a.Name != "" {
			b.WriteString(decodeHeader(a.Name))
			b.WriteString(" <")
		}
		b.WriteString(a.Mailbox)
		if a.Host != "" {
			b.WriteByte('@')
			b.WriteString(a.Host)
		}
		if a.Name != "" {
			b.WriteByte('>')
		}
		sep = true
	}
	return b.String()
}

// headerHas is HEADER: a field of that name whose value holds the needle;
// an empty needle asks only for the field (RFC 9051 §6.4.4).
func (m *candidate) headerHas(name, needle string) (bool, error) {
	h, err := m.header()
	if err != nil {
		return false, err
	}
	for _, f := range h {
		if strings.EqualFold(f.Name, name) && valueHas(f.Value, needle) {
			return true, nil
		}
	}
	return false, nil
}

// valueHas is HEADER's test of one field's value: decoded or as written.
func valueHas(v, needle string) bool {
	return needle == "" || strings.Contains(fold(decodeHeader(v)), needle) || strings.Contains(fold(v), needle)
}

// cachedHeaderHas is headerHas answered from the index's envelope, or
// ok false when only the header can answer. The envelope's header facts
// (message.Envelope.Field) say what ParseHeaderBlock finds in this
// message's header, so each answer here is the one headerHas would give:
// no field of the name matches nothing; a field matches "" whatever its
// value; a single field kept whole is tested as headerHas tests it.
// Several fields of a name, address fields (kept parsed, not as written)
// and records without facts (older versions) read the header.
func cachedHeaderHas(env *message.Envelope, name, needle string) (match, ok bool) {
	if env == nil {
		return false, false
	}
	st, v := env.Field(name)
	switch {
	case st == message.FieldAbsent:
		return false, true
	case st == message.FieldUnknown:
		return false, false
	case needle == "":
		return true, true
	case st == message.FieldSingle:
		return valueHas(v, needle), true
	}
	return false, false
}

// headerTextHas is the header half of TEXT.
func (m *candidate) headerTextHas(needle string) (bool, error) {
	if !m.htOK {
		h, err := m.header()
		if err != nil {
			return false, err
		}
		var b strings.Builder
		for _, f := range h {
			b.WriteString(f.Name)
			b.WriteString(": ")
			b.WriteString(decodeHeader(f.Value))
			b.WriteByte('\n')
		}
		m.htext, m.htOK = fold(b.String()), true
	}
	return strings.Contains(m.htext, needle), nil
}

// bodyHas is BODY and the body half of TEXT: the text parts with their
// transfer encoding and charset undone, as Dovecot searches them, and
// the headers and text of attached messages.
func (m *candidate) bodyHas(needle string) (bool, error) {
	if !m.bodyOK {
		raw, err := m.message()
		if err != nil {
			return false, err
		}
		m.body, m.bodyOK = fold(bodyText(raw)), true
	}
	return strings.Contains(m.body, needle), nil
}

func unknownPart(err error) bool {
	return gomessage.IsUnknownCharset(err) || gomessage.IsUnknownEncoding(err)
}

// bodyText is the searchable text of a message's body. A message MIME
// cannot read is searched as the octets after its header.
func bodyText(raw []byte) string {
	var b strings.Builder
	ent, err := gomessage.Read(bytes.NewReader(raw))
	if err != nil && !unknownPart(err) {
		if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
			return string(raw[i+4:])
		}
		return ""
	}
	appendPartText(&b, ent, 0)
	return b.String()
}

func appendPartText(b *strings.Builder, ent *gomessage.Entity, depth int) {
	if mr := ent.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if err != nil && !unknownPart(err) {
				return // io.EOF, or a broken multipart: what was read stays
			}
			appendPartText(b, p, depth+1)
		}
	}
	typ, _, _ := ent.Header.ContentType()
	switch {
	case typ == "" || strings.HasPrefix(typ, "text/"):
		// RFC 2045 §5.2: no (or no valid) Content-Type is text/plain.
		io.Copy(b, ent.Body)
		b.WriteByte('\n')
	case (typ == "message/rfc822" || typ == "message/global") && depth < maxSearchNesting:
		inner, err := gomessage.Read(ent.Body)
		if err != nil && !unknownPart(err) {
			return
		}
		fields := inner.Header.Fields()
		for fields.Next() {
			b.WriteString(fields.Key())
			b.WriteString(": ")
			b.WriteString(decodeHeader(fields.Value()))
			b.WriteByte('\n')
		}
		appendPartText(b, inner, depth+1)
	}
}
