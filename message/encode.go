package message

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/storaged/storaged/internal/codec"
)

// Encoding versions; bump on any layout change.
const (
	envelopeVersion = 2
	partVersion     = 1
)

var errDecode = fmt.Errorf("message: cached structure: %w", codec.ErrCorrupt)

type enc struct{ b []byte }

func (e *enc) str(s string) { e.b = codec.AppendString(e.b, s) }

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
	if v.Time.IsZero() {
		e.b = append(e.b, 0)
	} else {
		e.b = append(e.b, 1)
		_, off := v.Time.Zone()
		e.num(v.Time.Unix())
		e.num(int64(off))
	}
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

type dec struct{ codec.Reader }

func (d *dec) addrs() []Address {
	n := d.Count()
	if n == 0 {
		return nil
	}
	out := make([]Address, n)
	for i := range out {
		out[i] = Address{Name: d.String(), Route: d.String(), Mailbox: d.String(), Host: d.String()}
	}
	return out
}

func (d *dec) params() []Param {
	n := d.Count()
	if n == 0 {
		return nil
	}
	out := make([]Param, n)
	for i := range out {
		out[i] = Param{Name: d.String(), Value: d.String()}
	}
	return out
}

func (d *dec) envelope(v *Envelope) {
	v.Date = d.String()
	if d.Byte() == 1 {
		sec, off := d.Varint(), d.Varint()
		v.Time = time.Unix(sec, 0).In(fixedZone(int(off)))
	}
	v.Subject = d.String()
	v.From = d.addrs()
	v.Sender = d.addrs()
	v.ReplyTo = d.addrs()
	v.To = d.addrs()
	v.Cc = d.addrs()
	v.Bcc = d.addrs()
	v.InReplyTo = d.String()
	v.MessageID = d.String()
}

func (d *dec) part(depth int) *Part {
	if depth > MaxDepth+2 {
		d.Err = errDecode
		return nil
	}
	p := &Part{Type: d.String(), Subtype: d.String()}
	p.Params = d.params()
	p.ID = d.String()
	p.Description = d.String()
	p.Encoding = d.String()
	p.MD5 = d.String()
	p.Disposition = d.String()
	p.DispositionParams = d.params()
	if n := d.Count(); n > 0 {
		p.Language = make([]string, n)
		for i := range p.Language {
			p.Language[i] = d.String()
		}
	}
	p.Location = d.String()
	p.Size = d.Varint()
	p.Lines = d.Varint()
	p.HeaderOffset = d.Varint()
	p.BodyOffset = d.Varint()
	p.EndOffset = d.Varint()
	if n := d.Count(); n > 0 {
		p.Children = make([]*Part, 0, n)
		for i := 0; i < n && d.Err == nil; i++ {
			p.Children = append(p.Children, d.part(depth+1))
		}
	}
	if d.Err != nil || len(d.B) == 0 {
		d.Err = errDecode
		return p
	}
	has := d.B[0]
	d.B = d.B[1:]
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
	d := dec{codec.Reader{B: b[1:]}}
	d.envelope(v)
	return d.Err
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (p *Part) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || b[0] != partVersion {
		return errDecode
	}
	d := dec{codec.Reader{B: b[1:]}}
	q := d.part(0)
	if d.Err != nil {
		return d.Err
	}
	*p = *q
	return nil
}
