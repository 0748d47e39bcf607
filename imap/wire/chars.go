package wire

// Character classes of RFC 9051 §9.

// isAtomChar: ATOM-CHAR = <any CHAR except atom-specials>; octets >= 0x80
// are let through (UTF8=ACCEPT, RFC 6855 §3) and flagged by the caller.
func isAtomChar(c byte) bool {
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return c > ' ' && c != 0x7f
}

// isAStringChar: ASTRING-CHAR = ATOM-CHAR / resp-specials.
func isAStringChar(c byte) bool { return c == ']' || isAtomChar(c) }

// isListChar: list-char = ATOM-CHAR / list-wildcards / resp-specials.
func isListChar(c byte) bool { return c == '%' || c == '*' || isAStringChar(c) }

func upper(b []byte) string {
	for _, c := range b {
		if c >= 'a' && c <= 'z' {
			out := make([]byte, len(b))
			for i, c := range b {
				if c >= 'a' && c <= 'z' {
					c -= 'a' - 'A'
				}
				out[i] = c
			}
			return string(out)
		}
	}
	return string(b)
}

func upperString(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			return upper([]byte(s))
		}
	}
	return s
}

// equalFold compares ASCII case-insensitively; t must be upper case.
func equalFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != t[i] {
			return false
		}
	}
	return true
}

func hasEight(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

func hasEightString(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

// appendQuoted appends b as a quoted string; b must hold no CR or LF.
func appendQuoted(dst, b []byte) []byte {
	dst = append(dst, '"')
	for _, c := range b {
		if c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}
