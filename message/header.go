package message

import (
	"bytes"
	"strings"
)

// Field is one header field: its name as written and its value unfolded
// (CRLF before white space removed) and trimmed.
type Field struct {
	Name  string
	Value string
}

// Header is a parsed header block, fields in order.
type Header []Field

// Get returns the first field of that name (case-insensitive).
func (h Header) Get(name string) (string, bool) {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return "", false
}

// parseHeader splits a header block into fields. A line that is neither a
// field nor a continuation (no colon) is skipped, not taken as the end of
// the header: mail from broken clients keeps its real fields.
func parseHeader(b []byte) Header {
	var h Header
	var cur []byte
	flush := func() {
		if cur == nil {
			return
		}
		i := bytes.IndexByte(cur, ':')
		name := string(bytes.TrimRight(cur[:i], " \t"))
		val := unfold(cur[i+1:])
		if name != "" {
			h = append(h, Field{Name: name, Value: val})
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
	return h
}

// unfold removes line breaks before white space and trims the value.
func unfold(v []byte) string {
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return string(bytes.Trim(v, " \t"))
	}
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' && i+1 < len(v) && v[i+1] == '\n' {
			i++
			continue
		}
		if c == '\n' {
			continue
		}
		out = append(out, c)
	}
	return string(bytes.Trim(out, " \t"))
}

// ParseHeaderBlock parses a header block (the bytes before the empty
// line) into all its fields, for readers that need more than the parse
// keeps (SEARCH HEADER, Sieve). It follows the same line rules as Parse.
func ParseHeaderBlock(b []byte) Header { return parseHeader(b) }

// headerFacts says which of the envelope's fields (Date to Message-ID,
// bit id-hDate) a top-level header has, and which it has exactly once
// with the value kept whole (the same bits shifted by factsOnce);
// factsKnown says the facts were recorded at all.
type headerFacts uint32

const (
	factsOnce                   = numFields - hDate
	factsKnown      headerFacts = 1 << (2 * factsOnce)
	factsValidBelow             = factsKnown << 1
)

// FieldState is what an envelope tells of a header field: see Field.
type FieldState uint8

const (
	FieldUnknown FieldState = iota // only the header can tell
	FieldAbsent                    // the header has no field of the name
	FieldPresent                   // it has one or more; no value at hand
	FieldSingle                    // it has exactly one, value at hand
)

// Field tells what ParseHeaderBlock of the message's header would find
// of the fields whose names are name under strings.EqualFold, as far as
// the envelope knows without the message. FieldSingle comes with that
// field's value, for Date, Subject, In-Reply-To and Message-ID (kept
// raw); the address fields are kept parsed, so at most FieldPresent.
// Other names (non-ASCII ones too), and envelopes without facts (see
// headerFacts), are FieldUnknown.
func (v *Envelope) Field(name string) (FieldState, string) {
	if v.fields&factsKnown == 0 {
		return FieldUnknown, ""
	}
	id := fieldID([]byte(name), true)
	if id < hDate {
		return FieldUnknown, ""
	}
	bit := headerFacts(1) << (id - hDate)
	switch {
	case v.fields&bit == 0:
		return FieldAbsent, ""
	case v.fields&(bit<<factsOnce) == 0:
		return FieldPresent, ""
	}
	switch id {
	case hDate:
		return FieldSingle, v.Date
	case hSubject:
		return FieldSingle, v.Subject
	case hInReplyTo:
		return FieldSingle, v.InReplyTo
	case hMessageID:
		return FieldSingle, v.MessageID
	}
	return FieldPresent, ""
}
