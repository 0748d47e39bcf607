package lmtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/storaged/storaged/internal/spool"
	"github.com/storaged/storaged/message"
)

// The end of data and dot-unstuffing, octet by octet.
func TestReadData(t *testing.T) {
	for _, tc := range []struct {
		in, msg, rest string
		err           error
	}{
		{".\r\n", "", "", nil},
		{"a\r\n.\r\nNOOP\r\n", "a\r\n", "NOOP\r\n", nil},
		{"a\r\r\n.\r\nNOOP\r\n", "a\r\r\n", "NOOP\r\n", nil},
		{"a\n.\nb\r\n.\r\n", "a\n.\nb\r\n", "", nil},
		{"a\n.\r\nb\r\n.\r\n", "a\n.\r\nb\r\n", "", nil},
		{"a\r.\r\nb\r\n.\r\n", "a\r.\r\nb\r\n", "", nil},
		{"..a\r\n..\r\n.\r\n", ".a\r\n.\r\n", "", nil},
		{"a\n..b\r\n.\r\n", "a\n..b\r\n", "", nil},
		{"x\r\n. \r\n.\r\n", "x\r\n \r\n", "", nil},
		{"a\r\n", "", "", errors.New("EOF")},
		{strings.Repeat("y", 2000) + "\r\n.\r\nNOOP\r\n", "", "NOOP\r\n", errLineTooLong},
		{strings.Repeat("z\r\n", 2000) + ".\r\nNOOP\r\n", "", "NOOP\r\n", errDataTooBig},
	} {
		br := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
		var buf strings.Builder
		err := readData(br, &buf, 1000, 1000)
		msg := buf.String()
		if err != nil {
			msg = "" // what was written before the refusal is dropped
		}
		switch {
		case tc.err == nil && err != nil, tc.err != nil && err == nil:
			t.Errorf("%q: err %v, want %v", tc.in, err, tc.err)
			continue
		case tc.err != nil && tc.err.Error() != "EOF" && !errors.Is(err, tc.err):
			t.Errorf("%q: err %v, want %v", tc.in, err, tc.err)
			continue
		}
		if string(msg) != tc.msg {
			t.Errorf("%q: message %q, want %q", tc.in, msg, tc.msg)
		}
		if tc.err == nil || tc.err.Error() != "EOF" {
			rest, _ := br.ReadString(0)
			if rest != tc.rest {
				t.Errorf("%q: left %q, want %q", tc.in, rest, tc.rest)
			}
		}
		if tc.err != nil {
			continue
		}
		// Into the spool, through WriteLine: the same message, canonical.
		sw := spool.NewWriter(t.TempDir(), 1<<20)
		if err := readData(bufio.NewReaderSize(strings.NewReader(tc.in), 16), sw, 1000, 1000); err != nil {
			t.Errorf("%q: into the spool: %v", tc.in, err)
			continue
		}
		sm, err := sw.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if want := message.Canonical([]byte(tc.msg)); !bytes.Equal(sm.Bytes(), want) {
			t.Errorf("%q: spooled %q, want %q", tc.in, sm.Bytes(), want)
		}
		sm.Close()
	}
}

// FuzzReadData: never more than the input, never a panic, and the end
// found is always right after a CRLF.CRLF.
func FuzzReadData(f *testing.F) {
	for _, s := range []string{".\r\n", "a\r\r\n.\r\nQUIT\r\n", "a\n.\n", "\r.\r\n", "..x\r\n.\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReaderSize(strings.NewReader(string(in)), 16)
		var msg strings.Builder
		err := readData(br, &msg, 1<<20, 1<<20)
		if err != nil {
			return
		}
		if msg.Len() > len(in) {
			t.Fatalf("message longer than the input")
		}
		rest, _ := io.ReadAll(br) // not ReadString(0): the input may hold NULs
		consumed := string(in[:len(in)-len(rest)])
		if !strings.HasSuffix("\r\n"+consumed, "\r\n.\r\n") {
			t.Fatalf("ended at %q", consumed)
		}
		if i := strings.Index("\r\n"+consumed, "\r\n.\r\n"); i != len(consumed)-3 {
			t.Fatalf("an earlier CRLF.CRLF at %d was passed over in %q", i, consumed)
		}
		// Into the spool (its WriteLine path), the same message,
		// canonical.
		sw := spool.NewWriter(t.TempDir(), 1<<20)
		if err := readData(bufio.NewReaderSize(strings.NewReader(string(in)), 16), sw, 1<<20, 1<<20); err != nil {
			t.Fatalf("readData into the spool: %v", err)
		}
		sm, err := sw.Finish()
		if err != nil {
			t.Fatal(err)
		}
		defer sm.Close()
		if want := message.Canonical([]byte(msg.String())); !bytes.Equal(sm.Bytes(), want) {
			t.Fatalf("spooled %q, want %q", sm.Bytes(), want)
		}
	})
}

// BenchmarkReadData: a 100 KB message (76-octet lines) read from DATA
// into the spool, through WriteLine and through Write.
func BenchmarkReadData(b *testing.B) {
	var msg []byte
	msg = append(msg, "Subject: bench\r\n\r\n"...)
	for len(msg) < 100<<10 {
		msg = append(msg, strings.Repeat("lorem ipsum ", 6)+"dolor sit\r\n"...)
	}
	in := append(msg, ".\r\n"...)
	for _, tc := range []struct {
		name string
		sink func(*spool.Writer) io.Writer
	}{
		{"WriteLine", func(w *spool.Writer) io.Writer { return w }},
		{"Write", func(w *spool.Writer) io.Writer { return struct{ io.Writer }{w} }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			r := bytes.NewReader(in)
			br := bufio.NewReaderSize(r, 16<<10)
			for b.Loop() {
				r.Reset(in)
				br.Reset(r)
				sw := spool.NewWriter("", 1<<20)
				if err := readData(br, tc.sink(sw), 1<<30, 1000); err != nil {
					b.Fatal(err)
				}
				m, _ := sw.Finish()
				m.Close()
			}
		})
	}
}
