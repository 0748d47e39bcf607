package folder

import (
	"slices"
	"strings"
)

// SysFlags are the system flags a store keeps per message. \Recent is not
// among them: it belongs to sessions, not to the store (RFC 9051 §2.3.2).
type SysFlags uint8

const (
	Seen SysFlags = 1 << iota
	Answered
	Flagged
	Deleted
	Draft
)

// Flags is the complete flag state of a message.
type Flags struct {
	Sys SysFlags
	// Keywords are kept sorted, deduplicated and case-preserved; keyword
	// comparison is case-insensitive (RFC 9051 §2.3.2).
	Keywords []string
}

// Has reports whether all of f are set.
func (s SysFlags) Has(f SysFlags) bool { return s&f == f }

// NormalizeKeywords sorts kw and drops case-insensitive duplicates.
func NormalizeKeywords(kw []string) []string {
	if len(kw) == 0 {
		return nil
	}
	out := slices.Clone(kw)
	slices.SortFunc(out, func(a, b string) int {
		return strings.Compare(strings.ToLower(a), strings.ToLower(b))
	})
	return slices.CompactFunc(out, strings.EqualFold)
}

// Equal compares two flag sets.
func (f Flags) Equal(g Flags) bool {
	if f.Sys != g.Sys || len(f.Keywords) != len(g.Keywords) {
		return false
	}
	for i := range f.Keywords {
		if !strings.EqualFold(f.Keywords[i], g.Keywords[i]) {
			return false
		}
	}
	return true
}
