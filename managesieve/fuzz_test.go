package managesieve

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
)

// FuzzReadCommand feeds arbitrary bytes to the command reader: it must
// never panic, never return more than its limits allow, and always make
// progress (each call consumes input or ends).
func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{
		"CAPABILITY\r\n",
		"AUTHENTICATE \"PLAIN\" \"AGFubgBzZWNyZXQ=\"\r\n",
		"PUTSCRIPT \"a\" {6+}\r\nkeep;\n\r\n",
		"PUTSCRIPT {1}\r\nc {5}\r\nstop;\r\n",
		"HAVESPACE \"x\" 18446744073709551616\r\n",
		"NOOP \"a\\\"b\\\\c\"\r\n",
		"GETSCRIPT {99999999999+}\r\n",
		"\"unterminated\r\n",
		"{3+}\r\nabc {2}\r\nxy\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &reader{r: bufio.NewReader(bytes.NewReader(in)), literalMax: func(cmd string) int64 {
			if cmd == "PUTSCRIPT" {
				return 4096
			}
			return MaxString
		}}
		for i := 0; i <= len(in); i++ {
			cmd, err := r.readCommand()
			if err != nil {
				if errors.Is(err, errSyntax) || errors.Is(err, errLiteral) {
					continue
				}
				return // EOF or a fatal limit: the session would end
			}
			for _, a := range cmd.args {
				if a.kind == argString && len(a.s) > 4096 {
					t.Fatalf("a %d-octet string passed the limit", len(a.s))
				}
			}
		}
	})
}
