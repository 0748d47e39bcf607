package wire

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// class names the response an error maps to.
func class(err error) string {
	var (
		se *SyntaxError
		tl *TooLong
		lr *LiteralRefused
		fe *FatalError
	)
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &fe):
		return "fatal"
	case errors.As(err, &lr):
		if lr.Drained {
			return "refused-drained"
		}
		return "refused"
	case errors.As(err, &tl):
		return "toolong"
	case errors.As(err, &se):
		return "syntax"
	}
	return "io"
}

func errTag(err error) string {
	var (
		se *SyntaxError
		tl *TooLong
		lr *LiteralRefused
	)
	switch {
	case errors.As(err, &lr):
		return lr.Tag
	case errors.As(err, &tl):
		return tl.Tag
	case errors.As(err, &se):
		return se.Tag
	}
	return ""
}

var errNo = errors.New("no")

// TestErrorsKeepSync: every bad command yields its error class with the
// right tag, and the command after it parses: nothing of the bad one is
// left in the stream, nothing of the next one was eaten.
func TestErrorsKeepSync(t *testing.T) {
	small := Limits{MaxLiteral: 4096, MaxAppend: 100}
	long := strings.Repeat("x", 70000)
	tests := []struct {
		name   string
		in     string
		lim    Limits
		refuse bool // the hook refuses every literal
		class  string
		tag    string
		asked  int // hook calls
	}{
		{"unknown command", "a FOO bar\r\n", Limits{}, false, "syntax", "a", 0},
		{"unknown command with literal", "a FOO {5}\r\n", Limits{}, false, "syntax", "a", 0},
		{"unknown command nonsync literal", "a FOO {5+}\r\nhello\r\n", Limits{}, false, "syntax", "a", 0},
		{"seq zero", "a FETCH 0 FLAGS\r\n", Limits{}, false, "syntax", "a", 0},
		{"seq junk", "a FETCH 1:2: FLAGS\r\n", Limits{}, false, "syntax", "a", 0},
		{"unknown fetch item", "a FETCH 1 (FLAGS FOO)\r\n", Limits{}, false, "syntax", "a", 0},
		{"peek without section", "a FETCH 1 BODY.PEEK\r\n", Limits{}, false, "syntax", "a", 0},
		{"fields without list", "a FETCH 1 BODY[HEADER.FIELDS]\r\n", Limits{}, false, "syntax", "a", 0},
		{"mime without part", "a FETCH 1 BODY[MIME]\r\n", Limits{}, false, "syntax", "a", 0},
		{"binary size partial", "a FETCH 1 BINARY.SIZE[1]<0.5>\r\n", Limits{}, false, "syntax", "a", 0},
		{"vanished without uid", "a FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)\r\n", Limits{}, false, "syntax", "a", 0},
		{"missing mailbox", "a SELECT\r\n", Limits{}, false, "syntax", "a", 0},
		{"extra argument", "a SELECT a b\r\n", Limits{}, false, "syntax", "a", 0},
		{"uid on non-uid command", "a UID NOOP\r\n", Limits{}, false, "syntax", "a", 0},
		{"bad tag", "(a NOOP\r\n", Limits{}, false, "syntax", "", 0},
		{"plus tag", "+ NOOP\r\n", Limits{}, false, "syntax", "", 0},
		{"only tag", "a\r\n", Limits{}, false, "syntax", "a", 0},
		{"NUL in line", "a NO\x00OP\r\n", Limits{}, false, "syntax", "a", 0},
		{"NUL in line with nonsync literal", "a LOGIN \x00 {3+}\r\nabc\r\n", Limits{}, false, "syntax", "a", 0},
		{"NUL in literal", "a LOGIN {3}\r\nb\x00b x\r\n", Limits{}, false, "syntax", "a", 1},
		{"NUL in literal then more", "a LOGIN {3}\r\nb\x00b {2+}\r\nxy\r\n", Limits{}, false, "syntax", "a", 1},
		{"unterminated quoted", "a SELECT \"abc\r\n", Limits{}, false, "syntax", "a", 0},
		{"bare CR in quoted", "a SELECT \"a\rb\"\r\n", Limits{}, false, "syntax", "a", 0},
		{"bare CR in atom", "a SELECT a\rb\r\n", Limits{}, false, "syntax", "a", 0},
		{"8-bit tag", "\xc3\xa9 NOOP\r\n", Limits{}, false, "syntax", "", 0},
		{"bad escape", "a SELECT \"a\\bc\"\r\n", Limits{}, false, "syntax", "a", 0},
		{"unterminated list", "a STATUS x (MESSAGES\r\n", Limits{}, false, "syntax", "a", 0},
		{"unknown status item", "a STATUS x (FOO)\r\n", Limits{}, false, "syntax", "a", 0},
		{"SETQUOTA without a limit", "a SETQUOTA x (STORAGE)\r\n", Limits{}, false, "syntax", "a", 0},
		{"SETQUOTA limit not a number", "a SETQUOTA x (STORAGE big)\r\n", Limits{}, false, "syntax", "a", 0},
		{"GETQUOTA without a root", "a GETQUOTA\r\n", Limits{}, false, "syntax", "a", 0},
		{"bad flag", "a STORE 1 FLAGS (\\*)\r\n", Limits{}, false, "syntax", "a", 0},
		{"bad date", "a SEARCH ON 30-Feb-2020\r\n", Limits{}, false, "syntax", "a", 0},
		{"search too deep", "a SEARCH" + strings.Repeat(" NOT", 500) + " ALL\r\n", Limits{}, false, "syntax", "a", 0},
		{"lists too deep", "a SEARCH " + strings.Repeat("(", 200) + "\r\n", Limits{}, false, "syntax", "a", 0},
		{"append without message", "a APPEND INBOX (\\Seen)\r\n", Limits{}, false, "syntax", "a", 0},
		{"append quoted message", "a APPEND INBOX \"hello\"\r\n", Limits{}, false, "syntax", "a", 0},
		{"login missing password after literal", "a LOGIN {3}\r\nbob\r\n", Limits{}, false, "syntax", "a", 1},
		{"literal header not at end", "a LOGIN {3} x\r\n", Limits{}, false, "syntax", "a", 0},
		{"bad literal header", "a LOGIN {3x}\r\n", Limits{}, false, "syntax", "a", 0},
		{"error before sync literal", "a LOGIN \x01 {5}\r\n", Limits{}, false, "syntax", "a", 0},
		{"error before nonsync literal", "a LOGIN \"x {5+}\r\nhello\r\n", Limits{}, false, "syntax", "a", 0},
		{"error before two nonsync literals", "a LOGIN ) {5+}\r\nhello {2+}\r\nab\r\n", Limits{}, false, "syntax", "a", 0},
		{"bad base64", "a AUTHENTICATE PLAIN !!!\r\n", Limits{}, false, "syntax", "a", 0},
		{"section literal with CRLF", "a FETCH 1 BODY[HEADER.FIELDS ({3}\r\na\r\n)]\r\n", Limits{}, false, "syntax", "a", 1},

		{"sync over literal limit", "a SELECT {5000}\r\n", small, false, "refused", "a", 0},
		{"hook refuses sync", "a LOGIN {3}\r\n", Limits{}, true, "refused", "a", 1},
		{"append over limit sync", "a APPEND INBOX {101}\r\n", small, false, "refused", "a", 0},
		{"huge sync literal", "a APPEND INBOX {99999999999999999999999}\r\n", Limits{}, false, "refused", "a", 0},
		{"nonsync over literal limit", "a SELECT {5000+}\r\n" + strings.Repeat("X CREATE y\r\n", 416) + "abcdefgh\r\n", small, false, "refused-drained", "a", 0},
		{"nonsync refused then more literals", "a LOGIN {5000+}\r\n" + strings.Repeat("z", 5000) + " {3+}\r\nabc\r\n", small, false, "refused-drained", "a", 0},
		{"hook refuses nonsync", "a LOGIN {3+}\r\nabc x\r\n", Limits{}, true, "refused-drained", "a", 1},
		{"literal minus over 4096", "a LOGIN {5000-}\r\n" + strings.Repeat("z", 5000) + " x\r\n", Limits{MaxLiteral: 8192}, false, "refused-drained", "a", 0},
		{"nonsync over NonSyncMax", "a LOGIN {10+}\r\n0123456789 x\r\n", Limits{NonSyncMax: 4}, false, "refused-drained", "a", 0},
		{"append over limit nonsync", "a APPEND INBOX {101+}\r\n" + strings.Repeat("a", 101) + "\r\n", small, false, "refused-drained", "a", 0},
		{"multiappend over total", "a APPEND INBOX {60}\r\n" + strings.Repeat("a", 60) + " {60}\r\n", small, false, "refused", "a", 1},

		{"line too long", "a NOOP " + long + "\r\n", Limits{}, false, "toolong", "a", 0},
		{"line too long ending in nonsync literal", "a LOGIN " + long + " {12+}\r\nz CREATE bad\r\n", Limits{}, false, "toolong", "a", 0},
		{"line too long ending in sync literal", "a LOGIN " + long + " {12}\r\n", Limits{}, false, "toolong", "a", 0},
		{"continuation line too long", "a LOGIN {3}\r\nbob " + long + "\r\n", Limits{}, false, "toolong", "a", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			if tt.refuse {
				rec.refuse = func(LiteralInfo) error { return errNo }
			}
			r := newTestReader(tt.in+"z NOOP\r\n", tt.lim, rec)
			_, err := r.ReadCommand()
			if got := class(err); got != tt.class {
				t.Fatalf("error %v: class %s, want %s", err, got, tt.class)
			}
			if got := errTag(err); got != tt.tag {
				t.Errorf("tag %q, want %q", got, tt.tag)
			}
			if len(rec.asked) != tt.asked {
				t.Errorf("hook asked %d times (%+v), want %d", len(rec.asked), rec.asked, tt.asked)
			}
			c, err := r.ReadCommand()
			if err != nil || c.Tag != "z" || c.Name != "NOOP" {
				t.Fatalf("next command: %+v, %v; want z NOOP", c, err)
			}
			if _, err := r.ReadCommand(); err != io.EOF {
				t.Fatalf("after: %v, want EOF", err)
			}
		})
	}
}

// TestRefuseSecondLiteral: the hook may accept one literal of a command
// and refuse the next; the client then sends nothing more.
func TestRefuseSecondLiteral(t *testing.T) {
	rec := &recorder{}
	rec.refuse = func(LiteralInfo) error {
		if len(rec.asked) == 2 {
			return errNo
		}
		return nil
	}
	r := newTestReader("a LOGIN {3}\r\nbob {3}\r\nz NOOP\r\n", Limits{}, rec)
	_, err := r.ReadCommand()
	var lr *LiteralRefused
	if !errors.As(err, &lr) || lr.Drained || !errors.Is(err, errNo) || lr.Info.Size != 3 {
		t.Fatalf("got %v", err)
	}
	if err := expectCmd(r, "z", "NOOP"); err != nil {
		t.Fatal(err)
	}
}

// TestSmuggledAppend: the octets of an oversized non-synchronising APPEND
// literal are never parsed as commands; the reader gives up instead.
func TestSmuggledAppend(t *testing.T) {
	rec := &recorder{}
	in := "a APPEND INBOX {2147483648+}\r\nX-Atk: CREATE Smuggled\r\nb CREATE Smuggled\r\n"
	r := newTestReader(in, Limits{MaxAppend: 1 << 20}, rec)
	c, err := r.ReadCommand()
	var fe *FatalError
	if !errors.As(err, &fe) || fe.Tag != "a" {
		t.Fatalf("got %+v, %v; want *FatalError for tag a", c, err)
	}
	var le *LimitError
	if !errors.As(err, &le) || le.Size != 2147483648 {
		t.Fatalf("fatal error %v does not carry the limit", err)
	}
	if len(rec.asked) != 0 {
		t.Fatalf("hook asked %+v", rec.asked)
	}
}

// TestSyncLiteralNotReadBeforeHook: when the hook runs, nothing after the
// literal header's line end has been consumed from the stream.
func TestSyncLiteralNotReadBeforeHook(t *testing.T) {
	in := "a LOGIN {3}\r\nbob {2}\r\npw\r\nz NOOP\r\n"
	src := &countingReader{r: strings.NewReader(in)}
	var r *Reader
	var consumed []int64
	rec := &recorder{refuse: func(LiteralInfo) error {
		consumed = append(consumed, src.n-int64(r.Buffered()))
		return nil
	}}
	r = NewParser(Limits{}).NewReader(bufio.NewReaderSize(src, 16), rec.hook)
	c, err := r.ReadCommand()
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Args.(*LoginArgs); a.Username.Value != "bob" || a.Password.Value != "pw" {
		t.Fatalf("args %+v", a)
	}
	want := []LiteralInfo{{Tag: "a", Name: "LOGIN", Size: 3}, {Tag: "a", Name: "LOGIN", Size: 2}}
	if len(rec.asked) != 2 || rec.asked[0] != want[0] || rec.asked[1] != want[1] {
		t.Fatalf("asked %+v, want %+v", rec.asked, want)
	}
	// When the hook runs, the reader has consumed the literal header's line
	// and not one octet more.
	wantPos := []int64{int64(len("a LOGIN {3}\r\n")), int64(len("a LOGIN {3}\r\nbob {2}\r\n"))}
	if len(consumed) != 2 || consumed[0] != wantPos[0] || consumed[1] != wantPos[1] {
		t.Fatalf("consumed %v at hook calls, want %v", consumed, wantPos)
	}
	if err := expectCmd(r, "z", "NOOP"); err != nil {
		t.Fatal(err)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestLiteralInfo(t *testing.T) {
	tests := []struct {
		in   string
		want []LiteralInfo
	}{
		{"a APPEND {3}\r\nbox (\\Seen) {5+}\r\nhello ~{2}\r\nhi UTF8 (~{1}\r\nx)\r\n", []LiteralInfo{
			{Tag: "a", Name: "APPEND", Size: 3},
			{Tag: "a", Name: "APPEND", Size: 5, NonSync: true, Append: true},
			{Tag: "a", Name: "APPEND", Size: 2, Binary: true, Append: true},
			{Tag: "a", Name: "APPEND", Size: 1, Binary: true, Append: true},
		}},
		{"t UID SEARCH SUBJECT {4-}\r\nabcd\r\n", []LiteralInfo{{Tag: "t", Name: "SEARCH", UID: true, Size: 4, NonSync: true}}},
		{"t APPEND x ({1}\r\ny) {1}\r\nz\r\n", nil}, // a literal in a flag list is not a message (and a syntax error)
	}
	for _, tt := range tests {
		rec := &recorder{}
		r := newTestReader(tt.in, Limits{}, rec)
		_, err := r.ReadCommand()
		if tt.want == nil {
			if class(err) != "syntax" || len(rec.asked) != 2 || rec.asked[0].Append || !rec.asked[1].Append {
				t.Errorf("%q: %v, asked %+v", tt.in, err, rec.asked)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tt.in, err)
		}
		if len(rec.asked) != len(tt.want) {
			t.Fatalf("%q: asked %+v", tt.in, rec.asked)
		}
		for i := range tt.want {
			if rec.asked[i] != tt.want[i] {
				t.Errorf("%q: literal %d: %+v, want %+v", tt.in, i, rec.asked[i], tt.want[i])
			}
		}
	}
}

// TestReadLine: AUTHENTICATE and IDLE read raw lines through the same
// bufio.Reader, so pipelined octets after them are kept.
func TestReadLine(t *testing.T) {
	in := "a IDLE\r\ndone\r\nb AUTHENTICATE PLAIN\r\n\r\nAGJvYgBwdw==\nc NOOP\r\n" + "x" + strings.Repeat("y", 70000) + "\r\nd NOOP\r\n"
	r := newTestReader(in, Limits{}, nil)
	steps := []func() error{
		func() error { return expectCmd(r, "a", "IDLE") },
		func() error { return expectLine(r, "done", true) },
		func() error { return expectCmd(r, "b", "AUTHENTICATE") },
		func() error { return expectLine(r, "", false) },
		func() error { return expectLine(r, "AGJvYgBwdw==", false) },
		func() error { return expectCmd(r, "c", "NOOP") },
		func() error {
			if _, err := r.ReadLine(); !errors.Is(err, ErrLineTooLong) {
				return errors.New("long line: " + err.Error())
			}
			return nil
		},
		func() error { return expectCmd(r, "d", "NOOP") },
	}
	for i, s := range steps {
		if err := s(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
}

func expectCmd(r *Reader, tag, name string) error {
	c, err := r.ReadCommand()
	if err != nil {
		return err
	}
	if c.Tag != tag || c.Name != name {
		return errors.New("got " + c.Tag + " " + c.Name)
	}
	return nil
}

func expectLine(r *Reader, want string, done bool) error {
	l, err := r.ReadLine()
	if err != nil {
		return err
	}
	if string(l) != want || IsDone(l) != done {
		return errors.New("line " + string(l))
	}
	return nil
}

// TestPipelined: literals and commands back to back in one buffer.
func TestPipelined(t *testing.T) {
	in := "a LOGIN {3+}\r\nbob {2+}\r\npw\r\nb SELECT {5+}\r\nINBOX\r\nc APPEND INBOX {4+}\r\nab\r\n\nd NOOP\n"
	r := newTestReader(in, Limits{}, nil)
	for _, want := range []string{"a LOGIN", "b SELECT", "c APPEND", "d NOOP"} {
		c, err := r.ReadCommand()
		if err != nil {
			t.Fatalf("%s: %v", want, err)
		}
		if c.Tag+" "+c.Name != want {
			t.Fatalf("got %s %s, want %s", c.Tag, c.Name, want)
		}
		if c.Name == "APPEND" {
			if d := c.Args.(*AppendArgs).Messages[0].Data; string(d) != "ab\r\n" {
				t.Fatalf("append data %q", d)
			}
		}
	}
}

func TestIOErrors(t *testing.T) {
	for in, want := range map[string]error{
		"":                  io.EOF,
		"\r\n":              io.EOF,
		"a NOOP":            io.ErrUnexpectedEOF,
		"a LOGIN {5}\r\nab": io.ErrUnexpectedEOF,
		"a LOGIN {5}\r\n":   io.ErrUnexpectedEOF,
		"a X {5+}\r\nab":    io.ErrUnexpectedEOF,
	} {
		_, err := newTestReader(in, Limits{}, nil).ReadCommand()
		if !errors.Is(err, want) || class(err) != "io" {
			t.Errorf("%q: %v, want %v", in, err, want)
		}
	}
}

// TestRegister: the imap package adds commands without touching wire.
func TestRegister(t *testing.T) {
	p := NewParser(Limits{})
	type quotaArgs struct{ Root String }
	p.Register("getquota", Spec{Parse: func(c *Command, a *Args) (any, error) {
		root, err := a.AString()
		if err != nil {
			return nil, err
		}
		return &quotaArgs{root}, a.End()
	}})
	p.Register("SORT", Spec{UID: true, Parse: func(c *Command, a *Args) (any, error) {
		crit, err := a.Keywords()
		if err != nil {
			return nil, err
		}
		cs, err := a.AString()
		if err != nil {
			return nil, err
		}
		k, err := a.SearchKeys()
		return []any{crit, cs.Value, k.Op}, err
	}})
	p.Unregister("MOVE")
	r := p.NewReader(bufio.NewReader(strings.NewReader("a GETQUOTA \"\"\r\nb UID SORT (REVERSE DATE) UTF-8 ALL\r\nc MOVE 1 x\r\n")), nil)
	c, err := r.ReadCommand()
	if err != nil || c.Args.(*quotaArgs).Root.Value != "" {
		t.Fatalf("GETQUOTA: %+v %v", c, err)
	}
	c, err = r.ReadCommand()
	if err != nil || !c.UID || c.Name != "SORT" {
		t.Fatalf("SORT: %+v %v", c, err)
	}
	if _, err := r.ReadCommand(); class(err) != "syntax" {
		t.Fatalf("unregistered MOVE: %v", err)
	}
}
