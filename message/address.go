package message

import "strings"

// Address lists (RFC 5322 §3.4, with the obsolete forms of §4.4) are read
// entry by entry, an entry ending at a ',' outside angle brackets (or at
// ';' outside a group, a common slip). What comes out follows Dovecot,
// which compliance suites are written against:
//   - display names: quoted strings unquoted, words joined by one space,
//     comments dropped, encoded-words left as they are;
//   - a bare addr-spec takes its comment as the name: "u@d (Real Name)";
//   - a missing local part or domain becomes MISSING_MAILBOX or
//     MISSING_DOMAIN, so that an address never looks like a group marker;
//   - "name: a, b;" gives a start marker (Mailbox = name), the members
//     and an end marker; an unclosed group is closed at the end.
// Malformed entries are recovered rather than dropped: angle addresses
// without a comma between them, a display name without angle brackets
// before an addr-spec, an unclosed '<'. An unclosed quoted string or
// comment runs to the end of the value, as RFC 5322 tokenizing says.

type tokKind uint8

const (
	tWord    tokKind = iota // atom (dots are specials), or encoded-word
	tQuoted                 // quoted string, unquoted
	tLiteral                // [domain literal], as written
	tSpecial                // one of < > @ , ; : .
	tComment                // (comment), text without the parentheses
)

type token struct {
	kind tokKind
	text string
	sp   bool // white space or a comment came before it
}

func (t token) is(c byte) bool { return t.kind == tSpecial && t.text[0] == c }

const addrSpecials = "<>@,;:."

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
			rest := skipComment(s[i:])
			end := len(s) - len(rest)
			text := s[i+1 : end]
			if end > i+1 && s[end-1] == ')' {
				text = s[i+1 : end-1]
			}
			out = append(out, token{kind: tComment, text: unescape(text), sp: sp})
			i = end
			sp = true
		case c == '"':
			j := i + 1
			var b []byte
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b = append(b, s[j])
				j++
			}
			out = append(out, token{kind: tQuoted, text: string(b), sp: sp})
			i = min(j+1, len(s))
			sp = false
		case c == '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				j = len(s) - i - 1
			}
			out = append(out, token{kind: tLiteral, text: s[i : i+j+1], sp: sp})
			i += j + 1
			sp = false
		case strings.IndexByte(addrSpecials, c) >= 0:
			out = append(out, token{kind: tSpecial, text: s[i : i+1], sp: sp})
			i++
			sp = false
		default:
			j := i + 1
			for j < len(s) && strings.IndexByte(" \t\r\n()\"[<>@,;:.", s[j]) < 0 {
				j++
			}
			out = append(out, token{kind: tWord, text: s[i:j], sp: sp})
			i = j
			sp = false
		}
	}
	return out
}

// unescape removes the backslashes of quoted pairs.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b = append(b, s[i])
	}
	return string(b)
}

// phrase renders a display name: one space where white space (or a
// comment) was, quoted strings unquoted, comments out.
func phrase(ts []token) string {
	var b strings.Builder
	first := true
	for _, t := range ts {
		if t.kind == tComment {
			continue
		}
		if !first && t.sp {
			b.WriteByte(' ')
		}
		b.WriteString(t.text)
		first = false
	}
	return b.String()
}

// spec renders a local part or domain: the tokens without the white space
// and comments obsolete syntax allows between them ("john . smith").
func spec(ts []token) string {
	var b strings.Builder
	for _, t := range ts {
		if t.kind != tComment {
			b.WriteString(t.text)
		}
	}
	return b.String()
}

// ParseAddressList parses an address header value (From, To, Cc, …) into
// ENVELOPE addresses, group markers included. It never fails: what cannot
// be read is skipped.
func ParseAddressList(s string) []Address {
	ts := tokenize(s)
	var out []Address
	inGroup, named := false, false
	start := 0 // first token of the current entry
	angle, at := false, false
	for i := 0; i < len(ts); i++ {
		t := ts[i]
		if t.kind != tSpecial {
			continue
		}
		switch t.text[0] {
		case '@':
			at = true
		case '<':
			// Skip to '>': route commas and colons are no separators.
			for i+1 < len(ts) && !ts[i+1].is('>') {
				i++
			}
			i++
			angle = true
		case ',':
			out = entry(out, ts[start:i])
			start, angle, at = i+1, false, false
		case ';':
			out = entry(out, ts[start:i])
			start, angle, at = i+1, false, false
			if inGroup {
				if named {
					out = append(out, Address{})
				}
				inGroup = false
			}
		case ':':
			if inGroup || angle || at {
				continue // not a group: left in the entry as junk
			}
			if name := phrase(ts[start:i]); name != "" {
				out = append(out, Address{Mailbox: name})
				named = true
			} else {
				// An unnamed group is no group (display-name is
				// required); its members still count.
				named = false
			}
			inGroup = true
			start = i + 1
		}
	}
	out = entry(out, ts[min(start, len(ts)):])
	if inGroup && named {
		out = append(out, Address{})
	}
	return out
}

func hasSpecial(ts []token, c byte) bool {
	for _, t := range ts {
		if t.is(c) {
			return true
		}
	}
	return false
}

// entry appends the addresses of one entry of a list.
func entry(out []Address, ts []token) []Address {
	// Angle addresses: each takes the words before it as its name.
	if hasSpecial(ts, '<') {
		from := 0
		for i := 0; i < len(ts); i++ {
			if !ts[i].is('<') {
				continue
			}
			name := phrase(words(ts[from:i]))
			j := i + 1
			for j < len(ts) && !ts[j].is('>') {
				j++
			}
			route, mb, host := angleAddr(ts[i+1 : j])
			if mb != "" || host != "" || name != "" {
				out = append(out, fill(Address{Name: name, Route: route, Mailbox: mb, Host: host}))
			}
			i = j
			from = j + 1
		}
		return out
	}
	// addr-specs. Runs of tokens split at white space (except around '.'
	// and '@', where obsolete syntax allows it) are the candidates: those
	// with an '@' are addresses; words before the first of them are a
	// display name whose angle brackets were forgotten.
	var runs [][]token
	runStart := -1
	var prev token
	for i, t := range ts {
		switch {
		case t.kind == tComment:
			continue
		case t.kind == tSpecial && !t.is('.') && !t.is('@'):
			// ':' or '>' out of place: junk that ends a run.
			if runStart >= 0 {
				runs = append(runs, ts[runStart:i])
			}
			runStart = -1
			continue
		case runStart >= 0 && t.sp && !t.is('.') && !t.is('@') && !prev.is('.') && !prev.is('@'):
			runs = append(runs, ts[runStart:i])
			runStart = -1
		}
		if runStart < 0 {
			runStart = i
		}
		prev = t
	}
	if runStart >= 0 {
		runs = append(runs, ts[runStart:])
	}
	var name []token
	found := false
	n0 := len(out)
	for _, r := range runs {
		at := -1
		for i, t := range r {
			if t.is('@') {
				at = i
			}
		}
		if at < 0 {
			if !found {
				name = append(name, r...)
			}
			continue
		}
		a := Address{Mailbox: spec(r[:at]), Host: spec(r[at+1:])}
		if !found {
			a.Name = phrase(name)
			found = true
		}
		out = append(out, fill(a))
	}
	if !found && len(name) > 0 {
		// No '@' at all: a local part alone ("undisclosed-recipients"
		// without its colon, a local user name).
		out = append(out, fill(Address{Mailbox: phrase(name)}))
	}
	if len(out) == n0+1 && out[n0].Name == "" {
		// RFC 822 style "user@host (Real Name)".
		for i := len(ts) - 1; i >= 0; i-- {
			if ts[i].kind == tComment {
				out[n0].Name = strings.TrimSpace(ts[i].text)
				break
			}
		}
	}
	return out
}

// words drops the specials a display name cannot hold, so junk like a
// stray '>' does not end up in it; '.' and '@' stay ("john@x.org
// <john@x.org>" is common).
func words(ts []token) []token {
	out := ts[:0:0]
	for _, t := range ts {
		if t.kind != tSpecial || t.is('.') || t.is('@') {
			out = append(out, t)
		}
	}
	return out
}

// angleAddr reads what is between '<' and '>': [@route,@route:]local@domain.
func angleAddr(ts []token) (route, mailbox, host string) {
	for i, t := range ts {
		if t.kind == tComment {
			continue
		}
		if !t.is('@') {
			break
		}
		// An obsolete route (RFC 5322 §4.4) runs to the first ':'.
		for j := i + 1; j < len(ts); j++ {
			if ts[j].is(':') {
				var b strings.Builder
				for _, r := range ts[i:j] {
					if r.kind != tComment {
						b.WriteString(r.text)
					}
				}
				route, ts = b.String(), ts[j+1:]
				break
			}
		}
		break
	}
	at := -1
	for i, t := range ts {
		if t.is('@') {
			at = i
		}
	}
	if at < 0 {
		return route, spec(words(ts)), ""
	}
	return route, spec(ts[:at]), spec(ts[at+1:])
}

func fill(a Address) Address {
	if a.Mailbox == "" {
		a.Mailbox = MissingMailbox
	}
	if a.Host == "" {
		a.Host = MissingDomain
	}
	return a
}
