package pop3

import (
	"bytes"
	"errors"
	"strconv"
)

// MaxLine is the longest command line, CRLF included (RFC 2449 §4).
const MaxLine = 255

// maxArg is the longest argument RFC 2449 §4 allows; PASS and AUTH carry
// secrets and SASL data and are exempt.
const maxArg = 40

// command is one parsed command line.
type command struct {
	name string   // upper case
	args []string // PASS has its whole rest of line as one argument
}

var (
	errEmpty   = errors.New("empty command")
	errKeyword = errors.New("command keyword must be 3 or 4 letters")
	errArgLong = errors.New("argument longer than 40 octets")
	errCtl     = errors.New("control character in command")
)

// parseCommand splits a command line (without its line end). Keywords are
// case-insensitive; arguments are separated by spaces. PASS keeps spaces
// in the password, as RFC 1939 §7 allows.
func parseCommand(line []byte) (command, error) {
	for _, c := range line {
		if c < ' ' && c != '\t' || c == 0x7f {
			return command{}, errCtl
		}
	}
	kw, rest, _ := bytes.Cut(line, []byte(" "))
	if len(kw) == 0 {
		return command{}, errEmpty
	}
	if len(kw) < 3 || len(kw) > 4 {
		return command{}, errKeyword
	}
	var name [4]byte
	for i, c := range kw {
		switch {
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= 'A' && c <= 'Z':
		default:
			return command{}, errKeyword
		}
		name[i] = c
	}
	cmd := command{name: string(name[:len(kw)])}
	if cmd.name == "PASS" {
		if len(rest) > 0 {
			cmd.args = []string{string(rest)}
		}
		return cmd, nil
	}
	for _, f := range bytes.Fields(rest) {
		if len(f) > maxArg && cmd.name != "AUTH" {
			return command{}, errArgLong
		}
		cmd.args = append(cmd.args, string(f))
	}
	return cmd, nil
}

// msgNumber parses a message number argument: decimal digits only, no
// sign, no leading '+' that strconv would take.
func msgNumber(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}
