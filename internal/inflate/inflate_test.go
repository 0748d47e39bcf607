package inflate

import (
	"bytes"
	"compress/flate"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os/exec"
	"strings"
	"testing"
	"testing/iotest"
)

// errDry is what a stepSource returns when it has nothing more: a
// network connection would block there, so a Reader that asks for more
// before returning what it was given would hang a session.
var errDry = errors.New("source is dry")

// stepSource hands out what the test queued, then errDry.
type stepSource struct{ queued []byte }

func (s *stepSource) Read(p []byte) (int, error) {
	if len(s.queued) == 0 {
		return 0, errDry
	}
	n := copy(p, s.queued)
	s.queued = s.queued[n:]
	return n, nil
}

// chunk is one flushed piece of a stream: the plain octets and what the
// compressor wrote for them up to and including its flush.
type chunk struct{ plain, packed []byte }

// checkPrompt feeds the chunks one at a time and expects each chunk's
// plain octets back from the Reader before it asks for any input the
// chunk did not bring, and nothing more until the next chunk comes.
func checkPrompt(t *testing.T, name string, chunks []chunk) {
	t.Helper()
	src := &stepSource{}
	r := NewReader(src)
	buf := make([]byte, 1000)
	for i, c := range chunks {
		src.queued = append(src.queued, c.packed...)
		var got []byte
		for len(got) < len(c.plain) {
			n, err := r.Read(buf)
			got = append(got, buf[:n]...)
			if errors.Is(err, errDry) {
				t.Fatalf("%s: chunk %d: the reader wants more input after returning %d of the %d flushed octets", name, i, len(got), len(c.plain))
			}
			if err != nil && err != io.EOF {
				t.Fatalf("%s: chunk %d: %v", name, i, err)
			}
			if err == io.EOF {
				break
			}
		}
		if !bytes.Equal(got, c.plain) {
			t.Fatalf("%s: chunk %d: got %q, want %q", name, i, trunc(got), trunc(c.plain))
		}
	}
	// Nothing more: the source is dry (or the stream ended).
	if n, err := r.Read(buf); n != 0 || (err != errDry && err != io.EOF) {
		t.Fatalf("%s: after the last chunk: %d octets, %v", name, n, err)
	}
}

func trunc(b []byte) []byte {
	if len(b) > 80 {
		return append(b[:80:80], "..."...)
	}
	return b
}

// texts are plain inputs: empty, short, repetitive, incompressible,
// longer than the window with matches reaching across it.
func texts() map[string][]byte {
	rnd := rand.New(rand.NewSource(1))
	random := make([]byte, 100<<10)
	rnd.Read(random)
	var mail bytes.Buffer
	for i := 0; mail.Len() < 300<<10; i++ {
		fmt.Fprintf(&mail, "* %d FETCH (UID %d FLAGS (\\Seen) BODY[HEADER.FIELDS (FROM SUBJECT)] {%d}\r\nFrom: s%d@example.net\r\nSubject: message %d\r\n\r\n)\r\n", i+1, i+100, 40+len(fmt.Sprint(i))*2, i%17, i)
	}
	far := append(append(append([]byte{}, random[:20000]...), bytes.Repeat([]byte("x"), 30000)...), random[:20000]...)
	return map[string][]byte{
		"empty":  {},
		"one":    []byte("a"),
		"line":   []byte("a1 LOGIN ann secret\r\n"),
		"run":    bytes.Repeat([]byte{'z'}, 70000),
		"random": random,
		"mail":   mail.Bytes(),
		"far":    far,
		"binary": append(random[:3000:3000], bytes.Repeat(random[:300], 50)...),
	}
}

var levels = []int{flate.NoCompression, flate.BestSpeed, 2, flate.DefaultCompression, flate.BestCompression, flate.HuffmanOnly}

// Streams from compress/flate's writer at every level: whole (Close),
// and flushed in pieces with each piece's octets expected at once.
func TestAgainstFlateWriter(t *testing.T) {
	for name, plain := range texts() {
		for _, lvl := range levels {
			var whole bytes.Buffer
			w, _ := flate.NewWriter(&whole, lvl)
			w.Write(plain)
			w.Close()
			for rname, rd := range map[string]func(io.Reader) io.Reader{
				"whole": func(r io.Reader) io.Reader { return r },
				"octet": iotest.OneByteReader,
				"half":  iotest.HalfReader,
			} {
				got, err := io.ReadAll(rd(NewReader(rd(bytes.NewReader(whole.Bytes())))))
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("%s level %d %s: %d octets, %v; want %d", name, lvl, rname, len(got), err, len(plain))
				}
			}
			// Flushed pieces of growing sizes.
			var chunks []chunk
			var out bytes.Buffer
			w.Reset(&out)
			for off, n := 0, 1; off < len(plain); off, n = off+n, n*3+7 {
				p := plain[off:min(off+n, len(plain))]
				w.Write(p)
				w.Flush()
				chunks = append(chunks, chunk{p, bytes.Clone(out.Bytes())})
				out.Reset()
			}
			checkPrompt(t, fmt.Sprintf("%s level %d flushed", name, lvl), chunks)
		}
	}
}

// zlibScript writes, for each case, the chunks zlib produced: each
// command compressed and flushed the way a client flushes.
const zlibScript = `
import json, sys, zlib
msgs = [b"a1 CAPABILITY\r\n", b"a2 LOGIN ann secret\r\n", b"a3 SELECT INBOX\r\n",
        b"a4 APPEND INBOX {310}\r\n" + b"Subject: hello\r\n\r\n" + b"line of text " * 22 + b"\r\n",
        b"a5 IDLE\r\n", b"DONE\r\n", bytes(range(256)) * 40, b"a6 LOGOUT\r\n"]
out = {}
for fname in ["Z_PARTIAL_FLUSH", "Z_SYNC_FLUSH", "Z_FULL_FLUSH"]:
    for level in [1, 6, 9]:
        for wbits in [-15, -9]:
            for strategy in ["Z_DEFAULT_STRATEGY", "Z_FIXED", "Z_HUFFMAN_ONLY", "Z_RLE"]:
                z = zlib.compressobj(level, zlib.DEFLATED, wbits, 8, getattr(zlib, strategy))
                chunks = []
                for m in msgs:
                    chunks.append([m.hex(), (z.compress(m) + z.flush(getattr(zlib, fname))).hex()])
                chunks.append(["", z.flush(zlib.Z_FINISH).hex()])
                out["%s level %d wbits %d %s" % (fname, level, wbits, strategy)] = chunks
json.dump(out, sys.stdout)
`

func zlibChunks(t *testing.T) map[string][]chunk {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	out, err := exec.Command(py, "-c", zlibScript).Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var raw map[string][][2]string
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatal(err)
	}
	cases := map[string][]chunk{}
	for name, cs := range raw {
		for _, c := range cs {
			p, _ := hex.DecodeString(c[0])
			z, _ := hex.DecodeString(c[1])
			cases[name] = append(cases[name], chunk{p, z})
		}
	}
	return cases
}

// Python's zlib, as IMAP clients use it: every command flushed with
// Z_PARTIAL_FLUSH (mbsync, neomutt, iOS), Z_SYNC_FLUSH or Z_FULL_FLUSH
// must come out whole before any further input.
func TestAgainstZlib(t *testing.T) {
	cases := zlibChunks(t)
	if len(cases) != 3*3*2*4 {
		t.Fatalf("%d cases from python", len(cases))
	}
	partial := 0
	for name, chunks := range cases {
		checkPrompt(t, name, chunks)
		for _, c := range chunks[:len(chunks)-1] {
			// A partial flush leaves the next header's bits pending:
			// not the 00 00 ff ff a sync flush ends with.
			if strings.HasPrefix(name, "Z_PARTIAL") && !bytes.HasSuffix(c.packed, []byte{0, 0, 0xff, 0xff}) {
				partial++
			}
		}
	}
	if partial == 0 {
		t.Fatal("no partial flush in the cases: the test proves nothing")
	}
}

// Errors: corrupt streams are ErrCorrupt, an early end is
// io.ErrUnexpectedEOF; both stick. Octets after the final block are not
// read.
func TestErrors(t *testing.T) {
	fixed := func(bits string) []byte {
		// bits in stream order, first bit first.
		var out []byte
		for i := 0; i < len(bits); i += 8 {
			var b byte
			for j := 0; j < 8 && i+j < len(bits); j++ {
				if bits[i+j] == '1' {
					b |= 1 << j
				}
			}
			out = append(out, b)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
		out  string
	}{
		{"block type 3", []byte{0x07}, ErrCorrupt, ""},
		{"stored length complement", []byte{0x01, 0x05, 0x00, 0xfa, 0xfe, 'h'}, ErrCorrupt, ""},
		{"stored", []byte{0x01, 0x02, 0x00, 0xfd, 0xff, 'h', 'i', 'X'}, io.EOF, "hi"},
		{"stored short", []byte{0x01, 0x05, 0x00, 0xfa, 0xff, 'h', 'i'}, io.ErrUnexpectedEOF, "hi"},
		{"empty", nil, io.ErrUnexpectedEOF, ""},
		{"not final", []byte{0x00, 0x00, 0x00, 0xff, 0xff}, io.ErrUnexpectedEOF, ""},
		// Fixed block: BFINAL 1, BTYPE 01, then length code 257
		// (0000001) and distance code 0 (00000): a match before the
		// first octet.
		{"distance before start", fixed("110" + "0000001" + "00000"), ErrCorrupt, ""},
		// Literal 'a' (0x61: 8-bit code 00110000+0x61 = 10010001), then
		// a match of 3 at distance 1, then EOB.
		{"run", fixed("110" + "10010001" + "0000001" + "00000" + "0000000"), io.EOF, "aaaa"},
		// Fixed distance code 30 is not a distance.
		{"distance code 30", fixed("110" + "10010001" + "0000001" + "11110"), ErrCorrupt, "a"},
		// Fixed literal/length code 286 (11000110) has no meaning.
		{"length code 286", fixed("110" + "11000110"), ErrCorrupt, ""},
		// Dynamic: HLIT 257, HDIST 1, HCLEN 4 with code length code
		// lengths 16:1, 17:1, 18:1, 0:1 (over-subscribed).
		{"over-subscribed", fixed("101" + "00000" + "00000" + "0000" + "100" + "100" + "100" + "100"), ErrCorrupt, ""},
		// Code length code: 16:1, 17:0, 18:0, 0:1, so symbol 16 ("repeat
		// the previous") has the code 1, and comes first.
		{"repeat first", fixed("101" + "00000" + "00000" + "0000" + "100" + "000" + "000" + "100" + "1" + "00"), ErrCorrupt, ""},
	} {
		r := NewReader(bytes.NewReader(tc.in))
		got, err := io.ReadAll(r)
		if tc.want == io.EOF {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
		} else if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
		if string(got) != tc.out {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.out)
		}
		if tc.want != io.EOF {
			if _, err2 := r.Read(make([]byte, 1)); !errors.Is(err2, tc.want) {
				t.Errorf("%s: second read %v, not sticky", tc.name, err2)
			}
		}
	}
}

// A source error that is not the end (a read deadline) goes up as it is
// and the stream goes on afterwards.
func TestSourceErrorsDoNotStick(t *testing.T) {
	var packed bytes.Buffer
	w, _ := flate.NewWriter(&packed, flate.DefaultCompression)
	w.Write([]byte("first "))
	w.Flush()
	cut := packed.Len()
	w.Write([]byte("second"))
	w.Close()
	src := &stepSource{queued: packed.Bytes()[:cut]}
	r := NewReader(src)
	got, err := io.ReadAll(r)
	if !errors.Is(err, errDry) || string(got) != "first " {
		t.Fatalf("got %q, %v", got, err)
	}
	src.queued = packed.Bytes()[cut:]
	rest, err := io.ReadAll(r)
	if err != nil || string(rest) != "second" {
		t.Fatalf("after the source recovered: %q, %v", rest, err)
	}
}

// Decoding allocates nothing: memory is the Reader's, whatever comes.
func TestNoAllocations(t *testing.T) {
	plain := texts()["mail"]
	var packed bytes.Buffer
	w, _ := flate.NewWriter(&packed, flate.DefaultCompression)
	w.Write(plain)
	w.Close()
	r := NewReader(nil)
	src := bytes.NewReader(nil)
	buf := make([]byte, 4096)
	allocs := testing.AllocsPerRun(5, func() {
		src.Reset(packed.Bytes())
		r.Reset(src)
		for {
			if _, err := r.Read(buf); err != nil {
				break
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per stream", allocs)
	}
}
