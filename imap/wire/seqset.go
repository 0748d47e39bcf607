package wire

import "strconv"

// SeqRange is one seq-number or seq-range as sent; 0 stands for "*".
// RFC 9051 §9: a range may be written in either order.
type SeqRange struct {
	Start, Stop uint32
}

// SeqSet is a sequence-set, or "$" (Saved: the result saved by SEARCH
// RETURN (SAVE), RFC 5182 §2).
type SeqSet struct {
	Ranges []SeqRange
	Saved  bool
}

// ParseSeqSet parses sequence-set / "$". 0 is a syntax error (seq-number
// is nz-number / "*").
func ParseSeqSet(s string) (SeqSet, error) {
	if s == "$" {
		return SeqSet{Saved: true}, nil
	}
	bad := errorf("invalid sequence set " + strconv.Quote(s))
	if s == "" {
		return SeqSet{}, bad
	}
	var set SeqSet
	n := 1
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			n++
		}
	}
	set.Ranges = make([]SeqRange, 0, n)
	for len(s) > 0 {
		var r SeqRange
		var ok bool
		r.Start, s, ok = seqNumber(s)
		if !ok {
			return SeqSet{}, bad
		}
		r.Stop = r.Start
		if len(s) > 0 && s[0] == ':' {
			r.Stop, s, ok = seqNumber(s[1:])
			if !ok {
				return SeqSet{}, bad
			}
		}
		set.Ranges = append(set.Ranges, r)
		if len(s) > 0 {
			if s[0] != ',' || len(s) == 1 {
				return SeqSet{}, bad
			}
			s = s[1:]
		}
	}
	return set, nil
}

func seqNumber(s string) (uint32, string, bool) {
	if len(s) > 0 && s[0] == '*' {
		return 0, s[1:], true
	}
	var n uint64
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		n = n*10 + uint64(s[i]-'0')
		if n > 1<<32-1 {
			return 0, s, false
		}
		i++
	}
	if i == 0 || n == 0 {
		return 0, s, false
	}
	return uint32(n), s[i:], true
}

// Bounds resolves "*" to max and orders the range.
func (r SeqRange) Bounds(max uint32) (lo, hi uint32) {
	lo, hi = r.Start, r.Stop
	if lo == 0 {
		lo = max
	}
	if hi == 0 {
		hi = max
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return lo, hi
}

// Contains reports whether n is in the set when "*" is max (the highest
// sequence number or UID in use). A Saved set contains nothing: the
// caller substitutes the saved result first.
func (s SeqSet) Contains(n, max uint32) bool {
	if n == 0 {
		return false
	}
	for _, r := range s.Ranges {
		if lo, hi := r.Bounds(max); lo <= n && n <= hi {
			return true
		}
	}
	return false
}

// Dynamic reports whether the set uses "*".
func (s SeqSet) Dynamic() bool {
	for _, r := range s.Ranges {
		if r.Start == 0 || r.Stop == 0 {
			return true
		}
	}
	return false
}

// AppendTo appends the set in IMAP syntax.
func (s SeqSet) AppendTo(dst []byte) []byte {
	if s.Saved {
		return append(dst, '$')
	}
	for i, r := range s.Ranges {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendSeq(dst, r.Start)
		if r.Stop != r.Start {
			dst = append(dst, ':')
			dst = appendSeq(dst, r.Stop)
		}
	}
	return dst
}

func (s SeqSet) String() string { return string(s.AppendTo(nil)) }

func appendSeq(dst []byte, n uint32) []byte {
	if n == 0 {
		return append(dst, '*')
	}
	return strconv.AppendUint(dst, uint64(n), 10)
}
