package message

import (
	"bytes"
	"io"
	"strconv"
	"strings"

	"github.com/emersion/go-message/charset"
)

// parseContentType reads "type/subtype; params" (RFC 2045 §5.1). ok is
// false when the media type is not two tokens; a lone "text" is taken as
// text/plain with its parameters, since that keeps the charset the
// sender meant.
func parseContentType(v string) (typ, sub string, params []Param, ok bool) {
	t, rest, _ := strings.Cut(v, ";")
	t = strings.TrimSpace(stripComments(t))
	typ, sub, slash := strings.Cut(t, "/")
	typ, sub = strings.TrimSpace(typ), strings.TrimSpace(sub)
	if !slash && strings.EqualFold(typ, "text") {
		return typ, "plain", parseParams(rest), true
	}
	if !isToken(typ) || !isToken(sub) {
		return "", "", nil, false
	}
	return typ, sub, parseParams(rest), true
}

// parseDisposition reads "inline; filename=x" (RFC 2183).
func parseDisposition(v string) (string, []Param) {
	d, rest, _ := strings.Cut(v, ";")
	d = strings.TrimSpace(stripComments(d))
	if !isToken(d) {
		return "", nil
	}
	return d, parseParams(rest)
}

// parseEncoding returns the Content-Transfer-Encoding token in upper case.
func parseEncoding(v string) string {
	f := strings.Fields(stripComments(v))
	if len(f) == 0 || !isToken(f[0]) {
		return ""
	}
	return strings.ToUpper(f[0])
}

// parseLanguage splits a Content-Language list (RFC 3282).
func parseLanguage(v string) []string {
	var out []string
	for _, l := range strings.Split(stripComments(v), ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// parseParams reads `; a=b; c="d"` leniently: names lower case, quoted
// values unquoted, an unquoted value runs to the next ';' (mailers put
// spaces in them), a parameter without '=' is dropped. RFC 2231 pieces
// are then joined (fold2231).
func parseParams(s string) []Param {
	var raw []Param
	for {
		s = strings.TrimLeft(s, " \t\r\n;")
		for strings.HasPrefix(s, "(") {
			s = strings.TrimLeft(skipComment(s), " \t\r\n;")
		}
		if s == "" {
			break
		}
		semi := strings.IndexByte(s, ';')
		if semi < 0 {
			semi = len(s)
		}
		eq := strings.IndexByte(s[:semi], '=')
		if eq < 0 {
			s = s[semi:]
			continue
		}
		name := strings.ToLower(strings.TrimSpace(stripComments(s[:eq])))
		s = strings.TrimLeft(s[eq+1:], " \t\r\n")
		var val string
		if strings.HasPrefix(s, `"`) {
			var b []byte
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b = append(b, s[i])
			}
			val = string(b)
			s = s[min(i+1, len(s)):]
			// Anything between the closing quote and ';' is junk.
			if j := strings.IndexByte(s, ';'); j >= 0 {
				s = s[j:]
			} else {
				s = ""
			}
		} else {
			j := strings.IndexByte(s, ';')
			if j < 0 {
				j = len(s)
			}
			val, s = strings.TrimSpace(stripComments(s[:j])), s[j:]
		}
		if name != "" {
			raw = append(raw, Param{name, val})
		}
	}
	return fold2231(raw)
}

// rfc2231 is one parameter's pieces.
type rfc2231 struct {
	first    int // index in the raw list where it appeared first
	plain    int // index of a plain name=value of the same name, or -1
	sections map[int]rfc2231Section
	single   *rfc2231Section // name*=…
	broken   bool
}

type rfc2231Section struct {
	ext bool
	v   string
}

// fold2231 joins RFC 2231 parameter pieces (name*0, name*1*, name*=…)
// into one name=value, the value decoded to UTF-8, where they are
// well-formed: sections 0..n each once, escapes valid. A charset that
// cannot be converted keeps the extended form under "name*" (joined and
// re-escaped), which RFC 2231-aware clients can still read. Broken pieces
// are kept as they came, so nothing is silently invented.
func fold2231(in []Param) []Param {
	if !hasStar(in) {
		return in
	}
	groups := map[string]*rfc2231{}
	get := func(base string, i int) *rfc2231 {
		g := groups[base]
		if g == nil {
			g = &rfc2231{first: i, plain: -1}
			groups[base] = g
		}
		return g
	}
	for i, p := range in {
		base, idx, star := strings.Cut(p.Name, "*")
		if !star {
			if g := groups[base]; g != nil && g.plain < 0 {
				g.plain = i
			} else if g == nil {
				get(base, i).plain = i
			}
			continue
		}
		g := get(base, i)
		switch {
		case idx == "":
			if g.single != nil {
				g.broken = true
			}
			g.single = &rfc2231Section{ext: true, v: p.Value}
		default:
			ext := strings.HasSuffix(idx, "*")
			idx = strings.TrimSuffix(idx, "*")
			n, err := strconv.Atoi(idx)
			if err != nil || !isDigits(idx) || n > 999 || (len(idx) > 1 && idx[0] == '0') {
				g.broken = true
				continue
			}
			if g.sections == nil {
				g.sections = map[int]rfc2231Section{}
			}
			if _, dup := g.sections[n]; dup {
				g.broken = true
			}
			g.sections[n] = rfc2231Section{ext: ext, v: p.Value}
		}
	}
	out := make([]Param, 0, len(in))
	for i, p := range in {
		base, _, star := strings.Cut(p.Name, "*")
		g := groups[base]
		if g == nil || (g.single == nil && g.sections == nil && !g.broken) {
			out = append(out, p) // plain parameter, no RFC 2231 form
			continue
		}
		if i != g.first {
			if g.broken && star {
				out = append(out, p)
			}
			if g.broken && !star && i == g.plain {
				out = append(out, p)
			}
			continue
		}
		if !g.broken {
			if name, val, ok := g.join(base); ok {
				out = append(out, Param{name, val})
				continue
			}
			g.broken = true
		}
		out = append(out, p)
	}
	return out
}

func hasStar(ps []Param) bool {
	for _, p := range ps {
		if strings.IndexByte(p.Name, '*') >= 0 {
			return true
		}
	}
	return false
}

// join decodes a well-formed parameter; ok is false when it is not.
func (g *rfc2231) join(base string) (name, val string, ok bool) {
	var secs []rfc2231Section
	switch {
	case g.single != nil && g.sections != nil:
		return "", "", false
	case g.single != nil:
		secs = []rfc2231Section{*g.single}
	default:
		for n := 0; n < len(g.sections); n++ {
			s, found := g.sections[n]
			if !found {
				return "", "", false
			}
			secs = append(secs, s)
		}
	}
	var cs, lang string
	var b []byte
	for i, s := range secs {
		v := s.v
		if !s.ext {
			b = append(b, v...)
			continue
		}
		if i == 0 {
			var rest string
			var found bool
			cs, rest, found = strings.Cut(v, "'")
			if !found {
				return "", "", false
			}
			lang, v, found = strings.Cut(rest, "'")
			if !found {
				return "", "", false
			}
		}
		var good bool
		if b, good = appendUnescaped(b, v); !good {
			return "", "", false
		}
	}
	switch strings.ToLower(cs) {
	case "", "us-ascii", "utf-8", "utf8":
		return base, string(b), true
	}
	if r, err := charset.Reader(cs, bytes.NewReader(b)); err == nil {
		// A mislabelled value (bytes its charset does not have) would
		// come out with U+FFFD: keep it undecoded instead of lossy.
		dec, err := io.ReadAll(io.LimitReader(r, 4*int64(len(b))+16))
		if err == nil && !bytes.Contains(dec, replacement) {
			return base, string(dec), true
		}
	}
	return base + "*", cs + "'" + lang + "'" + escape2231(b), true
}

var replacement = []byte("\uFFFD")

func appendUnescaped(b []byte, v string) ([]byte, bool) {
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b = append(b, v[i])
			continue
		}
		if i+2 >= len(v) {
			return b, false
		}
		hi, lo := unhex(v[i+1]), unhex(v[i+2])
		if hi < 0 || lo < 0 {
			return b, false
		}
		b = append(b, byte(hi<<4|lo))
		i += 2
	}
	return b, true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// escape2231 percent-encodes what RFC 2231 attribute-char does not allow.
func escape2231(b []byte) string {
	const hexd = "0123456789ABCDEF"
	var out strings.Builder
	for _, c := range b {
		if c > ' ' && c < 0x7f && strings.IndexByte(`*'%()<>@,;:\"/[]?=`, c) < 0 {
			out.WriteByte(c)
			continue
		}
		out.WriteByte('%')
		out.WriteByte(hexd[c>>4])
		out.WriteByte(hexd[c&15])
	}
	return out.String()
}

// stripComments removes RFC 5322 comments (nested, with quoted pairs),
// leaving quoted strings alone.
func stripComments(s string) string {
	if strings.IndexByte(s, '(') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		switch s[i] {
		case '(':
			i = len(s) - len(skipComment(s[i:]))
			b.WriteByte(' ')
		case '"':
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(s))
			b.WriteString(s[i:j])
			i = j
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}

// skipComment returns s after the comment it starts with; an unclosed
// comment runs to the end.
func skipComment(s string) string {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return s[i+1:]
			}
		}
	}
	return ""
}
