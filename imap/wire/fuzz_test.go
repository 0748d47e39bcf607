package wire

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzReadCommand reads commands from arbitrary bytes. Beyond not
// panicking it checks the stream invariants: a synchronising literal's
// hook runs when exactly its header line has been consumed, and every
// return that lets the connection continue leaves the reader at a line
// boundary, never past the input.
func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{
		"a NOOP\r\n", "a LOGIN {3}\r\nbob {2+}\r\npw\r\n",
		"a APPEND INBOX {2147483648+}\r\nX-Atk: CREATE Smuggled\r\n",
		"a SELECT {5000}\r\n", "a SELECT {5000+}\r\n" + strings.Repeat("x", 5000) + "\r\nb NOOP\r\n",
		"a UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS ({4}\r\nFrom)]<0.1>)\r\n",
		"a SEARCH OR (NOT 1:*) HEADER {1}\r\nx {1+}\r\ny\r\n", "\r\n\na NOOP\n",
		"a APPEND x UTF8 (~{3+}\r\na\x00b)\r\n", "a LOGIN \"x {3+}\r\nabc\r\nb NOOP\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src := &countingReader{r: bytes.NewReader(data)}
		br := bufio.NewReaderSize(src, 16)
		var r *Reader
		consumed := func() int64 { return src.n - int64(br.Buffered()) }
		atHeaderEnd := func(n int64) bool {
			b := data[:n]
			if len(b) < 2 || b[len(b)-1] != '\n' {
				return false
			}
			b = b[:len(b)-1]
			if b[len(b)-1] == '\r' {
				b = b[:len(b)-1]
			}
			_, _, ok := literalTail(b)
			return ok
		}
		hook := func(l LiteralInfo) error {
			if n := consumed(); !l.NonSync && !atHeaderEnd(n) {
				t.Fatalf("hook for %+v at offset %d: not just after a literal header", l, n)
			}
			if l.Size%3 == 1 {
				return errNo
			}
			return nil
		}
		r = NewParser(Limits{MaxLiteral: 4096, MaxAppend: 8192, MaxDrain: 1 << 16}).NewReader(br, hook)
		for {
			_, err := r.ReadCommand()
			n := consumed()
			if n > int64(len(data)) {
				t.Fatalf("consumed %d of %d octets", n, len(data))
			}
			var fe *FatalError
			if err != nil && (errors.As(err, &fe) || class(err) == "io") {
				return
			}
			if n > 0 && data[n-1] != '\n' {
				t.Fatalf("after %v: stopped mid-line at %d", err, n)
			}
			var lr *LiteralRefused
			if errors.As(err, &lr) && !lr.Drained && !atHeaderEnd(n) {
				t.Fatalf("refused literal at %d: not just after its header", n)
			}
		}
	})
}

// FuzzStringRoundTrip: what Writer.String and Writer.AString encode, the
// Reader parses back as the same astring (NUL excepted: it goes out as
// 0x80).
func FuzzStringRoundTrip(f *testing.F) {
	for _, s := range []string{"", "a", "INBOX", "nil", "a b", `"\`, "a\r\nb", "j\xc3\xb6rg", "\xff\x00", "{3}", "a]b", strings.Repeat("x", 2000)} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, utf8 bool) {
		if len(s) > 4000 {
			return
		}
		want := strings.ReplaceAll(s, "\x00", "\x80")
		for _, astring := range []bool{false, true} {
			enc := encode(utf8, func(w *Writer) {
				if astring {
					w.AString(s)
				} else {
					w.String(s)
				}
			})
			if enc[0] == '"' && !utf8 && hasEightString(enc) {
				t.Fatalf("8-bit quoted string %q in 7-bit mode", enc)
			}
			if enc[0] != '{' && strings.ContainsAny(enc, "\r\n\x00") {
				t.Fatalf("%q: unsafe non-literal", enc)
			}
			in := "a LOGIN " + enc + " x\r\n"
			c, err := newTestReader(in, Limits{}, nil).ReadCommand()
			if err != nil {
				t.Fatalf("%q: %v", in, err)
			}
			if got := c.Args.(*LoginArgs).Username.Value; got != want {
				t.Fatalf("%q: got %q, want %q", enc, got, want)
			}
		}
	})
}
