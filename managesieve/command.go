package managesieve

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// argKind is what a token was on the wire.
type argKind uint8

const (
	argAtom   argKind = iota // a bare word: command names, ACTIVE
	argString                // quoted or literal
	argNumber                // digits only
)

type arg struct {
	kind argKind
	s    string
	n    uint64
}

// command is one parsed command line.
type command struct {
	name string // upper case
	args []arg
}

// Limits of the reader.
const (
	MaxLine    = 8 << 10 // octets of one line outside literals
	MaxString  = 1 << 10 // a quoted string; a literal outside scripts
	MaxDiscard = 16 << 20
)

// errors of the reader. errSyntax and errLiteral leave the reader at the
// start of the next line; errLineTooLong and errDiscard do not, and end
// the session.
var (
	errSyntax      = errors.New("syntax error")
	errLiteral     = errors.New("literal too large")
	errLineTooLong = errors.New("line too long")
	errDiscard     = errors.New("literal too large to skip")
)

// reader reads commands and SASL responses.
type reader struct {
	r *bufio.Reader
	// literalMax gives the largest literal allowed in a line whose first
	// token is cmd ("" for a SASL response line).
	literalMax func(cmd string) int64
}

// readCommand reads one command line. An empty line is a syntax error.
func (p *reader) readCommand() (command, error) {
	args, err := p.readLine(true)
	if err != nil {
		return command{}, err
	}
	if len(args) == 0 || args[0].kind != argAtom {
		return command{}, fmt.Errorf("%w: a command starts with its name", errSyntax)
	}
	return command{name: strings.ToUpper(args[0].s), args: args[1:]}, nil
}

// readLine reads tokens up to the end of the line. With isCmd the first
// token names the command for the literal limit.
func (p *reader) readLine(isCmd bool) ([]arg, error) {
	var args []arg
	used := 0
	name := ""
	// tooBig is a literal over its limit, already dropped: the rest of
	// the line is read the same way (its literals dropped too) so that
	// none of it runs as a command, and the line is refused at its end.
	var tooBig error
	for {
		c, err := p.r.ReadByte()
		if err != nil {
			return nil, err
		}
		used++
		if used > MaxLine {
			return nil, errLineTooLong
		}
		switch {
		case c == ' ':
			continue
		case c == '\r':
			if c2, err := p.r.ReadByte(); err != nil {
				return nil, err
			} else if c2 != '\n' {
				return nil, p.fail("CR without LF")
			}
			if tooBig != nil {
				return nil, tooBig
			}
			return args, nil
		case c == '\n':
			if tooBig != nil {
				return nil, tooBig
			}
			return args, nil
		case c == '"':
			s, n, err := p.quoted()
			used += n
			if err != nil {
				return nil, err
			}
			args = append(args, arg{kind: argString, s: s})
		case c == '{':
			lim := int64(MaxString)
			if p.literalMax != nil {
				lim = p.literalMax(name)
			}
			if tooBig != nil {
				lim = 0
			}
			s, n, err := p.literal(lim)
			used += n
			if errors.Is(err, errLiteral) {
				if tooBig == nil {
					tooBig = err
				}
				continue
			}
			if err != nil {
				return nil, err
			}
			args = append(args, arg{kind: argString, s: s})
		case isAtomChar(c):
			var b strings.Builder
			b.WriteByte(c)
			for {
				c, err := p.r.ReadByte()
				if err != nil {
					return nil, err
				}
				if !isAtomChar(c) {
					p.r.UnreadByte()
					break
				}
				used++
				if used > MaxLine {
					return nil, errLineTooLong
				}
				b.WriteByte(c)
			}
			a := arg{kind: argAtom, s: b.String()}
			if n, err := strconv.ParseUint(a.s, 10, 64); err == nil && a.s[0] >= '0' && a.s[0] <= '9' {
				a.kind, a.n = argNumber, n
			}
			if isCmd && len(args) == 0 {
				name = strings.ToUpper(a.s)
			}
			args = append(args, a)
		default:
			return nil, p.fail(fmt.Sprintf("unexpected character %q", c))
		}
	}
}

func isAtomChar(c byte) bool {
	return c > ' ' && c < 0x7f && c != '"' && c != '{' && c != '}' && c != '(' && c != ')' && c != '\\'
}

// fail skips to the end of the line and returns a syntax error.
func (p *reader) fail(why string) error {
	if _, err := p.skipLine(); err != nil {
		return err
	}
	return fmt.Errorf("%w: %s", errSyntax, why)
}

func (p *reader) skipLine() (int, error) {
	n := 0
	for {
		c, err := p.r.ReadByte()
		if err != nil {
			return n, err
		}
		n++
		if n > MaxLine {
			return n, errLineTooLong
		}
		if c == '\n' {
			return n, nil
		}
	}
}

// quoted reads a quoted string after its opening quote (RFC 5804 §4:
// "\" escapes only '"' and '\'; no CR or LF).
func (p *reader) quoted() (string, int, error) {
	var b strings.Builder
	n := 0
	for {
		c, err := p.r.ReadByte()
		if err != nil {
			return "", n, err
		}
		n++
		if n > MaxString+2 {
			return "", n, p.fail("quoted string too long (use a literal)")
		}
		switch c {
		case '"':
			return b.String(), n, nil
		case '\\':
			c, err = p.r.ReadByte()
			if err != nil {
				return "", n, err
			}
			n++
			if c != '"' && c != '\\' {
				return "", n, p.fail(`"\" escapes only '"' and '\'`)
			}
		case '\r', '\n', 0:
			if c == '\n' {
				return "", n, fmt.Errorf("%w: line ends inside a quoted string", errSyntax)
			}
			if c == '\r' {
				return "", n, p.fail("line ends inside a quoted string")
			}
			return "", n, p.fail("NUL inside a quoted string")
		}
		b.WriteByte(c)
	}
}

// literal reads {n} or {n+}, the CRLF and n octets, after the '{'.
func (p *reader) literal(max int64) (string, int, error) {
	var num []byte
	used := 0
	for {
		c, err := p.r.ReadByte()
		if err != nil {
			return "", used, err
		}
		used++
		if c >= '0' && c <= '9' && len(num) < 12 {
			num = append(num, c)
			continue
		}
		if c == '+' {
			c, err = p.r.ReadByte()
			if err != nil {
				return "", used, err
			}
			used++
		}
		if c != '}' || len(num) == 0 {
			return "", used, p.fail("bad literal: {number} or {number+} expected")
		}
		break
	}
	c, err := p.r.ReadByte()
	if err == nil && c == '\r' {
		c, err = p.r.ReadByte()
	}
	if err != nil {
		return "", used, err
	}
	if c != '\n' {
		return "", used, p.fail("a literal's size must end the line")
	}
	n, _ := strconv.ParseInt(string(num), 10, 64)
	if n > max {
		if n > MaxDiscard {
			return "", used, errDiscard
		}
		if _, err := io.CopyN(io.Discard, p.r, n); err != nil {
			return "", used, err
		}
		return "", used, fmt.Errorf("%w: %d octets, the limit is %d", errLiteral, n, max)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(p.r, buf); err != nil {
		return "", used, err
	}
	return string(buf), used, nil
}

// quote writes s as a quoted string when it may be one, else as a
// literal (RFC 5804 §4: servers send {n}).
func quote(s string) string {
	if len(s) <= MaxString && !strings.ContainsAny(s, "\r\n\x00") {
		if !strings.ContainsAny(s, `"\`) {
			return `"` + s + `"`
		}
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return literal(s)
}

func literal(s string) string {
	return "{" + strconv.Itoa(len(s)) + "}\r\n" + s
}
