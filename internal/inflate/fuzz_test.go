package inflate

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"testing"
)

// FuzzRoundTrip: whatever compress/flate's writer makes of the input, at
// any level, flushed at any points, decodes to the input, and every
// flushed piece comes out before any further input is asked for.
// Seeds: testdata/fuzz/FuzzRoundTrip.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("a1 LOGIN ann secret\r\na2 SELECT INBOX\r\n"), uint8(6), uint64(0x0f0f))
	f.Fuzz(func(t *testing.T, plain []byte, level uint8, cuts uint64) {
		lvl := int(level)%11 - 2 // HuffmanOnly (-2) to BestCompression (9)
		var out bytes.Buffer
		w, err := flate.NewWriter(&out, lvl)
		if err != nil {
			t.Fatal(err)
		}
		var chunks []chunk
		for off := 0; off < len(plain); {
			// The cut bits choose piece sizes from 1 octet to 256 KiB.
			n := 1 << (cuts & 15) * int(1+cuts>>4&7)
			cuts = cuts>>7 | cuts<<57
			p := plain[off:min(off+n, len(plain))]
			off += len(p)
			w.Write(p)
			w.Flush()
			chunks = append(chunks, chunk{p, bytes.Clone(out.Bytes())})
			out.Reset()
		}
		w.Close()
		chunks = append(chunks, chunk{nil, bytes.Clone(out.Bytes())})
		checkPrompt(t, "fuzz", chunks)
	})
}

// maxOut bounds what FuzzCorrupt decodes: DEFLATE expands up to 1032×.
const maxOut = 1 << 20

// FuzzCorrupt: any input at all. The Reader never panics, and agrees
// with compress/flate: the same octets for a stream compress/flate
// accepts, and an error where it finds one, after at least the octets
// compress/flate returned (this Reader returns them sooner, never
// fewer). Seeds: testdata/fuzz/FuzzCorrupt (zlib's partial and sync
// flushes, hand-made corrupt headers).
func FuzzCorrupt(f *testing.F) {
	f.Add([]byte{0x01, 0x02, 0x00, 0xfd, 0xff, 'h', 'i'})
	f.Fuzz(func(t *testing.T, in []byte) {
		want, wantErr := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(in)), maxOut))
		got, gotErr := io.ReadAll(io.LimitReader(NewReader(bytes.NewReader(in)), maxOut))
		if len(want) == maxOut || len(got) == maxOut {
			n := min(len(want), len(got))
			if !bytes.Equal(got[:n], want[:n]) {
				t.Fatalf("outputs differ within the first %d octets", n)
			}
			return
		}
		switch {
		case wantErr == nil:
			if gotErr != nil || !bytes.Equal(got, want) {
				t.Fatalf("compress/flate decodes %d octets; this reader %d, %v", len(want), len(got), gotErr)
			}
		default:
			if gotErr == nil {
				t.Fatalf("compress/flate fails (%v) after %d octets; this reader decodes %d without error", wantErr, len(want), len(got))
			}
			if !bytes.HasPrefix(got, want) {
				t.Fatalf("compress/flate returned %d octets before failing (%v); this reader %d (%v), not starting with them", len(want), wantErr, len(got), gotErr)
			}
			if !errors.Is(gotErr, ErrCorrupt) && !errors.Is(gotErr, io.ErrUnexpectedEOF) {
				t.Fatalf("error %v is neither ErrCorrupt nor io.ErrUnexpectedEOF", gotErr)
			}
		}
	})
}
