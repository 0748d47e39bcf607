package spool

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/storaged/storaged/message"
)

// write feeds b to a writer in random pieces.
func write(t *testing.T, dir string, threshold int64, b []byte, rnd *rand.Rand) *Message {
	t.Helper()
	w := NewWriter(dir, threshold)
	for len(b) > 0 {
		n := min(len(b), 1+rnd.IntN(7))
		if _, err := w.Write(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	m, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func randomMessage(rnd *rand.Rand) []byte {
	alphabet := []byte("ab\r\n\r\n.F")
	b := make([]byte, rnd.IntN(200))
	for i := range b {
		b[i] = alphabet[rnd.IntN(len(alphabet))]
	}
	return b
}

// TestSameAsInMemory: every form a Content gives is what the in-memory
// functions give for the same bytes, spooled or not, at any offset that
// starts a line.
func TestSameAsInMemory(t *testing.T) {
	dir := t.TempDir()
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 3000; i++ {
		raw := randomMessage(rnd)
		canon := message.Canonical(raw)
		threshold := int64(rnd.IntN(len(canon) + 2))
		m := write(t, dir, threshold, raw, rnd)
		if got, _ := io.ReadAll(m.NewReader(0)); !bytes.Equal(got, canon) {
			t.Fatalf("%q: canonical %q, want %q", raw, got, canon)
		}
		if m.Size() != int64(len(canon)) {
			t.Fatalf("%q: size %d, want %d", raw, m.Size(), len(canon))
		}
		head := []byte("Delivered-To: x\r\n")
		if rnd.IntN(3) == 0 {
			head = []byte("A: \r\r\n")
		}
		offs := []int64{0}
		for j, c := range canon {
			if c == '\n' {
				offs = append(offs, int64(j+1))
			}
		}
		off := offs[rnd.IntN(len(offs))]
		c := &Content{Head: head, Body: m, Off: off}
		whole := append(append([]byte(nil), head...), canon[off:]...)
		if got, _ := io.ReadAll(c.NewReader()); !bytes.Equal(got, whole) {
			t.Fatalf("%q at %d: content %q, want %q", raw, off, got, whole)
		}
		want, lf := message.StorageLF(whole)
		size, gotLF, err := c.StoredSize()
		if err != nil || size != int64(len(want)) || gotLF != lf {
			t.Fatalf("%q at %d: stored size %d lf %v %v, want %d %v", raw, off, size, gotLF, err, len(want), lf)
		}
		// Small reads too: the CR/LF decision across Read calls.
		var got bytes.Buffer
		r := c.StoredReader()
		p := make([]byte, 1+rnd.IntN(5))
		if _, err := io.CopyBuffer(&got, struct{ io.Reader }{r}, p); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("%q at %d: stored %q, want %q", raw, off, got.Bytes(), want)
		}
		if last := c.Last(); len(whole) > 0 && last != whole[len(whole)-1] {
			t.Fatalf("%q: last %q", raw, last)
		}
	}
}

// TestNoNameLeft: a spool file has no name from the moment it is
// created, whether the message is finished or discarded.
func TestNoNameLeft(t *testing.T) {
	dir := t.TempDir()
	w := NewWriter(dir, 10)
	w.Write(bytes.Repeat([]byte("line\n"), 100))
	if !w.Spooled() {
		t.Fatal("not spooled above the threshold")
	}
	assertEmpty(t, dir)
	m, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, dir)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	w = NewWriter(dir, 10)
	w.Write(bytes.Repeat([]byte("line\n"), 100))
	w.Discard()
	assertEmpty(t, dir)
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) > 0 {
		t.Fatalf("%s holds %v", dir, ents)
	}
}

// A buffer given back at Close and taken by the next message holds only
// that message: nothing of the one before shows, whatever their sizes.
func TestMemoryReusedClean(t *testing.T) {
	dir := t.TempDir()
	sizes := []int{200 << 10, 100, 50 << 10, 0, 300 << 10, 17}
	for i, n := range sizes {
		w := NewWriter(dir, 1<<20)
		body := bytes.Repeat([]byte{byte('a' + i)}, n)
		if _, err := w.Write(body); err != nil {
			t.Fatal(err)
		}
		m, err := w.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(m.Bytes(), body) || m.Size() != int64(n) {
			t.Fatalf("message %d: %d octets, want %d of %q", i, len(m.Bytes()), n, string(rune('a'+i)))
		}
		m.Close()
		if m.Bytes() != nil {
			t.Fatalf("message %d still shows its memory after Close", i)
		}
	}
}
