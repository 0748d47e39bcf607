package message

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func corpus(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, dir := range []string{"../testdata/messages", "../testdata/hostile"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		if len(files) == 0 {
			t.Fatalf("no messages in %s", dir)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out[filepath.Base(dir)+"/"+filepath.Base(f)] = Canonical(b)
		}
	}
	return out
}

// render prints ENVELOPE and BODYSTRUCTURE in IMAP's shape, for goldens.
func render(info *Info) string {
	var b strings.Builder
	renderEnvelope(&b, &info.Envelope)
	b.WriteString("\n")
	renderPart(&b, info.Body, "")
	return b.String()
}

func nstring(s string) string {
	if s == "" {
		return "NIL"
	}
	return fmt.Sprintf("%q", s)
}

func renderEnvelope(b *strings.Builder, e *Envelope) {
	fmt.Fprintf(b, "ENVELOPE (%s %s", nstring(e.Date), nstring(e.Subject))
	for _, as := range [][]Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		if len(as) == 0 {
			b.WriteString(" NIL")
			continue
		}
		b.WriteString(" (")
		for _, a := range as {
			fmt.Fprintf(b, "(%s %s %s %s)", nstring(a.Name), nstring(a.Route), nstring(a.Mailbox), nstring(a.Host))
		}
		b.WriteString(")")
	}
	fmt.Fprintf(b, " %s %s)", nstring(e.InReplyTo), nstring(e.MessageID))
}

func renderParams(ps []Param) string {
	if len(ps) == 0 {
		return "NIL"
	}
	var s []string
	for _, p := range ps {
		s = append(s, fmt.Sprintf("%q %q", p.Name, p.Value))
	}
	return "(" + strings.Join(s, " ") + ")"
}

func renderPart(b *strings.Builder, p *Part, indent string) {
	fmt.Fprintf(b, "%s%s/%s %s [%d %d %d]", indent, p.Type, p.Subtype, renderParams(p.Params), p.HeaderOffset, p.BodyOffset, p.EndOffset)
	if len(p.Children) == 0 {
		fmt.Fprintf(b, " id=%s desc=%s enc=%s size=%d lines=%d", nstring(p.ID), nstring(p.Description), p.Encoding, p.Size, p.Lines)
	}
	if p.Disposition != "" {
		fmt.Fprintf(b, " disp=%s %s", p.Disposition, renderParams(p.DispositionParams))
	}
	if len(p.Language) > 0 {
		fmt.Fprintf(b, " lang=%q", p.Language)
	}
	if p.Location != "" {
		fmt.Fprintf(b, " loc=%q", p.Location)
	}
	b.WriteString("\n")
	for _, c := range p.Children {
		renderPart(b, c, indent+"  ")
	}
	if p.Message != nil {
		b.WriteString(indent + "  ")
		renderEnvelope(b, p.Envelope)
		b.WriteString("\n")
		renderPart(b, p.Message, indent+"  ")
	}
}

// checkOffsets verifies every part's offsets against the bytes.
func checkOffsets(t testing.TB, name string, msg []byte, p *Part, lo, hi int64) int {
	t.Helper()
	if !(lo <= p.HeaderOffset && p.HeaderOffset <= p.BodyOffset && p.BodyOffset <= p.EndOffset && p.EndOffset <= hi) {
		t.Fatalf("%s: offsets %d %d %d outside [%d,%d]", name, p.HeaderOffset, p.BodyOffset, p.EndOffset, lo, hi)
	}
	if p.Size != p.EndOffset-p.BodyOffset {
		t.Fatalf("%s: size %d, offsets say %d", name, p.Size, p.EndOffset-p.BodyOffset)
	}
	n := 1
	prev := p.BodyOffset
	for _, c := range p.Children {
		if c.HeaderOffset < prev {
			t.Fatalf("%s: child starts at %d before %d", name, c.HeaderOffset, prev)
		}
		n += checkOffsets(t, name, msg, c, p.BodyOffset, p.EndOffset)
		prev = c.EndOffset
		// A child's body is preceded by its header block and an empty line.
		if c.BodyOffset > c.HeaderOffset && c.BodyOffset < c.EndOffset && !bytes.HasSuffix(msg[c.HeaderOffset:c.BodyOffset], []byte("\n")) {
			t.Fatalf("%s: child header %d..%d does not end a line", name, c.HeaderOffset, c.BodyOffset)
		}
	}
	if p.Message != nil {
		n += checkOffsets(t, name, msg, p.Message, p.BodyOffset, p.EndOffset)
	}
	return n
}

func TestCorpusGolden(t *testing.T) {
	c := corpus(t)
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		msg := c[name]
		info, err := ParseBytes(msg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if info.Size != int64(len(msg)) {
			t.Fatalf("%s: size %d", name, info.Size)
		}
		checkOffsets(t, name, msg, info.Body, 0, int64(len(msg)))
		// Streaming, byte by byte, gives the same.
		info2, err := Parse(iotest.OneByteReader(bytes.NewReader(msg)))
		if err != nil || !reflect.DeepEqual(info, info2) {
			t.Fatalf("%s: Parse and ParseBytes differ", name)
		}
		// The cache encoding round-trips.
		eb, _ := info.Envelope.MarshalBinary()
		bb, _ := info.Body.MarshalBinary()
		var env Envelope
		var body Part
		if err := env.UnmarshalBinary(eb); err != nil || !reflect.DeepEqual(env, info.Envelope) {
			t.Fatalf("%s: envelope round trip: %v", name, err)
		}
		if err := body.UnmarshalBinary(bb); err != nil || !reflect.DeepEqual(&body, info.Body) {
			t.Fatalf("%s: body round trip: %v", name, err)
		}
		got := render(info)
		golden := filepath.Join("testdata", "golden", strings.ReplaceAll(name, "/", "_")+".golden")
		if *update {
			os.MkdirAll(filepath.Dir(golden), 0o755)
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%s: %v (run go test -update once and review)", name, err)
		}
		if got != string(want) {
			t.Errorf("%s: differs from %s:\n got: %s\nwant: %s", name, golden, got, want)
		}
	}
}

func TestAddressList(t *testing.T) {
	cases := []struct{ in, want string }{
		{`Alice <alice@example.org>`, `("Alice" NIL "alice" "example.org")`},
		{`"Smith, John" <john@x.org>, bob@y.org`, `("Smith, John" NIL "john" "x.org")(NIL NIL "bob" "y.org")`},
		{`undisclosed-recipients:;`, `(NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)`},
		{`A Group: ann@a.org, Ben <ben@b.org>; carl@c.org`, `(NIL NIL "A Group" NIL)(NIL NIL "ann" "a.org")("Ben" NIL "ben" "b.org")(NIL NIL NIL NIL)(NIL NIL "carl" "c.org")`},
		{`Pete(A nice \) chap) <pete(his account)@silly.test(his host)>`, `("Pete" NIL "pete" "silly.test")`},
		{`<@relay.a,@relay.b:joe@x.org>`, `(NIL "@relay.a,@relay.b" "joe" "x.org")`},
		{`John Q. Public <john.q.public@example.com>`, `("John Q. Public" NIL "john.q.public" "example.com")`},
		{`=?UTF-8?Q?J=C3=B6rg?= <j@x.org>`, `("=?UTF-8?Q?J=C3=B6rg?=" NIL "j" "x.org")`},
		{`localonly`, `(NIL NIL "localonly" "MISSING_DOMAIN")`},
		{`Unclosed <a@b`, `("Unclosed" NIL "a" "b")`},
		{`"Joe Q. Public" <john.q.public@example.com>, Mary Smith <mary@x.test>, , jdoe@one.test`, `("Joe Q. Public" NIL "john.q.public" "example.com")("Mary Smith" NIL "mary" "x.test")(NIL NIL "jdoe" "one.test")`},
		{``, ``},
	}
	for _, c := range cases {
		var b strings.Builder
		for _, a := range ParseAddressList(c.in) {
			fmt.Fprintf(&b, "(%s %s %s %s)", nstring(a.Name), nstring(a.Route), nstring(a.Mailbox), nstring(a.Host))
		}
		if b.String() != c.want {
			t.Errorf("%q:\n got %s\nwant %s", c.in, b.String(), c.want)
		}
	}
}

func TestParseDate(t *testing.T) {
	good := map[string]string{
		"Fri, 21 Nov 1997 09:55:06 -0600":             "1997-11-21T09:55:06-06:00",
		"21 Nov 97 09:55:06 GMT":                      "1997-11-21T09:55:06Z",
		"Thu, 13 Feb 1969 23:32 -0330 (Newfoundland)": "1969-02-13T23:32:00-03:30",
		"Mon, 1 Jan 2024 10:00:00 +0100 (CET)":        "2024-01-01T10:00:00+01:00",
		"Tue,  1 Jul 2003 10:52:37 EDT":               "2003-07-01T10:52:37-04:00",
		"Mon Jan  2 15:04:05 2006":                    "2006-01-02T15:04:05Z",
		"2024-03-01T12:00:00Z":                        "2024-03-01T12:00:00Z",
		"1 Jan 2020 00:00:00 Z":                       "2020-01-01T00:00:00Z",
	}
	for in, want := range good {
		got, ok := ParseDate(in)
		if !ok || got.Format(time.RFC3339) != want {
			t.Errorf("ParseDate(%q) = %v %v, want %s", in, got.Format(time.RFC3339), ok, want)
		}
	}
	for _, bad := range []string{"", "garbage", "32 Foo 2024 25:61:61 +0000", "1700000000"} {
		if got, ok := ParseDate(bad); ok {
			t.Errorf("ParseDate(%q) = %v, want failure", bad, got)
		}
	}
}

// The big hostile files parse without memory far beyond their size.
func TestBigHostile(t *testing.T) {
	for _, size := range []int{10 << 20} {
		msg := []byte("Subject: big\r\n\r\n" + strings.Repeat("x", size) + "\r\n")
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		info, err := ParseBytes(msg)
		runtime.ReadMemStats(&after)
		if err != nil || info.Body.Size != int64(size+2) || info.Body.Lines != 1 {
			t.Fatalf("%+v %v", info.Body, err)
		}
		if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<20 {
			t.Fatalf("parsing a %d-byte body allocated %d bytes", size, grown)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, m := range corpus(f) {
		if len(m) < 64<<10 {
			f.Add(m)
		}
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		info, err := ParseBytes(msg)
		if err != nil {
			t.Fatal(err)
		}
		checkOffsets(t, "fuzz", msg, info.Body, 0, int64(len(msg)))
		bb, _ := info.Body.MarshalBinary()
		var back Part
		if err := back.UnmarshalBinary(bb); err != nil || !reflect.DeepEqual(&back, info.Body) {
			t.Fatalf("round trip: %v", err)
		}
		// Truncated cache records fail cleanly.
		for i := 0; i < len(bb); i += 1 + len(bb)/16 {
			var p Part
			_ = p.UnmarshalBinary(bb[:i])
		}
	})
}

func FuzzAddressList(f *testing.F) {
	for _, s := range []string{`a@b`, `A Group: a@b, c@d;`, `"x, y" <z@w>`, `<@r:a@b>`, `(c) a@b (d)`, `:;`, `<>`, `"unterminated`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		depth := 0
		for _, a := range ParseAddressList(s) {
			switch {
			case a.IsGroupEnd():
				depth--
			case a.IsGroupStart():
				depth++
			}
			if depth < 0 || depth > 1 {
				t.Fatalf("unbalanced groups in %q", s)
			}
		}
		if depth != 0 {
			t.Fatalf("group left open in %q", s)
		}
	})
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"Fri, 21 Nov 1997 09:55:06 -0600", "21 Nov 97 09:55 GMT", "Mon Jan  2 15:04:05 2006", "2024-03-01T12:00:00Z", "(c) 1 Jan 2000 00:00:00 +0000 (x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := ParseDate(s); ok && (d.Year() < 1900 || d.Year() > 9999) {
			t.Fatalf("%q → %v", s, d)
		}
	})
}

func TestCRLF(t *testing.T) {
	cases := []struct{ in, canon string }{
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\rb\r", "a\rb\r"},
		{"\n\n", "\r\n\r\n"},
		{"a\r\r\nb", "a\r\r\nb"},
		{"", ""},
	}
	for _, c := range cases {
		if got := string(Canonical([]byte(c.in))); got != c.canon {
			t.Errorf("Canonical(%q) = %q", c.in, got)
		}
		if CRLFSize([]byte(c.in)) != int64(len(c.canon)) {
			t.Errorf("CRLFSize(%q) = %d", c.in, CRLFSize([]byte(c.in)))
		}
		for _, r := range []func([]byte) *bytes.Reader{bytes.NewReader} {
			var out bytes.Buffer
			out.ReadFrom(iotest.OneByteReader(NewCRLFReader(r([]byte(c.in)))))
			if out.String() != c.canon {
				t.Errorf("CRLFReader(%q) = %q", c.in, out.String())
			}
		}
		lf, ok := StorageLF([]byte(c.canon))
		if ok {
			var out bytes.Buffer
			out.ReadFrom(NewCRLFReader(bytes.NewReader(lf)))
			if out.String() != c.canon {
				t.Errorf("StorageLF(%q) = %q does not read back", c.canon, lf)
			}
		}
	}
}

func FuzzCRLF(f *testing.F) {
	for _, s := range []string{"a\nb", "a\r\nb\r\n", "\r\r\n", "\r", "\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		canon := Canonical(b)
		var out bytes.Buffer
		out.ReadFrom(NewCRLFReader(bytes.NewReader(b)))
		if !bytes.Equal(out.Bytes(), canon) || CRLFSize(b) != int64(len(canon)) {
			t.Fatalf("reader/size disagree with Canonical for %q", b)
		}
		if lf, ok := StorageLF(canon); ok {
			out.Reset()
			out.ReadFrom(NewCRLFReader(bytes.NewReader(lf)))
			if !bytes.Equal(out.Bytes(), canon) {
				t.Fatalf("StorageLF lossy for %q", canon)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	msg, err := os.ReadFile("../testdata/messages/apple-mail-html-with-attachment.eml")
	if err != nil {
		b.Fatal(err)
	}
	msg = Canonical(msg)
	b.SetBytes(int64(len(msg)))
	for i := 0; i < b.N; i++ {
		ParseBytes(msg)
	}
}

func BenchmarkUnmarshalEnvelope(b *testing.B) {
	info, _ := ParseBytes(Canonical([]byte("From: Alice Example <alice@example.org>\r\nTo: Bob <bob@example.org>, carol@example.org\r\nCc: dave@example.org\r\nSubject: A typical subject line for a typical message\r\nDate: Mon, 1 Jan 2024 10:00:00 +0100\r\nMessage-ID: <abc123@example.org>\r\nIn-Reply-To: <prev@example.org>\r\n\r\nbody\r\n")))
	eb, _ := info.Envelope.MarshalBinary()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var e Envelope
		e.UnmarshalBinary(eb)
	}
}
