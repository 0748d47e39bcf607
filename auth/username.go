package auth

import (
	"fmt"
	"strings"
)

// UsernameFormat is Dovecot's auth_username_format: how a login name is
// rewritten before it is looked up. "%Lu" (Dovecot's default, and ours)
// lower-cases the whole name; "%Ln" keeps only the lower-cased local
// part ("Alice@Example.org" logs in as "alice"); "%n@%d" keeps the case.
//
// The syntax is Dovecot 2.3's: %u the whole name, %n the part before the
// first '@' (the whole name without one), %d the part after it (empty
// without one), each optionally as %{user}, %{username}, %{domain}, with
// an L (lower) or U (upper) modifier in front of the letter or the
// brace; %% is a percent sign; other text is kept.
type UsernameFormat struct {
	parts []formatPart
}

type formatPart struct {
	lit string
	v   byte // 'u', 'n', 'd'; 0 for a literal
	mod byte // 'L', 'U' or 0
}

// DefaultUsernameFormat is Dovecot's auth_username_format default.
const DefaultUsernameFormat = "%Lu"

// ParseUsernameFormat reads a format; "" is the name as given.
func ParseUsernameFormat(s string) (UsernameFormat, error) {
	var f UsernameFormat
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			f.parts = append(f.parts, formatPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		i++
		if i >= len(s) {
			return f, fmt.Errorf("%q ends in a lone %%", s)
		}
		if s[i] == '%' {
			lit.WriteByte('%')
			continue
		}
		var p formatPart
		if s[i] == 'L' || s[i] == 'U' {
			p.mod = s[i]
			i++
			if i >= len(s) {
				return f, fmt.Errorf("%q ends after the %%%c modifier", s, p.mod)
			}
		}
		switch {
		case s[i] == 'u' || s[i] == 'n' || s[i] == 'd':
			p.v = s[i]
		case s[i] == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return f, fmt.Errorf("%q: unclosed %%{", s)
			}
			switch name := s[i+1 : i+end]; name {
			case "user":
				p.v = 'u'
			case "username":
				p.v = 'n'
			case "domain":
				p.v = 'd'
			default:
				return f, fmt.Errorf("%q: %%{%s} is not one of %%{user}, %%{username}, %%{domain}", s, name)
			}
			i += end
		default:
			return f, fmt.Errorf("%q: %%%c is not one of %%u, %%n, %%d (with L or U before it)", s, s[i])
		}
		flush()
		f.parts = append(f.parts, p)
	}
	flush()
	return f, nil
}

// Apply rewrites a login name. A zero UsernameFormat returns it as it
// is.
func (f UsernameFormat) Apply(name string) string {
	if f.parts == nil {
		return name
	}
	local, domain := name, ""
	if i := strings.IndexByte(name, '@'); i >= 0 {
		local, domain = name[:i], name[i+1:]
	}
	var b strings.Builder
	for _, p := range f.parts {
		var v string
		switch p.v {
		case 0:
			b.WriteString(p.lit)
			continue
		case 'u':
			v = name
		case 'n':
			v = local
		case 'd':
			v = domain
		}
		switch p.mod {
		case 'L':
			v = strings.ToLower(v)
		case 'U':
			v = strings.ToUpper(v)
		}
		b.WriteString(v)
	}
	return b.String()
}

// validDomain accepts a domain that may name a per-domain passwd-file
// (users/%d): lower-case letters, digits, '-', '_' and dots between
// non-empty labels. Login names and recipient addresses are untrusted,
// so nothing else ever reaches a path.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 || d[0] == '.' || d[len(d)-1] == '.' || strings.Contains(d, "..") {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// splitAddress cuts a full-address name at its '@' (ValidName allows at
// most one); ok is false for a plain name.
func splitAddress(name string) (local, domain string, ok bool) {
	i := strings.LastIndexByte(name, '@')
	if i < 0 {
		return name, "", false
	}
	return name[:i], name[i+1:], true
}
