// Package codec is the small binary record format the index and the
// message cache share: uvarint-prefixed strings and varints, decoded
// without reflection. A Reader remembers its first error, so decoders read
// every field and check once.
package codec

import (
	"encoding/binary"
	"errors"
)

// ErrCorrupt is the error of a record that does not decode.
var ErrCorrupt = errors.New("corrupt record")

// AppendString appends a length-prefixed string.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Reader decodes a record.
type Reader struct {
	B   []byte
	Err error
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	if r.Err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.B)
	if n <= 0 {
		r.Err = ErrCorrupt
		return 0
	}
	r.B = r.B[n:]
	return v
}

// Varint reads a signed varint.
func (r *Reader) Varint() int64 {
	if r.Err != nil {
		return 0
	}
	v, n := binary.Varint(r.B)
	if n <= 0 {
		r.Err = ErrCorrupt
		return 0
	}
	r.B = r.B[n:]
	return v
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if r.Err != nil || len(r.B) == 0 {
		r.Err = ErrCorrupt
		return 0
	}
	c := r.B[0]
	r.B = r.B[1:]
	return c
}

// Bytes reads a length-prefixed byte string, sharing r's memory.
func (r *Reader) Bytes() []byte {
	n := r.Uvarint()
	if r.Err != nil || n > uint64(len(r.B)) {
		r.Err = ErrCorrupt
		return nil
	}
	s := r.B[:n:n]
	r.B = r.B[n:]
	return s
}

// String reads a length-prefixed string.
func (r *Reader) String() string { return string(r.Bytes()) }

// Count reads a list length, refusing one the remaining bytes cannot
// hold (every element takes at least one byte), so a corrupt length
// never makes a huge allocation.
func (r *Reader) Count() int {
	n := r.Uvarint()
	if r.Err != nil || n > uint64(len(r.B)) {
		r.Err = ErrCorrupt
		return 0
	}
	return int(n)
}
