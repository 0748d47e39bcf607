package message

// The cache encoding: what the index stores per message, decoded on
// every FETCH ENVELOPE or BODYSTRUCTURE, so decoding must be cheap. Each
// record starts with a version byte; a layout change bumps it and keeps
// decoding the versions still on disk (never guessing at unknown ones).
// Strings are uvarint-length-prefixed (internal/codec); a decoded record's
// strings share one allocation, so an envelope costs about three.
//
// Envelope v4: the v3 layout, then the header facts (Envelope.Field) as
// one uvarint, 3 octets. v3: Date, has-time byte [unix seconds, zone
// offset], Subject, the number of addresses in all lists, then From,
// Sender, Reply-To, To, Cc, Bcc, each a uvarint n<<1|same (same: a copy
// of From, which Sender and Reply-To usually are) and n addresses of
// four strings, then In-Reply-To and Message-ID. v2 had no address total
// and plain counts. v2 and v3 records decode with no facts, so SEARCH
// HEADER reads those messages' files as before.
//
// Part v2: Type, Subtype, params, ID, Description, Encoding, MD5,
// Disposition, disposition params, languages, Location, then varints
// Size, Lines, HeaderOffset, BodyOffset, EndOffset, the children, and a
// byte saying whether an envelope (the v3 layout, without the version
// byte: embedded envelopes have no facts) and a part follow. v1 had v2
// envelopes there.
//
// Info v1: varints Size, HeaderSize, Lines, then the envelope and the
// body records, each length-prefixed.

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/storaged/storaged/internal/codec"
)

const (
	envelopeVersion = 4
	partEnvelope    = 3 // the layout of the envelopes in part v2 records
	partVersion     = 2
	infoVersion     = 1
)

var errDecode = fmt.Errorf("message: cached structure: %w", codec.ErrCorrupt)

type enc struct{ b []byte }

func (e *enc) str(s string) { e.b = codec.AppendString(e.b, s) }
func (e *enc) num(n int64)  { e.b = binary.AppendVarint(e.b, n) }
func (e *enc) count(n int)  { e.b = binary.AppendUvarint(e.b, uint64(n)) }

func (e *enc) params(ps []Param) {
	e.count(len(ps))
	for _, p := range ps {
		e.str(p.Name)
		e.str(p.Value)
	}
}

func sameAddrs(a, b []Address) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// envelope writes v in the v3 layout, without its version byte.
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
	lists := [6][]Address{v.From, v.Sender, v.ReplyTo, v.To, v.Cc, v.Bcc}
	total := 0
	for i, as := range lists {
		if i == 0 || !(len(as) > 0 && sameAddrs(as, v.From)) {
			total += len(as)
		}
	}
	e.count(total)
	for i, as := range lists {
		if i > 0 && len(as) > 0 && sameAddrs(as, v.From) {
			e.count(1)
			continue
		}
		e.count(len(as) << 1)
		for _, a := range as {
			e.str(a.Name)
			e.str(a.Route)
			e.str(a.Mailbox)
			e.str(a.Host)
		}
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
	e.count(len(p.Language))
	for _, l := range p.Language {
		e.str(l)
	}
	e.str(p.Location)
	e.num(p.Size)
	e.num(p.Lines)
	e.num(p.HeaderOffset)
	e.num(p.BodyOffset)
	e.num(p.EndOffset)
	e.count(len(p.Children))
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

// AppendBinary appends the envelope's cache record to b.
func (v *Envelope) AppendBinary(b []byte) ([]byte, error) {
	e := enc{b: append(b, envelopeVersion)}
	e.envelope(v)
	e.b = binary.AppendUvarint(e.b, uint64(v.fields))
	return e.b, nil
}

// MarshalBinary encodes the envelope for the index.
func (v *Envelope) MarshalBinary() ([]byte, error) { return v.AppendBinary(make([]byte, 0, 256)) }

// AppendBinary appends the part tree's cache record to b.
func (p *Part) AppendBinary(b []byte) ([]byte, error) {
	e := enc{b: append(b, partVersion)}
	e.part(p)
	return e.b, nil
}

// MarshalBinary encodes the part tree for the index.
func (p *Part) MarshalBinary() ([]byte, error) { return p.AppendBinary(make([]byte, 0, 256)) }

// AppendBinary appends the message's cache record to b.
func (i *Info) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, infoVersion)
	b = binary.AppendVarint(b, i.Size)
	b = binary.AppendVarint(b, i.HeaderSize)
	b = binary.AppendVarint(b, i.Lines)
	env, _ := i.Envelope.MarshalBinary()
	b = codec.AppendString(b, string(env))
	var body []byte
	if i.Body != nil {
		body, _ = i.Body.MarshalBinary()
	}
	return codec.AppendString(b, string(body)), nil
}

// MarshalBinary encodes everything the index caches about a message.
// The envelope and the body structure are also available alone (their
// own MarshalBinary), for an index that stores them apart.
func (i *Info) MarshalBinary() ([]byte, error) { return i.AppendBinary(make([]byte, 0, 512)) }

// dec reads a record whose strings are all cut from s, one copy of it.
type dec struct {
	codec.Reader
	s string
}

func newDec(b []byte) *dec {
	return &dec{Reader: codec.Reader{B: b}, s: string(b)}
}

func (d *dec) str() string {
	n := d.Uvarint()
	if d.Err != nil || n > uint64(len(d.B)) {
		d.Err = errDecode
		return ""
	}
	at := len(d.s) - len(d.B)
	d.B = d.B[n:]
	return d.s[at : at+int(n)]
}

func (d *dec) params() []Param {
	n := d.Count()
	if n == 0 {
		return nil
	}
	out := make([]Param, n)
	for i := range out {
		out[i] = Param{Name: d.str(), Value: d.str()}
	}
	return out
}

// envelope reads an envelope of layout version ver.
func (d *dec) envelope(v *Envelope, ver byte) {
	v.Date = d.str()
	if d.Byte() == 1 {
		sec, off := d.Varint(), d.Varint()
		if off < -48*3600 || off > 48*3600 {
			d.Err = errDecode
			return
		}
		v.Time = time.Unix(sec, 0).In(zoneFor(int(off)))
	}
	v.Subject = d.str()
	var pool []Address
	if ver >= 3 {
		if n := d.Count(); n > 0 {
			pool = make([]Address, n)
		}
	}
	lists := [6]*[]Address{&v.From, &v.Sender, &v.ReplyTo, &v.To, &v.Cc, &v.Bcc}
	for i, l := range lists {
		n := d.Count()
		if ver >= 3 {
			if n&1 == 1 {
				if i == 0 {
					d.Err = errDecode
					return
				}
				*l = v.From
				continue
			}
			n >>= 1
		}
		if n == 0 || d.Err != nil {
			*l = nil
			continue
		}
		var as []Address
		if ver >= 3 {
			if n > len(pool) {
				d.Err = errDecode
				return
			}
			as, pool = pool[:n:n], pool[n:]
		} else {
			as = make([]Address, n)
		}
		for j := range as {
			as[j] = Address{Name: d.str(), Route: d.str(), Mailbox: d.str(), Host: d.str()}
		}
		*l = as
	}
	v.InReplyTo = d.str()
	v.MessageID = d.str()
}

// part reads a part of layout version ver.
func (d *dec) part(depth int, ver byte) *Part {
	if depth > MaxDepth+2 {
		d.Err = errDecode
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
	if n := d.Count(); n > 0 {
		p.Language = make([]string, n)
		for i := range p.Language {
			p.Language[i] = d.str()
		}
	}
	p.Location = d.str()
	p.Size = d.Varint()
	p.Lines = d.Varint()
	p.HeaderOffset = d.Varint()
	p.BodyOffset = d.Varint()
	p.EndOffset = d.Varint()
	if n := d.Count(); n > 0 {
		p.Children = make([]*Part, 0, n)
		for i := 0; i < n && d.Err == nil; i++ {
			p.Children = append(p.Children, d.part(depth+1, ver))
		}
	}
	if d.Err == nil && d.Byte() == 1 {
		p.Envelope = new(Envelope)
		envVer := byte(partEnvelope)
		if ver == 1 {
			envVer = 2
		}
		d.envelope(p.Envelope, envVer)
		p.Message = d.part(depth+1, ver)
	}
	return p
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (v *Envelope) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || b[0] < 2 || b[0] > envelopeVersion {
		return errDecode
	}
	d := newDec(b[1:])
	var e Envelope
	d.envelope(&e, b[0])
	if b[0] >= 4 {
		if f := d.Uvarint(); f < uint64(factsValidBelow) {
			e.fields = headerFacts(f)
		} else {
			d.Err = errDecode
		}
	}
	if d.Err != nil || len(d.B) != 0 {
		return errDecode
	}
	*v = e
	return nil
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (p *Part) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || (b[0] != 1 && b[0] != partVersion) {
		return errDecode
	}
	d := newDec(b[1:])
	q := d.part(0, b[0])
	if d.Err != nil || len(d.B) != 0 {
		return errDecode
	}
	*p = *q
	return nil
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (i *Info) UnmarshalBinary(b []byte) error {
	if len(b) == 0 || b[0] != infoVersion {
		return errDecode
	}
	r := codec.Reader{B: b[1:]}
	var out Info
	out.Size, out.HeaderSize, out.Lines = r.Varint(), r.Varint(), r.Varint()
	env, body := r.Bytes(), r.Bytes()
	if r.Err != nil || len(r.B) != 0 {
		return errDecode
	}
	if err := out.Envelope.UnmarshalBinary(env); err != nil {
		return err
	}
	if len(body) > 0 {
		out.Body = new(Part)
		if err := out.Body.UnmarshalBinary(body); err != nil {
			return err
		}
	}
	out.Date = out.Envelope.Time
	*i = out
	return nil
}
