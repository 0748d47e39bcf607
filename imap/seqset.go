package imap

import (
	"sort"

	"github.com/storaged/storaged/imap/wire"
)

// resolve turns a sequence set of the selected mailbox into UIDs,
// ascending and without duplicates. For sequence numbers "*" is the
// last message and a number past it is BAD (RFC 9051 §9 seq-number:
// must exist); for UIDs "*" is the highest UID and UIDs not in the
// mailbox are ignored (RFC 9051 §6.4.8). "$" is the saved search result
// (RFC 5182), which a UID set and a sequence set read alike.
func (c *conn) resolve(set wire.SeqSet, uid bool) ([]uint32, error) {
	uids := c.view.UIDs()
	if set.Saved {
		return c.savedUIDs(), nil
	}
	if len(uids) == 0 {
		if !uid && !set.Dynamic() {
			return nil, bad("invalid message sequence number: the mailbox is empty")
		}
		return nil, nil
	}
	// Sized once: a 1:* over 100,000 messages would otherwise grow the
	// slice a dozen times.
	size := 0
	for _, r := range set.Ranges {
		lo, hi := r.Bounds(uint32(len(uids)))
		if uid {
			lo, hi = r.Bounds(uids[len(uids)-1])
		}
		size += int(min(uint64(hi-lo)+1, uint64(len(uids))))
	}
	out := make([]uint32, 0, min(size, len(uids)))
	if !uid {
		n := uint32(len(uids))
		for _, r := range set.Ranges {
			lo, hi := r.Bounds(n)
			if hi > n {
				return nil, bad("invalid message sequence number " + itoa(hi))
			}
			for seq := lo; seq <= hi; seq++ {
				out = append(out, uids[seq-1])
			}
		}
	} else {
		last := uids[len(uids)-1]
		for _, r := range set.Ranges {
			lo, hi := r.Bounds(last)
			i := sort.Search(len(uids), func(i int) bool { return uids[i] >= lo })
			for ; i < len(uids) && uids[i] <= hi; i++ {
				out = append(out, uids[i])
			}
		}
	}
	if len(set.Ranges) > 1 {
		sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
		out = compact(out)
	}
	return out, nil
}

// savedUIDs is the SEARCHRES result still in the mailbox.
func (c *conn) savedUIDs() []uint32 {
	var out []uint32
	for _, u := range c.saved {
		if c.view.Seq(u) > 0 {
			out = append(out, u)
		}
	}
	return out
}

func compact(s []uint32) []uint32 {
	if len(s) < 2 {
		return s
	}
	j := 1
	for i := 1; i < len(s); i++ {
		if s[i] != s[j-1] {
			s[j] = s[i]
			j++
		}
	}
	return s[:j]
}

func itoa(n uint32) string {
	var b [10]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}
