package message

import "strings"

// Address is an IMAP ENVELOPE address (RFC 9051 §7.5.2). A group start
// marker has Mailbox = the group's name and Host = ""; a group end marker
// has every field empty.
type Address struct {
	Name, Route, Mailbox, Host string
}

// IsGroupStart reports whether a is a group start marker.
func (a Address) IsGroupStart() bool { return a.Host == "" && a.Mailbox != "" }

// IsGroupEnd reports whether a is a group end marker.
func (a Address) IsGroupEnd() bool { return a == Address{} }

// Placeholders for parts an address lacks, as Dovecot writes them, so that
// a bare local part is never mistaken for a group marker.
const (
	MissingDomain  = "MISSING_DOMAIN"
	MissingMailbox = "MISSING_MAILBOX"
)

type tokKind uint8

const (
	tAtom tokKind = iota
	tQuoted
	tSpecial
	tLiteral // [domain literal]
)

type token struct {
	kind tokKind
	text string // unquoted for tQuoted; the character for tSpecial
	sp   bool   // white space or a comment came before it
}

// tokenize splits an address header value into RFC 5322 tokens,
// dropping comments. Malformed input (unclosed quotes, comments, literals)
// ends at the end of the value.
func tokenize(s string) []token {
	var out []token
	sp := false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			sp = true
			i++
		case c == '(':
			depth := 0
			for ; i < len(s); i++ {
				if s[i] == '\\' {
					i++
					continue
				}
				if s[i] == '(' {
					depth++
				} else if s[i] == ')' {
					depth--
					if depth == 0 {
						i++
						break
					}
				}
			}
			sp = true
		case c == '"':
			var b strings.Builder
			i++
			for i < len(s) && s[i] != '"' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				if s[i] != '\r' && s[i] != '\n' {
					b.WriteByte(s[i])
				}
				i++
			}
			i++
			out = append(out, token{kind: tQuoted, text: b.String(), sp: sp})
			sp = false
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				j = len(s) - i - 1
			}
			out = append(out, token{kind: tLiteral, text: s[i : i+j+1], sp: sp})
			i += j + 1
			sp = false
		case strings.IndexByte("<>@,;:.", c) >= 0:
			out = append(out, token{kind: tSpecial, text: string(c), sp: sp})
			i++
			sp = false
		default:
			j := i
			for j < len(s) && strings.IndexByte(" \t\r\n()\"[<>@,;:.", s[j]) < 0 {
				j++
			}
			if j == i { // a lone ']' or ')'
				j++
			}
			out = append(out, token{kind: tAtom, text: s[i:j], sp: sp})
			i = j
			sp = false
		}
	}
	return out
}

// phrase joins words as a display name: quoted strings unquoted, words
// separated by one space, encoded-words left as they are.
func phrase(ts []token) string {
	var b strings.Builder
	for i, t := range ts {
		if i > 0 && (t.sp || t.kind != tSpecial && ts[i-1].kind != tSpecial) {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
	}
	return b.String()
}

// addrSpec turns the tokens of local@domain into mailbox and host.
func addrSpec(ts []token) (mailbox, host string) {
	at := -1
	for i, t := range ts {
		if t.kind == tSpecial && t.text == "@" {
			at = i
		}
	}
	join := func(ts []token) string {
		var b strings.Builder
		for _, t := range ts {
			b.WriteString(t.text)
		}
		return b.String()
	}
	if at < 0 {
		return join(ts), ""
	}
	return join(ts[:at]), join(ts[at+1:])
}

// ParseAddressList parses an address header value (From, To, Cc, …) into
// ENVELOPE addresses, group markers included.
func ParseAddressList(s string) []Address {
	ts := tokenize(s)
	var out []Address
	inGroup := false
	var words []token
	done := false // an angle address ended this entry; skip to ','
	emit := func(a Address) {
		if a.Mailbox == "" {
			a.Mailbox = MissingMailbox
		}
		if a.Host == "" {
			a.Host = MissingDomain
		}
		out = append(out, a)
	}
	flush := func() {
		if !done && len(words) > 0 {
			mb, host := addrSpec(words)
			if mb != "" || host != "" {
				emit(Address{Mailbox: mb, Host: host})
			}
		}
		words, done = nil, false
	}
	for i := 0; i < len(ts); i++ {
		t := ts[i]
		if t.kind != tSpecial {
			words = append(words, t)
			continue
		}
		switch t.text {
		case ",":
			flush()
		case ":":
			if inGroup || hasAt(words) {
				words = append(words, t)
				continue
			}
			out = append(out, Address{Mailbox: phrase(words)})
			if out[len(out)-1].Mailbox == "" {
				// An unnamed group still needs a start marker.
				out[len(out)-1].Mailbox = MissingMailbox
			}
			inGroup, words, done = true, nil, false
		case ";":
			flush()
			if inGroup {
				out = append(out, Address{})
				inGroup = false
			}
		case "<":
			j := i + 1
			for j < len(ts) && !(ts[j].kind == tSpecial && ts[j].text == ">") {
				j++
			}
			inner := ts[i+1 : min(j, len(ts))]
			route := ""
			// Obsolete route: <@a,@b:user@host>.
			for k, it := range inner {
				if it.kind == tSpecial && it.text == ":" && len(inner) > 0 && inner[0].text == "@" {
					var b strings.Builder
					for _, r := range inner[:k] {
						b.WriteString(r.text)
					}
					route, inner = b.String(), inner[k+1:]
					break
				}
			}
			mb, host := addrSpec(inner)
			if len(inner) == 0 {
				// <> is the null sender: keep nothing rather than invent.
				words, done = nil, true
				i = j
				continue
			}
			emit(Address{Name: phrase(words), Route: route, Mailbox: mb, Host: host})
			words, done = nil, true
			i = j
		default:
			words = append(words, t)
		}
	}
	flush()
	if inGroup {
		out = append(out, Address{})
	}
	return out
}

func hasAt(ts []token) bool {
	for _, t := range ts {
		if t.kind == tSpecial && t.text == "@" {
			return true
		}
	}
	return false
}
