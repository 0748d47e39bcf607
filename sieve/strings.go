package sieve

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// RFC 5228 §2.4.2.4 (encoded-character): "${hex:...}" and
// "${unicode:...}" in a string literal stand for the octets or code
// points listed, separated by white space. A sequence that is not well
// formed is left as written; a code point that is no Unicode scalar value
// is an error, as the RFC requires.
func decodeEncoded(s string, p Pos) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		rest := s[i+2:]
		j := strings.IndexByte(rest, '}')
		colon := strings.IndexByte(rest, ':')
		if j < 0 || colon < 0 || colon > j {
			b.WriteString("${")
			s = rest
			continue
		}
		kind := strings.ToLower(rest[:colon])
		fields := strings.Fields(rest[colon+1 : j])
		out, ok, err := encodedSeq(kind, fields, p)
		if err != nil {
			return "", err
		}
		if !ok {
			b.WriteString("${")
			s = rest
			continue
		}
		b.WriteString(out)
		s = rest[j+1:]
	}
}

func encodedSeq(kind string, fields []string, p Pos) (string, bool, error) {
	if kind != "hex" && kind != "unicode" {
		return "", false, nil
	}
	var b strings.Builder
	for _, f := range fields {
		v, err := strconv.ParseUint(f, 16, 32)
		if err != nil {
			return "", false, nil
		}
		if kind == "hex" {
			if v > 0xff {
				return "", false, nil
			}
			b.WriteByte(byte(v))
			continue
		}
		if v > unicode.MaxRune || (v >= 0xD800 && v <= 0xDFFF) {
			return "", false, errAt(p, "${unicode:%s} is not a valid Unicode character", f)
		}
		b.WriteRune(rune(v))
	}
	return b.String(), true, nil
}

// A tmpl is a string argument once variables are known: literal pieces
// and variable references, expanded at run time (RFC 5229 §3). Strings
// of scripts without "variables" are single literals.
type tmpl struct {
	parts []tpart
}

type tpart struct {
	lit    string
	name   string // variable name, lower case; "" for a literal
	global bool   // ${global.name} (RFC 6609 §3.5)
	num    int    // match variable number, or -1
}

func literal(s string) tmpl { return tmpl{parts: []tpart{{lit: s, num: -1}}} }

func (t tmpl) constant() (string, bool) {
	switch len(t.parts) {
	case 0:
		return "", true
	case 1:
		if t.parts[0].name == "" && t.parts[0].num < 0 {
			return t.parts[0].lit, true
		}
	}
	return "", false
}

func isIdent(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isAlpha(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// parseTemplate splits s at its variable references. Malformed references
// stay literal text (RFC 5229 §3); a namespace other than "global" is an
// error, since no extension we know of defines one.
func parseTemplate(s string, p Pos, globals bool) (tmpl, error) {
	var t tmpl
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, tpart{lit: lit.String(), num: -1})
			lit.Reset()
		}
	}
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			lit.WriteString(s)
			break
		}
		lit.WriteString(s[:i])
		rest := s[i+2:]
		j := strings.IndexByte(rest, '}')
		if j < 0 {
			lit.WriteString(s[i:])
			break
		}
		ref := rest[:j]
		switch {
		case allDigits(ref):
			n, err := strconv.Atoi(ref)
			if err != nil || n > 1000 {
				n = 1000
			}
			flush()
			t.parts = append(t.parts, tpart{num: n})
			s = rest[j+1:]
			continue
		case isIdent(ref):
			flush()
			t.parts = append(t.parts, tpart{name: strings.ToLower(ref), num: -1})
			s = rest[j+1:]
			continue
		}
		if k := strings.IndexByte(ref, '.'); k > 0 && isIdent(ref[:k]) {
			ns := strings.ToLower(ref[:k])
			name := ref[k+1:]
			if ns == "global" && globals && isIdent(name) {
				flush()
				t.parts = append(t.parts, tpart{name: strings.ToLower(name), global: true, num: -1})
				s = rest[j+1:]
				continue
			}
			if isIdent(name) || strings.Contains(name, ".") {
				return tmpl{}, errAt(p, "unknown variable namespace '%s' in ${%s}", ns, ref)
			}
		}
		lit.WriteString("${")
		s = rest
	}
	flush()
	return t, nil
}

// Set modifiers (RFC 5229 §4.1), applied highest precedence first.
var modifierPrec = map[string]int{
	"lower": 40, "upper": 40,
	"lowerfirst": 30, "upperfirst": 30,
	"quotewildcard": 20, "quoteregex": 20,
	"length": 10,
}

func applyModifier(m, v string) string {
	switch m {
	case "lower":
		return strings.ToLower(v)
	case "upper":
		return strings.ToUpper(v)
	case "lowerfirst", "upperfirst":
		r, n := utf8.DecodeRuneInString(v)
		if n == 0 {
			return v
		}
		if m == "lowerfirst" {
			r = unicode.ToLower(r)
		} else {
			r = unicode.ToUpper(r)
		}
		return string(r) + v[n:]
	case "quotewildcard":
		var b strings.Builder
		for _, r := range v {
			if r == '*' || r == '?' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		return b.String()
	case "quoteregex":
		var b strings.Builder
		for _, r := range v {
			if strings.ContainsRune(`\.+*?[](){}|^$`, r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		return b.String()
	case "length":
		return strconv.Itoa(utf8.RuneCountInString(v))
	}
	return v
}

// truncUTF8 cuts s to at most n bytes without splitting a character.
func truncUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
