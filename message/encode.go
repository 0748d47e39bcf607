package message

import (
	"encoding/binary"
	"errors"
)

// Encoding versions; bump on any layout change.
const (
	envelopeVersion = 1
	partVersion     = 1
)

var errDecode = errors.New("message: corrupt cached structure")

type enc struct{ b []byte }

func (e *enc) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *enc) num(n int64) { e.b = binary.AppendVarint(e.b, n) }

func (e *enc) addrs(as []Address) {
	e.b = binary.AppendUvarint(e.b, uint64(len(as)))
	for _, a := range as {
		e.str(a.Name)
		e.str(a.Route)
		e.str(a.Mailbox)
		e.str(a.Host)
	}
}

func (e *enc) params(ps []Param) {
	e.b = binary.AppendUvarint(e.b, uint64(len(ps)))
	for _, p := range ps {
		e.str(p.Name)
		e.str(p.Value)
	}
}

func (e *enc) envelope(v *Envelope) {
	e.str(v.Date)
	e.str(v.Subject)
	for _, as := range [][]Address{v.From, v.Sender, v.ReplyTo, v.To, v.Cc, v.Bcc} {
		e.addrs(as)
	}
	e.str(v.InReplyTo)
	e.str(v.MessageID)
}

func (e *enc) part(p *Part) {
	e.str(p.Type)
	e.str(p.Subtype)
	e.params(p.Params)
	e.str(p.ID)
	e.str(p.Description)
	e.str(p.Encoding)
	e.str(p.MD5)
	e.str(p.Disposition)
	e.params(p.DispositionParams)
	e.b = binary.AppendUvarint(e.b, uint64(len(p.Language)))
	for _, l := range p.Language {
		e.str(l)
	}
	e.str(p.Location)
	e.num(p.Size)
	e.num(p.Lines)
	e.num(p.HeaderOffset)
	e.num(p.BodyOffset)
	e.num(p.EndOffset)
	e.b = binary.AppendUvarint(e.b, uint64(len(p.Children)))
	for _, c := range p.Children {
		e.part(c)
	}
	if p.Message != nil && p.Envelope != nil {
		e.b = append(e.b, 1)
		e.envelope(p.Envelope)
		e.part(p.Message)
	} else {
		e.b = append(e.b, 0)
	}
}

// MarshalBinary encodes the envelope for the index.
func (v *Envelope) MarshalBinary() ([]byte, error) {
	e := enc{b: make([]byte, 0, 256)}
	e.b = append(e.b, envelopeVersion)
	e.envelope(v)
	return e.b, nil
}

// MarshalBinary encodes the part tree for the index.
func (p *Part) MarshalBinary() ([]byte, error) {
	e := enc{b: make([]byte, 0, 256)}
	e.b = append(e.b, partVersion)
	e.part(p)
	return e.b, nil
}

type dec struct {
	b   []byte
	err error
}

func (d *dec) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errDecode
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) num() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errDecode
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string {
	n := d.uv()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errDecode
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// count reads a list length, refusing lengths the remaining bytes cannot
// hold (each element takes at least one byte).
func (d *dec) count() int {
	n := d.uv()
	if d.err != nil || n > uint64(len(d.b)) {
		d.err = errDecode
		return 0
	}
	return int(n)
}

func (d *dec) addrs() []Address {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]Address, n)
	for i := range out {
		out[i] = Address{Name: d.str(), Route: d.str(), Mailbox: d.str(), Host: d.str()}
	}
	return out
}

func (d *dec) params() []Param {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]Param, n)
	for i := range out {
		out[i] = Param{Name: d.str(), Value: d.str()}
	}
	return out
}

func (d *dec) envelope(v *Envelope) {
	v.Date = d.str()
	v.Subject = d.str()
	v.From = d.addrs()
	v.Sender = d.addrs()
	v.ReplyTo = d.addrs()
	v.To = d.addrs()
	v.Cc = d.addrs()
	v.Bcc = d.addrs()
	v.InReplyTo = d.str()
	v.MessageID = d.str()
}

func (d *dec) part(depth int) *Part {
	if depth > MaxDepth+2 {
		d.err = errDecode
		return nil
	}
	p := &Part{Type: d.str(), Subtype: d.str()}
	p.Params = d.params()
	p.ID = d.str()
	p.Description = d.str()
	p.Encoding = d.str()
	p.MD5 = d.str()
	p.Disposition = d.str()
	p.DispositionParams = d.params()
	if n := d.count(); n > 0 {
		p.Language = make([]string, n)
		for i := range p.Language {
			p.Language[i] = d.str()
		}
	}
	p.Location = d.str()
	p.Size = d.num()
	p.Lines = d.num()
	p.HeaderOffset = d.num()
	p.BodyOffset = d.num()
	p.EndOffset = d.num()
	if n := d.count(); n > 0 {
		p.Children = make([]*Part, 0, n)
		for i := 0; i < n && d.err == nil; i++ {
			p.Children = append(p.Children, d.part(depth+1))
		}
	}
	if d.err != nil || len(d.b) == 0 {
		d.err = errDecode
		return p
	}
	has := d.b[0]
	d.b = d.b[1:]
	if has == 1 {
		p.Envelope = new(Envelope)
		d.envelope(p.Envelope)
		p.Message = d.part(depth + 1)
	}
	return p
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (v *Envelope) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || b[0] != envelopeVersion {
		return errDecode
	}
	d := dec{b: b[1:]}
	d.envelope(v)
	return d.err
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (p *Part) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || b[0] != partVersion {
		return errDecode
	}
	d := dec{b: b[1:]}
	q := d.part(0)
	if d.err != nil {
		return d.err
	}
	*p = *q
	return nil
}
