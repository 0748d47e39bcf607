package inflate

import (
	"math/rand"
	"testing"
)

// randomCode returns the code lengths of a random complete prefix code
// over n symbols, no code longer than 15 bits: leaves split at random,
// the deepest most often, so that long codes sharing root prefixes (the
// largest subtables) come up.
func randomCode(rnd *rand.Rand, n int) []uint8 {
	depths := []uint8{0}
	for len(depths) < n {
		i := rnd.Intn(len(depths))
		if rnd.Intn(3) > 0 {
			for j, d := range depths { // the deepest splittable leaf
				if d < maxBits && (depths[i] >= maxBits || d > depths[i]) {
					i = j
				}
			}
		}
		if depths[i] >= maxBits {
			continue
		}
		depths[i]++
		depths = append(depths, depths[i])
	}
	rnd.Shuffle(len(depths), func(a, b int) { depths[a], depths[b] = depths[b], depths[a] })
	return depths
}

// Every complete code fits the tables, and every symbol decodes from
// its canonical code (RFC 1951 §3.2.2), through the root or a subtable.
func TestBuildCompleteCodes(t *testing.T) {
	rnd := rand.New(rand.NewSource(2))
	for _, tc := range []struct {
		n    int
		size int
		root uint
	}{{286, litTableSize, litRoot}, {30, distTableSize, distRoot}, {19, 1 << clRoot, clRoot}} {
		for iter := 0; iter < 3000; iter++ {
			n := 2 + rnd.Intn(tc.n-1)
			lens := randomCode(rnd, n)
			if tc.root == clRoot {
				ok := true
				for _, l := range lens {
					ok = ok && l <= 7
				}
				if !ok {
					continue
				}
			}
			tab := make([]uint32, tc.size)
			if !build(tab, lens, tc.root, codeLenSymbol) {
				t.Fatalf("%d symbols, root %d: a complete code refused: %v", n, tc.root, lens)
			}
			// Canonical codes, then a lookup of each.
			var count, next [maxBits + 2]int
			for _, l := range lens {
				count[l]++
			}
			count[0] = 0
			code := 0
			for l := 1; l <= maxBits; l++ {
				code = (code + count[l-1]) << 1
				next[l] = code
			}
			for s, l := range lens {
				c := next[l]
				next[l]++
				b := bits{acc: uint64(reverse(c, uint(l))), nb: uint(l)}
				e, ok := lookup(&b, tab, tc.root)
				if !ok || entryKind(e) != kindLit || int(entryVal(e)) != s || entryLen(e) != uint(l) {
					t.Fatalf("symbol %d (length %d): entry %#x ok %v", s, l, e, ok)
				}
			}
		}
	}
}

// Codes that are not: over-subscribed, incomplete (except one code of
// one bit), and the empty code that only fails when used.
func TestBuildRefuses(t *testing.T) {
	tab := make([]uint32, litTableSize)
	for _, lens := range [][]uint8{{1, 1, 1}, {2, 2, 2}, {1, 2}, {3, 3, 3, 3, 3, 3, 3}, {2}} {
		if build(tab, lens, litRoot, codeLenSymbol) {
			t.Errorf("%v accepted", lens)
		}
	}
	for _, lens := range [][]uint8{{1}, {0, 1}, {0, 0, 0}} {
		if !build(tab, lens, litRoot, codeLenSymbol) {
			t.Errorf("%v refused", lens)
		}
	}
}
