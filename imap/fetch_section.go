package imap

import (
	"bytes"
	"errors"
	"io"

	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/message"
	"github.com/storaged/storaged/store"
)

// Body sections (RFC 9051 §6.4.5 BODY[<section>]<<partial>>, RFC 3516
// BINARY[], BINARY.SIZE[]) are cut out of the canonical message with the
// part offsets the index caches: nothing is parsed again. A section that
// is one range of the message (BODY[], BODY[1.2], BODY[TEXT], a partial)
// streams from the file when it is the only one; otherwise the octets up
// to the last one needed are read once and every section is taken from
// them.

// sectionOut says where one section item's answer is, once prepared.
type sectionOut struct {
	kind   outKind
	binary bool  // BINARY: literal8 when the data holds NUL
	a, b   int64 // range in f.data or f.arena; skip and end for a stream
	n      int64 // BINARY.SIZE
}

type outKind uint8

const (
	outData   outKind = iota // f.data[a:b]
	outArena                 // f.arena[a:b]
	outStream                // the stream, octets a to b of the message
	outNumber                // n
)

// sectionXform is what is done to a section's octets.
type sectionXform uint8

const (
	xNone      sectionXform = iota
	xFields                 // HEADER.FIELDS
	xFieldsNot              // HEADER.FIELDS.NOT
	xDecode                 // BINARY of a base64 or quoted-printable part
	xStored                 // BINARY of a binary part: f.arena[a:b], from the stored form
)

// sectionSpec is a section located in the message, before its octets
// are read.
type sectionSpec struct {
	a, b   int64
	xform  sectionXform
	enc    string
	fields []string
	binary bool
	size   bool // BINARY.SIZE
	sec    wire.Section
	it     *wire.FetchItem
}

// Transfer encodings BINARY can undo (RFC 3516 §4.2); the identity ones
// need nothing done.
func identityCTE(enc string) bool {
	switch enc {
	case "", "7BIT", "8BIT", "BINARY":
		return true
	}
	return false
}

func knownCTE(enc string) bool {
	return identityCTE(enc) || enc == "BASE64" || enc == "QUOTED-PRINTABLE"
}

// errUnknownCTE is RFC 3516 §4.3's answer to BINARY of a part whose
// encoding the server cannot decode.
var errUnknownCTE = no("UNKNOWN-CTE", "unknown Content-Transfer-Encoding; use BODY[] for the encoded part")

// sectionPart follows a section's part numbers (RFC 9051 §6.4.5): a
// message's part 1 is its body when it is not multipart; the parts of a
// message/rfc822 part are those of the message it holds. nil when there
// is no such part.
func sectionPart(root *message.Part, nums []uint32) *message.Part {
	q := root
	for i, n := range nums {
		if i > 0 {
			switch {
			case q.Message != nil:
				q = q.Message
			case q.IsMultipart():
			default:
				return nil // a leaf has no parts
			}
		}
		if q.IsMultipart() {
			if int(n) > len(q.Children) {
				return nil
			}
			q = q.Children[n-1]
		} else if n != 1 {
			return nil
		}
	}
	return q
}

// locateSection finds the octets a section names in a message of size octets.
// ok is false for a part that does not exist, whose answer is empty.
// part is the part whose encoding BINARY undoes (nil: the whole
// message, never decoded).
func locateSection(root *message.Part, size int64, sec *wire.Section) (a, b int64, part *message.Part, ok bool) {
	if len(sec.Part) == 0 && sec.Specifier == "" {
		return 0, size, nil, true
	}
	if root == nil {
		return 0, 0, nil, false
	}
	msg := root
	if len(sec.Part) > 0 {
		q := sectionPart(root, sec.Part)
		if q == nil {
			return 0, 0, nil, false
		}
		switch sec.Specifier {
		case "":
			return q.BodyOffset, q.EndOffset, q, true
		case "MIME":
			return q.HeaderOffset, q.BodyOffset, nil, true
		}
		// HEADER, HEADER.FIELDS[.NOT] and TEXT after part numbers name
		// a message/rfc822 part's message.
		if q.Message == nil {
			return 0, 0, nil, false
		}
		msg = q.Message
	}
	if sec.Specifier == "TEXT" {
		return msg.BodyOffset, msg.EndOffset, nil, true
	}
	return msg.HeaderOffset, msg.BodyOffset, nil, true
}

// specs locates every section item of the plan in m.
func (f *fetcher) specs(m *store.Meta, dst []sectionSpec) ([]sectionSpec, error) {
	size := max(m.CRLFSize, 0)
	for i := range f.plan.items {
		it := &f.plan.items[i]
		s := sectionSpec{it: it}
		var sec wire.Section
		switch it.Kind {
		case wire.FetchRFC822:
		case wire.FetchRFC822Header:
			sec.Specifier = "HEADER"
		case wire.FetchRFC822Text:
			sec.Specifier = "TEXT"
		case wire.FetchBodySection:
			sec = it.Section
		case wire.FetchBinary, wire.FetchBinarySize:
			sec = it.Section
			s.binary, s.size = it.Kind == wire.FetchBinary, it.Kind == wire.FetchBinarySize
		default:
			continue
		}
		s.sec = sec
		a, b, part, ok := locateSection(m.Body, size, &sec)
		if ok {
			// A cache that disagrees with the file must not send octets
			// that are not there.
			s.a, s.b = min(max(a, 0), size), min(max(b, 0), size)
			s.b = max(s.a, s.b)
		}
		switch sec.Specifier {
		case "HEADER.FIELDS":
			s.xform, s.fields = xFields, sec.Fields
		case "HEADER.FIELDS.NOT":
			s.xform, s.fields = xFieldsNot, sec.Fields
		}
		if (s.binary || s.size) && part != nil && ok {
			if !knownCTE(part.Encoding) {
				return dst, errUnknownCTE
			}
			switch {
			case part.Encoding == "BINARY":
				// Its octets are data: bare LFs the canonical form
				// turned into CRLF come from the stored form.
				s.xform = xStored
			case !identityCTE(part.Encoding):
				s.xform, s.enc = xDecode, part.Encoding
			}
		}
		dst = append(dst, s)
	}
	return dst, nil
}

// prepare locates and reads what the message's section items need, and
// fills f.outs. It returns an open stream when the one section streams
// from the file; the caller closes it.
func (f *fetcher) prepare(m *store.Meta) (io.ReadCloser, error) {
	if cap(f.data) > 8<<20 {
		f.data = nil // one huge message does not pin its size
	}
	if cap(f.arena) > 8<<20 {
		f.arena = nil
	}
	f.arena = f.arena[:0]
	var err error
	specs, err := f.specs(m, f.specBuf[:0])
	f.specBuf = specs
	if err != nil {
		return nil, err
	}
	f.outs = f.outs[:0]
	if err := f.fromStored(m, specs); err != nil {
		return nil, err
	}
	// What must be read: every section but a BINARY.SIZE of an
	// undecoded part, whose size is its length.
	var need, end int64
	streamable := -1
	for i := range specs {
		s := &specs[i]
		if s.size && s.xform == xNone || s.xform == xStored {
			continue
		}
		if s.b > s.a {
			need++
			end = max(end, s.b)
			if s.xform == xNone && !s.binary && !s.size {
				streamable = i
			}
		}
	}
	if need == 1 && streamable >= 0 {
		s := &specs[streamable]
		r, err := f.mb.Open(m.Message)
		if err != nil {
			return nil, err
		}
		for i := range specs {
			if i == streamable {
				a, b := applyPartial(s.a, s.b, s.it)
				f.outs = append(f.outs, sectionOut{kind: outStream, a: a, b: b})
				continue
			}
			f.outs = append(f.outs, f.answer(&specs[i]))
		}
		return r, nil
	}
	if need > 0 {
		if err := f.load(m, end); err != nil {
			return nil, err
		}
	}
	for i := range specs {
		f.outs = append(f.outs, f.answer(&specs[i]))
	}
	return nil, nil
}

// fromStored copies the binary parts the specs name from the message's
// stored form into f.arena, so that they answer like decoded parts. Such
// a message is rare (an IMAP APPEND of a literal8); it is read and parsed
// whole, once.
func (f *fetcher) fromStored(m *store.Meta, specs []sectionSpec) error {
	var root *message.Part
	var data []byte
	for i := range specs {
		s := &specs[i]
		if s.xform != xStored {
			continue
		}
		if root == nil {
			var err error
			if data, err = f.mb.ReadStored(m.Message); err != nil {
				return err
			}
			info, err := message.ParseBytes(data)
			if err != nil {
				return err
			}
			root = info.Body
		}
		s.a, s.b = int64(len(f.arena)), int64(len(f.arena))
		if a, b, _, ok := locateSection(root, int64(len(data)), &s.sec); ok && a >= 0 && a <= b && b <= int64(len(data)) {
			f.arena = append(f.arena, data[a:b]...)
			s.b = int64(len(f.arena))
		}
	}
	return nil
}

// answer computes a section's answer from f.data.
func (f *fetcher) answer(s *sectionSpec) sectionOut {
	out := sectionOut{kind: outData, binary: s.binary, a: s.a, b: s.b}
	if s.xform == xStored {
		out.kind = outArena
		if s.size {
			return sectionOut{kind: outNumber, n: out.b - out.a}
		}
		out.a, out.b = applyPartial(out.a, out.b, s.it)
		return out
	}
	if s.b <= s.a {
		out.a, out.b = 0, 0
		if s.size {
			out.kind = outNumber
		}
		return out
	}
	if s.xform != xNone {
		start := int64(len(f.arena))
		src := f.data[s.a:s.b]
		switch s.xform {
		case xFields, xFieldsNot:
			f.arena = appendHeaderFields(f.arena, src, s.fields, s.xform == xFieldsNot)
		case xDecode:
			if s.enc == "BASE64" {
				f.arena = appendBase64(f.arena, src)
			} else {
				f.arena = appendQP(f.arena, src)
			}
		}
		out.kind, out.a, out.b = outArena, start, int64(len(f.arena))
	}
	if s.size {
		return sectionOut{kind: outNumber, n: out.b - out.a}
	}
	out.a, out.b = applyPartial(out.a, out.b, s.it)
	return out
}

// applyPartial applies <offset.count> to a range (RFC 9051 §6.4.5: past the
// end, the answer is empty).
func applyPartial(a, b int64, it *wire.FetchItem) (int64, int64) {
	if !it.HasPartial {
		return a, b
	}
	n := uint64(b - a)
	off := min(it.Offset, n)
	cnt := min(it.Count, n-off)
	return a + int64(off), a + int64(off+cnt)
}

// load reads the first n octets of the message into f.data.
func (f *fetcher) load(m *store.Meta, n int64) error {
	r, err := f.mb.Open(m.Message)
	if err != nil {
		return err
	}
	defer r.Close()
	if int64(cap(f.data)) < n {
		f.data = make([]byte, n)
	}
	f.data = f.data[:n]
	k, err := io.ReadFull(r, f.data)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		f.c.log.Warn("message file shorter than the index says; padding", "uid", m.UID, "indexed", m.CRLFSize, "read", k)
		padSpaces(f.data[k:])
		err = nil
	}
	return err
}

func padSpaces(b []byte) {
	for i := range b {
		b[i] = ' '
	}
}

// writeSection writes one prepared section item's value.
func (f *fetcher) writeSection(m *store.Meta, out *sectionOut, stream io.Reader) {
	w := f.w
	switch out.kind {
	case outNumber:
		w.Number(uint64(out.n))
	case outData:
		f.literal(f.data[out.a:out.b], out.binary)
	case outArena:
		f.literal(f.arena[out.a:out.b], out.binary)
	case outStream:
		f.stream(m, stream, out.a, out.b-out.a)
	}
}

// literal writes b as a literal: literal8 for BINARY data holding NUL
// (RFC 3516 §4.2), else with NUL replaced (RFC 9051 §4.3). An empty
// section is "{0}" too, so that every section is answered alike.
func (f *fetcher) literal(b []byte, binary bool) {
	w := f.w
	if binary && bytes.IndexByte(b, 0) >= 0 {
		w.Raw("~{")
		w.Number(uint64(len(b)))
		w.Raw("}\r\n")
		w.RawBytes(b)
		return
	}
	w.Raw("{")
	w.Number(uint64(len(b)))
	w.Raw("}\r\n")
	writeNoNUL(w, b)
}

var nulStandIn = []byte{0x80}

// writeNoNUL writes b with each NUL replaced by 0x80, as wire's literals
// do, without copying b.
func writeNoNUL(w *wire.Writer, b []byte) {
	for {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			w.RawBytes(b)
			return
		}
		w.RawBytes(b[:i])
		w.RawBytes(nulStandIn)
		b = b[i+1:]
	}
}

// stream writes n octets of r from offset skip as a literal. The length
// comes from the index: a file that ends early is padded with spaces and
// one that goes on is cut, so the response stream stays in step, and
// both are logged.
func (f *fetcher) stream(m *store.Meta, r io.Reader, skip, n int64) {
	w := f.w
	w.Raw("{")
	w.Number(uint64(n))
	w.Raw("}\r\n")
	if f.copy == nil {
		f.copy = make([]byte, 32<<10)
	}
	buf := f.copy
	// Only a section that ends where the message ends can tell a file
	// that grew: any other has octets after it.
	toEnd := skip+n >= m.CRLFSize
	var err error
	for skip > 0 && err == nil {
		var k int
		k, err = r.Read(buf[:min(int64(len(buf)), skip)])
		skip -= int64(k)
	}
	left := n
	grew := false
	for left > 0 && err == nil && w.Err() == nil {
		// Ask for one octet more than is left: when the reader has it
		// at hand, a file that grew shows without another read.
		var k int
		k, err = r.Read(buf[:min(int64(len(buf)), left+1)])
		if int64(k) > left {
			k, grew = int(left), toEnd
		}
		writeNoNUL(w, buf[:k])
		left -= int64(k)
	}
	if w.Err() != nil {
		return // the client is gone; the loop ends the connection
	}
	if grew {
		f.c.log.Warn("message file longer than the index says; cut", "uid", m.UID, "indexed", m.CRLFSize)
	}
	if left > 0 {
		if err != nil && !errors.Is(err, io.EOF) {
			f.c.log.Error("reading message file", "uid", m.UID, "err", err)
		} else {
			f.c.log.Warn("message file shorter than the index says; padding", "uid", m.UID, "indexed", m.CRLFSize, "missing", left)
		}
		padSpaces(buf)
		for left > 0 {
			k := min(int64(len(buf)), left)
			w.RawBytes(buf[:k])
			left -= k
		}
	}
}

// appendHeaderFields appends the fields of a header block whose names are
// (not) in names, with their continuation lines, and the blank line that
// ends the block when it has one (RFC 9051 §6.4.5: field names match
// case-insensitively; the delimiting blank line is always included).
func appendHeaderFields(dst, hdr []byte, names []string, not bool) []byte {
	keep := false
	for len(hdr) > 0 {
		j := bytes.IndexByte(hdr, '\n')
		var line []byte
		if j < 0 {
			line, hdr = hdr, nil
		} else {
			line, hdr = hdr[:j+1], hdr[j+1:]
		}
		switch {
		case line[0] == ' ' || line[0] == '\t':
			// A continuation goes with its field.
		case len(bytes.TrimRight(line, "\r\n")) == 0:
			return append(dst, "\r\n"...)
		default:
			c := bytes.IndexByte(line, ':')
			if c <= 0 {
				keep = false // not a field (message.parseHeader skips it too)
				break
			}
			name := bytes.TrimRight(line[:c], " \t")
			keep = matchField(name, names) != not
		}
		if keep {
			dst = append(dst, line...)
		}
	}
	return dst
}

func matchField(name []byte, names []string) bool {
	for _, n := range names {
		if asciiEqualFold(n, name) {
			return true
		}
	}
	return false
}

// asciiEqualFold compares a field name case-insensitively (RFC 5322
// field names are printable ASCII) without converting name.
func asciiEqualFold(s string, b []byte) bool {
	if len(s) != len(b) {
		return false
	}
	for i := 0; i < len(s); i++ {
		x, y := s[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
