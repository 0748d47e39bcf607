package wire

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
)

func encode(utf8 bool, f func(w *Writer)) string {
	var b bytes.Buffer
	bw := bufio.NewWriter(&b)
	w := NewWriter(bw)
	w.SetUTF8(utf8)
	f(w)
	w.Flush()
	return b.String()
}

func TestWriterGolden(t *testing.T) {
	tests := []struct {
		name string
		utf8 bool
		f    func(w *Writer)
		want string
	}{
		{"quoted", false, func(w *Writer) { w.String(`a "b" \c`) }, `"a \"b\" \\c"`},
		{"empty", false, func(w *Writer) { w.String("") }, `""`},
		{"crlf literal", false, func(w *Writer) { w.String("a\r\nb") }, "{4}\r\na\r\nb"},
		{"8bit literal", false, func(w *Writer) { w.String("j\xc3\xb6rg") }, "{5}\r\nj\xc3\xb6rg"},
		{"8bit quoted in utf8", true, func(w *Writer) { w.String("j\xc3\xb6rg") }, "\"j\xc3\xb6rg\""},
		{"invalid utf8 literal", true, func(w *Writer) { w.String("\xff") }, "{1}\r\n\xff"},
		{"NUL replaced", false, func(w *Writer) { w.String("a\x00b") }, "{3}\r\na\x80b"},
		{"long literal", false, func(w *Writer) { w.String(strings.Repeat("a", 1025)) }, "{1025}\r\n" + strings.Repeat("a", 1025)},
		{"nstring nil", false, func(w *Writer) { w.NString("x", true) }, "NIL"},
		{"astring atom", false, func(w *Writer) { w.AString("Sent]") }, "Sent]"},
		{"astring NIL quoted", false, func(w *Writer) { w.AString("nil") }, `"nil"`},
		{"astring space", false, func(w *Writer) { w.AString("a b") }, `"a b"`},
		{"fetch line", false, func(w *Writer) {
			w.Untagged()
			w.Number32(12)
			w.Raw(" FETCH ")
			w.Open()
			w.Atom("UID")
			w.SP()
			w.Number(4294967296)
			w.SP()
			w.Atom("FLAGS")
			w.SP()
			w.Open()
			w.Atom(`\Seen`)
			w.Close()
			w.SP()
			w.Atom("BODY[]")
			w.SP()
			if err := w.Literal(5, strings.NewReader("a\x00cdEXTRA")); err != nil {
				panic(err)
			}
			w.Close()
			w.CRLF()
		}, "* 12 FETCH (UID 4294967296 FLAGS (\\Seen) BODY[] {5}\r\na\x80cdE)\r\n"},
		{"literal8 keeps NUL", false, func(w *Writer) { w.Literal8(3, strings.NewReader("a\x00b")) }, "~{3}\r\na\x00b"},
		{"literal bytes", false, func(w *Writer) { w.LiteralBytes([]byte("x\x00")) }, "{2}\r\nx\x80"},
		{"tagged ok with code", false, func(w *Writer) { w.Status("a1", "OK", "READ-WRITE", "SELECT completed") }, "a1 OK [READ-WRITE] SELECT completed\r\n"},
		{"untagged no code", false, func(w *Writer) { w.Status("", "OK", "", "") }, "* OK OK\r\n"},
		{"text sanitised", false, func(w *Writer) { w.Status("a", "NO", "", "bad\r\na OK \xc3\xa9") }, "a NO bad??a OK ??\r\n"},
		{"text utf8", true, func(w *Writer) { w.Status("a", "NO", "TOOBIG", "\xc3\xa9") }, "a NO [TOOBIG] \xc3\xa9\r\n"},
		{"text bracket", false, func(w *Writer) { w.Status("a", "BAD", "", "[x") }, "a BAD  [x\r\n"},
		{"continuation", false, func(w *Writer) { w.Continuation("Ready") }, "+ Ready\r\n"},
		{"fetch name", false, func(w *Writer) {
			it, _ := ParseFetchItem(`body.peek[1.2.HEADER.FIELDS (From "X-Y")]<10.20>`)
			w.RawBytes(it.AppendName(nil))
		}, `BODY[1.2.HEADER.FIELDS (From X-Y)]<10>`},
		{"seqset", false, func(w *Writer) { w.Raw(SeqSet{Ranges: []SeqRange{{1, 1}, {3, 0}, {9, 5}}}.String()) }, "1,3:*,9:5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := encode(tt.utf8, tt.f); got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestShortLiteral(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(bufio.NewWriter(&b))
	if err := w.Literal(10, strings.NewReader("abc")); !errors.Is(err, ErrShortLiteral) {
		t.Fatalf("got %v", err)
	}
	if w.Err() == nil {
		t.Fatal("error not sticky")
	}
}

func TestSeqSetContains(t *testing.T) {
	s, err := ParseSeqSet("2,4:6,9:*,20:18")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		n, max uint32
		want   bool
	}{{1, 30, false}, {2, 30, true}, {5, 30, true}, {7, 30, false}, {9, 30, true}, {30, 30, true}, {31, 30, false}, {19, 10, true}, {7, 7, true}, {0, 10, false}} {
		if got := s.Contains(c.n, c.max); got != c.want {
			t.Errorf("Contains(%d, %d) = %v", c.n, c.max, got)
		}
	}
	for _, bad := range []string{"", "0", "1:0", ",", "1,", "1::2", "a", "$,1", "4294967296", "1:*:2"} {
		if _, err := ParseSeqSet(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if !s.Dynamic() {
		t.Error("not dynamic")
	}
}

func TestDateTime(t *testing.T) {
	for _, s := range []string{" 1-Feb-1994 10:00:00 +0100", "01-feb-1994 10:00:00 +0100", "1-Feb-1994 10:00:00 +0100"} {
		d, err := ParseDateTime(s)
		if err != nil || d.Day() != 1 || d.Month() != 2 || d.Hour() != 10 {
			t.Errorf("%q: %v %v", s, d, err)
		}
		if _, off := d.Zone(); off != 3600 {
			t.Errorf("%q: offset %d", s, off)
		}
	}
	for _, s := range []string{"", "31-Feb-1994 10:00:00 +0100", "01-Feb-1994 25:00:00 +0100", "01-Feb-1994 10:00:00 0100", "01-Xyz-1994 10:00:00 +0100"} {
		if _, err := ParseDateTime(s); err == nil {
			t.Errorf("%q parsed", s)
		}
	}
}

// TestWriterAllocs: the FETCH path writes many responses; a typical line
// must not allocate.
func TestWriterAllocs(t *testing.T) {
	w := NewWriter(bufio.NewWriterSize(discard{}, 4096))
	it := FetchItem{Kind: FetchBodySection, Peek: true, Section: Section{Specifier: "HEADER"}}
	var name []byte
	allocs := testing.AllocsPerRun(100, func() {
		w.Untagged()
		w.Number32(12345)
		w.Raw(" FETCH (UID ")
		w.Number(99999)
		w.Raw(" FLAGS (")
		w.Atom(`\Seen`)
		w.Raw(") ")
		name = it.AppendName(name[:0])
		w.RawBytes(name)
		w.SP()
		w.String("Subject: hello \"world\"")
		w.SP()
		w.NString("", true)
		w.Close()
		w.CRLF()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per FETCH line", allocs)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func BenchmarkWriterFetchLine(b *testing.B) {
	w := NewWriter(bufio.NewWriterSize(discard{}, 4096))
	b.ReportAllocs()
	for b.Loop() {
		w.Untagged()
		w.Number32(12345)
		w.Raw(" FETCH (UID ")
		w.Number(99999)
		w.Raw(" FLAGS (\\Seen) ENVELOPE (")
		w.String("Mon, 7 Feb 1994 21:52:25 -0800")
		w.SP()
		w.String("afternoon meeting")
		w.Raw("))\r\n")
	}
}

func BenchmarkReadFetch(b *testing.B) {
	line := "a UID FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (From To Subject Date)] RFC822.SIZE)\r\n"
	p := NewParser(Limits{})
	rd := strings.NewReader("")
	br := bufio.NewReader(rd)
	r := p.NewReader(br, nil)
	b.ReportAllocs()
	for b.Loop() {
		rd.Reset(line)
		br.Reset(rd)
		if _, err := r.ReadCommand(); err != nil {
			b.Fatal(err)
		}
	}
}
