package spool

import (
	"bufio"
	"bytes"
	"errors"
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
		// In memory: the pieces are the content, and the stored form
		// is appended (after what dst held) into dst's memory, never
		// the spool's.
		h, b, ok := c.Pieces()
		if ok != !m.Spooled() {
			t.Fatalf("%q: Pieces ok %v, spooled %v", raw, ok, m.Spooled())
		}
		if !ok {
			continue
		}
		if !bytes.Equal(append(append([]byte(nil), h...), b...), whole) {
			t.Fatalf("%q at %d: pieces %q %q, want %q", raw, off, h, b, whole)
		}
		dst := append(make([]byte, 0, rnd.IntN(2*len(whole)+2)), "x"...)
		out, gotLF, ok := c.AppendStored(dst)
		if !ok || gotLF != lf || !bytes.Equal(out[:1], []byte("x")) || !bytes.Equal(out[1:], want) {
			t.Fatalf("%q at %d: AppendStored %q lf %v, want %q lf %v", raw, off, out, gotLF, want, lf)
		}
		if len(out) > 1 && len(m.Bytes()) > 0 && &out[len(out)-1] == &m.Bytes()[len(m.Bytes())-1] {
			t.Fatalf("%q: AppendStored aliases the spool's memory", raw)
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

// A buffer a message outgrew is not pooled: the next message of the
// same size starts in the one given back at Close, not in a step on the
// way to it (which it would outgrow again, allocating each step anew).
func TestOutgrownBuffersNotPooled(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops buffers at random")
	}
	big := bytes.Repeat([]byte("0123456789abcd\r\n"), 100<<10/16)
	deliver := func() {
		w := NewWriter("", 1<<20)
		w.Write(big)
		m, _ := w.Finish()
		m.Close()
	}
	deliver()
	// The Writer, the Message and the pool's slice header (5 when the
	// steps were pooled); a collection emptying the pool costs a run
	// its buffers now and then.
	if n := testing.AllocsPerRun(100, deliver); n > 3.5 {
		t.Fatalf("%.1f allocations per 100 KB message, want 3: the buffer grows from a step of its own", n)
	}
}

// WriteLine, given the fragments ReadSlice('\n') cuts, keeps what Write
// keeps of the same octets: canonical form, sizes, the LF form's
// decision, in memory or spooled.
func TestWriteLine(t *testing.T) {
	dir := t.TempDir()
	rnd := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 3000; i++ {
		raw := randomMessage(rnd)
		threshold := int64(rnd.IntN(len(raw) + 2))
		want := write(t, dir, threshold, raw, rnd)
		w := NewWriter(dir, threshold)
		br := bufio.NewReaderSize(bytes.NewReader(raw), 16)
		for {
			frag, err := br.ReadSlice('\n')
			if _, werr := w.WriteLine(frag); werr != nil {
				t.Fatal(werr)
			}
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		got, err := w.Finish()
		if err != nil {
			t.Fatal(err)
		}
		a, _ := io.ReadAll(got.NewReader(0))
		b, _ := io.ReadAll(want.NewReader(0))
		if !bytes.Equal(a, b) || got.Spooled() != want.Spooled() {
			t.Fatalf("%q: WriteLine kept %q (spooled %v), Write %q (spooled %v)", raw, a, got.Spooled(), b, want.Spooled())
		}
		gc, wc := &Content{Body: got}, &Content{Body: want}
		gs, glf, _ := gc.StoredSize()
		ws, wlf, _ := wc.StoredSize()
		if gs != ws || glf != wlf || gc.Last() != wc.Last() {
			t.Fatalf("%q: WriteLine stored size %d lf %v, Write %d %v", raw, gs, glf, ws, wlf)
		}
		got.Close()
	}
}
