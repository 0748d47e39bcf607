package sieve

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The lexer follows RFC 5228 §8.1. Line ends may be CRLF or a bare LF
// (scripts edited on Unix and uploaded by ManageSieve clients have both);
// a bare CR is white space. Strings are returned as written (escapes
// removed, dot-stuffing undone): encoded-character and variables are
// applied later, by the checker, once the require list is known.

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tTag
	tNumber
	tString
	tLBracket
	tRBracket
	tLParen
	tRParen
	tComma
	tSemi
	tLBrace
	tRBrace
)

func (k tokKind) String() string {
	switch k {
	case tEOF:
		return "end of script"
	case tIdent:
		return "identifier"
	case tTag:
		return "tag"
	case tNumber:
		return "number"
	case tString:
		return "string"
	case tLBracket:
		return "'['"
	case tRBracket:
		return "']'"
	case tLParen:
		return "'('"
	case tRParen:
		return "')'"
	case tComma:
		return "','"
	case tSemi:
		return "';'"
	case tLBrace:
		return "'{'"
	case tRBrace:
		return "'}'"
	}
	return "token"
}

// Pos is a place in a script: line and column, both from 1. Columns
// count characters, not bytes, so they match what an editor shows.
type Pos struct{ Line, Col int }

type token struct {
	kind tokKind
	pos  Pos
	text string // identifier/tag name (lower case), or string value
	num  int64
}

func (t token) describe() string {
	switch t.kind {
	case tIdent:
		return fmt.Sprintf("identifier '%s'", t.text)
	case tTag:
		return fmt.Sprintf("tag ':%s'", t.text)
	case tNumber:
		return fmt.Sprintf("number %d", t.num)
	case tString:
		return "string"
	}
	return t.kind.String()
}

var punct = map[byte]tokKind{'[': tLBracket, ']': tRBracket, '(': tLParen, ')': tRParen,
	',': tComma, ';': tSemi, '{': tLBrace, '}': tRBrace}

type lexer struct {
	src  []byte
	off  int
	line int
	col  int
}

func newLexer(src []byte) *lexer { return &lexer{src: src, line: 1, col: 1} }

func (l *lexer) pos() Pos { return Pos{l.line, l.col} }

// advance moves past one byte, keeping line and column.
func (l *lexer) advance() {
	c := l.src[l.off]
	l.off++
	switch {
	case c == '\n':
		l.line++
		l.col = 1
	case c < 0x80 || c >= 0xC0:
		l.col++ // continuation bytes do not start a character
	}
}

func (l *lexer) peekByte(i int) byte {
	if l.off+i < len(l.src) {
		return l.src[l.off+i]
	}
	return 0
}

func errAt(p Pos, format string, a ...any) *Error {
	return &Error{Line: p.Line, Col: p.Col, Msg: fmt.Sprintf(format, a...)}
}

// skip passes white space and comments.
func (l *lexer) skip() error {
	for l.off < len(l.src) {
		c := l.src[l.off]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			l.advance()
		case c == '#':
			for l.off < len(l.src) && l.src[l.off] != '\n' {
				l.advance()
			}
		case c == '/' && l.peekByte(1) == '*':
			p := l.pos()
			l.advance()
			l.advance()
			for {
				if l.off >= len(l.src) {
					return errAt(p, "comment started here is never closed with */")
				}
				if l.src[l.off] == '*' && l.peekByte(1) == '/' {
					l.advance()
					l.advance()
					break
				}
				l.advance()
			}
		default:
			return nil
		}
	}
	return nil
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// maxNumber is the largest number a script may write: Pigeonhole's
// sieve_number_t is 64 bits; we stay well clear of overflow in size
// arithmetic.
const maxNumber = 1<<53 - 1

func (l *lexer) next() (token, error) {
	if err := l.skip(); err != nil {
		return token{}, err
	}
	p := l.pos()
	if l.off >= len(l.src) {
		return token{kind: tEOF, pos: p}, nil
	}
	c := l.src[l.off]
	if k, ok := punct[c]; ok {
		l.advance()
		return token{kind: k, pos: p}, nil
	}
	switch {
	case c == '"':
		return l.quoted(p)
	case c == ':':
		l.advance()
		if l.off >= len(l.src) || !isAlpha(l.src[l.off]) {
			return token{}, errAt(p, "a tag is ':' followed by a name, like :contains")
		}
		name := l.ident()
		return token{kind: tTag, pos: p, text: name}, nil
	case isDigit(c):
		var n int64
		for l.off < len(l.src) && isDigit(l.src[l.off]) {
			n = n*10 + int64(l.src[l.off]-'0')
			if n > maxNumber {
				return token{}, errAt(p, "number is too large")
			}
			l.advance()
		}
		if l.off < len(l.src) {
			mul := int64(0)
			switch l.src[l.off] {
			case 'k', 'K':
				mul = 1 << 10
			case 'm', 'M':
				mul = 1 << 20
			case 'g', 'G':
				mul = 1 << 30
			}
			if mul != 0 {
				l.advance()
				if n > maxNumber/mul {
					return token{}, errAt(p, "number is too large")
				}
				n *= mul
			}
		}
		if l.off < len(l.src) && (isAlpha(l.src[l.off]) || isDigit(l.src[l.off])) {
			return token{}, errAt(p, "a number may only be followed by K, M or G")
		}
		return token{kind: tNumber, pos: p, num: n}, nil
	case isAlpha(c):
		name := l.ident()
		if name == "text" && l.peekByte(0) == ':' {
			l.advance()
			return l.multiline(p)
		}
		return token{kind: tIdent, pos: p, text: name}, nil
	}
	r, _ := utf8.DecodeRune(l.src[l.off:])
	if r == utf8.RuneError {
		return token{}, errAt(p, "unexpected byte 0x%02x", c)
	}
	return token{}, errAt(p, "unexpected character %q", r)
}

// ident reads an identifier; Sieve names are case-insensitive.
func (l *lexer) ident() string {
	start := l.off
	for l.off < len(l.src) && (isAlpha(l.src[l.off]) || isDigit(l.src[l.off])) {
		l.advance()
	}
	return strings.ToLower(string(l.src[start:l.off]))
}

// quoted reads a quoted string. RFC 5228 §2.4.2: \" and \\ are the
// escapes; any other backslash is dropped, keeping the character after
// it, which is what Pigeonhole does too.
func (l *lexer) quoted(p Pos) (token, error) {
	l.advance()
	var b strings.Builder
	for {
		if l.off >= len(l.src) {
			return token{}, errAt(p, "string started here is never closed with \"")
		}
		c := l.src[l.off]
		if c == '"' {
			l.advance()
			break
		}
		if c == '\\' {
			l.advance()
			if l.off >= len(l.src) {
				continue
			}
			c = l.src[l.off]
		}
		if c == '\r' && l.peekByte(1) == '\n' {
			// CRLF in a string stays CRLF; a bare LF becomes CRLF so a
			// script means the same whatever its line ends.
			l.advance()
			c = '\n'
		}
		if c == '\n' {
			b.WriteString("\r\n")
		} else {
			b.WriteByte(c)
		}
		l.advance()
	}
	return token{kind: tString, pos: p, text: b.String()}, nil
}

// multiline reads a text: string (RFC 5228 §2.4.2 and §8.1): the rest of
// the "text:" line may hold white space and a # comment; lines follow
// until one that is a lone "."; a leading ".." loses one dot.
func (l *lexer) multiline(p Pos) (token, error) {
	for l.off < len(l.src) && (l.src[l.off] == ' ' || l.src[l.off] == '\t') {
		l.advance()
	}
	if l.peekByte(0) == '#' {
		for l.off < len(l.src) && l.src[l.off] != '\n' {
			l.advance()
		}
	} else if l.peekByte(0) == '\r' && l.peekByte(1) == '\n' {
		l.advance()
	}
	if l.peekByte(0) != '\n' {
		return token{}, errAt(p, "text: must be followed by the end of the line")
	}
	l.advance()
	var b strings.Builder
	for {
		if l.off >= len(l.src) {
			return token{}, errAt(p, "multi-line string started here never ends with a line holding only '.'")
		}
		start := l.off
		for l.off < len(l.src) && l.src[l.off] != '\n' {
			l.advance()
		}
		line := string(l.src[start:l.off])
		line = strings.TrimSuffix(line, "\r")
		if l.off < len(l.src) {
			l.advance()
		} else if line != "." {
			return token{}, errAt(p, "multi-line string started here never ends with a line holding only '.'")
		}
		if line == "." {
			break
		}
		if strings.HasPrefix(line, "..") {
			line = line[1:]
		}
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	return token{kind: tString, pos: p, text: b.String()}, nil
}
