package sieve

import (
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Comparators (RFC 4790 §9, RFC 5228 §2.7.3) and match types (RFC 5228
// §2.7.1, RFC 5231 relational, draft-ietf-sieve-regex). Matching works on
// characters, not octets: "?" is one UTF-8 character, as in Pigeonhole.

type comparator uint8

const (
	cmpCasemap comparator = iota // i;ascii-casemap, the default
	cmpOctet
	cmpNumeric
	cmpUnicode
)

var comparatorNames = map[string]comparator{
	"i;ascii-casemap":   cmpCasemap,
	"i;octet":           cmpOctet,
	"i;ascii-numeric":   cmpNumeric,
	"i;unicode-casemap": cmpUnicode,
}

type matchType uint8

const (
	mIs matchType = iota
	mContains
	mMatches
	mRegex
	mCount
	mValue
)

type relOp uint8

const (
	relGT relOp = iota
	relGE
	relLT
	relLE
	relEQ
	relNE
)

var relOps = map[string]relOp{"gt": relGT, "ge": relGE, "lt": relLT, "le": relLE, "eq": relEQ, "ne": relNE}

func (o relOp) holds(c int) bool {
	switch o {
	case relGT:
		return c > 0
	case relGE:
		return c >= 0
	case relLT:
		return c < 0
	case relLE:
		return c <= 0
	case relEQ:
		return c == 0
	}
	return c != 0
}

type matcher struct {
	mt  matchType
	cmp comparator
	rel relOp
	// regexes compiled at compile time, one per constant key (nil for keys
	// holding variables, compiled when the test runs).
	re []*regexp.Regexp
}

func foldRune(c comparator, r rune) rune {
	switch c {
	case cmpCasemap:
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
	case cmpUnicode:
		return unicode.ToLower(unicode.ToUpper(r))
	}
	return r
}

func fold(c comparator, s string) string {
	switch c {
	case cmpCasemap:
		return strings.Map(func(r rune) rune { return foldRune(cmpCasemap, r) }, s)
	case cmpUnicode:
		// RFC 5051 §2: case-fold, then NFKD, so that a precomposed "é"
		// and "e" with a combining accent, or "ﬁ" and "fi", are equal.
		// (:matches folds rune by rune so that match variables keep
		// the value's own text; it does not decompose.)
		return norm.NFKD.String(strings.Map(func(r rune) rune { return foldRune(cmpUnicode, r) }, s))
	}
	return s
}

// compareNumeric orders two strings as i;ascii-numeric does: by the value
// of their leading digits; a string without one is positive infinity.
func compareNumeric(a, b string) int {
	da, db := leadDigits(a), leadDigits(b)
	switch {
	case da == "" && db == "":
		return 0
	case da == "":
		return 1
	case db == "":
		return -1
	}
	da, db = strings.TrimLeft(da, "0"), strings.TrimLeft(db, "0")
	if len(da) != len(db) {
		if len(da) < len(db) {
			return -1
		}
		return 1
	}
	return strings.Compare(da, db)
}

func leadDigits(s string) string {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i]
}

func compare(c comparator, a, b string) int {
	if c == cmpNumeric {
		return compareNumeric(a, b)
	}
	return strings.Compare(fold(c, a), fold(c, b))
}

// glob is :matches. Each "*" takes as little as it can, left to right,
// the reading RFC 5229 §3.2's example needs ("[*] *" on "[acme-users]
// [fwd] ..." gives ${1} = "acme-users"). Only the last star is ever
// backtracked, so the cost is O(len(pattern)·len(value)). caps receives
// one string per wildcard when the value matches.
func glob(c comparator, pattern, value string, caps *[]string) bool {
	type pe struct {
		kind byte // 'l' literal, '*', '?'
		r    rune
		w    int // wildcard index
	}
	var pat []pe
	nw := 0
	esc := false
	for _, r := range pattern {
		switch {
		case esc:
			pat = append(pat, pe{kind: 'l', r: foldRune(c, r)})
			esc = false
		case r == '\\':
			esc = true
		case r == '*' || r == '?':
			pat = append(pat, pe{kind: byte(r), w: nw})
			nw++
		default:
			pat = append(pat, pe{kind: 'l', r: foldRune(c, r)})
		}
	}
	orig := []rune(value)
	v := make([]rune, len(orig))
	for i, r := range orig {
		v[i] = foldRune(c, r)
	}
	spans := make([][2]int, nw)
	pi, vi := 0, 0
	starP, starStart, starV := -1, 0, 0
	for vi < len(v) {
		if pi < len(pat) {
			e := pat[pi]
			switch {
			case e.kind == '*':
				starP, starStart, starV = pi, vi, vi
				spans[e.w] = [2]int{vi, vi}
				pi++
				continue
			case e.kind == '?':
				spans[e.w] = [2]int{vi, vi + 1}
				pi++
				vi++
				continue
			case e.r == v[vi]:
				pi++
				vi++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		starV++
		vi = starV
		pi = starP + 1
		spans[pat[starP].w] = [2]int{starStart, starV}
	}
	for pi < len(pat) && pat[pi].kind == '*' {
		spans[pat[pi].w] = [2]int{vi, vi}
		pi++
	}
	if pi != len(pat) {
		return false
	}
	if caps != nil {
		out := make([]string, 0, nw+1)
		out = append(out, value)
		for _, s := range spans {
			out = append(out, string(orig[s[0]:s[1]]))
		}
		*caps = out
	}
	return true
}

// compileRegex builds a :regex key. POSIX extended expressions are, for
// what scripts use, RE2 syntax; casemap comparators match without case.
func compileRegex(c comparator, key string) (*regexp.Regexp, error) {
	if c == cmpCasemap || c == cmpUnicode {
		key = "(?i)" + key
	}
	return regexp.Compile(key)
}

// matchOne tests one value against one key.
func (m *matcher) matchOne(value, key string, re *regexp.Regexp, caps *[]string) bool {
	switch m.mt {
	case mIs:
		if m.cmp == cmpNumeric {
			return compareNumeric(value, key) == 0
		}
		return fold(m.cmp, value) == fold(m.cmp, key)
	case mContains:
		return strings.Contains(fold(m.cmp, value), fold(m.cmp, key))
	case mMatches:
		return glob(m.cmp, key, value, caps)
	case mRegex:
		if re == nil {
			return false
		}
		sm := re.FindStringSubmatch(value)
		if sm == nil {
			return false
		}
		if caps != nil {
			*caps = sm
		}
		return true
	case mValue:
		return m.rel.holds(compare(m.cmp, value, key))
	}
	return false
}
