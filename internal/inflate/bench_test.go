package inflate

import (
	"bytes"
	"compress/flate"
	"io"
	"testing"
)

// The same streams through this Reader and compress/flate's: a mailbox's
// worth of FETCH responses compressed at the default level in one piece,
// random octets (stored blocks), and an IMAP client's traffic, many
// short commands each flushed.
func benchStreams() map[string][]byte {
	tx := texts()
	out := map[string][]byte{}
	pack := func(plain []byte, flushEvery int) []byte {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, flate.DefaultCompression)
		for off := 0; off < len(plain); off += flushEvery {
			w.Write(plain[off:min(off+flushEvery, len(plain))])
			if flushEvery < len(plain) {
				w.Flush()
			}
		}
		w.Close()
		return b.Bytes()
	}
	out["mail"] = pack(tx["mail"], len(tx["mail"]))
	out["random"] = pack(tx["random"], len(tx["random"]))
	out["commands"] = pack(tx["mail"], 60)
	return out
}

func benchRead(b *testing.B, newReader func(io.Reader) io.Reader, reset func(io.Reader, io.Reader)) {
	for name, packed := range benchStreams() {
		b.Run(name, func(b *testing.B) {
			plain, _ := io.ReadAll(flate.NewReader(bytes.NewReader(packed)))
			b.SetBytes(int64(len(plain)))
			src := bytes.NewReader(packed)
			r := newReader(src)
			buf := make([]byte, 4096)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				src.Reset(packed)
				reset(r, src)
				n := 0
				for {
					m, err := r.Read(buf)
					n += m
					if err != nil {
						break
					}
				}
				if n != len(plain) {
					b.Fatalf("%d octets, want %d", n, len(plain))
				}
			}
		})
	}
}

func BenchmarkInflate(b *testing.B) {
	benchRead(b, func(src io.Reader) io.Reader { return NewReader(src) },
		func(r, src io.Reader) { r.(*Reader).Reset(src) })
}

func BenchmarkFlateReader(b *testing.B) {
	benchRead(b, func(src io.Reader) io.Reader { return flate.NewReader(src) },
		func(r, src io.Reader) { r.(flate.Resetter).Reset(src, nil) })
}
