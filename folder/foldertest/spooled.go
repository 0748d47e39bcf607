package foldertest

import (
	"bytes"
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/spool"
)

// spooledCases are messages whose records a format builds with care:
// From_ lines to quote, state fields to escape, a Content-Length that
// ends the message early or at its end, "\r\r\n" (no LF form), no final
// line break, no header, nothing at all.
var spooledCases = [][]byte{
	[]byte("Subject: a\r\n\r\nFrom here\r\n>From there\r\nbody\r\n"),
	[]byte("Status: RO\r\nX-Status: F\r\nX-Storaged-Orig-Status: x\r\n\r\nStatus: body\r\n"),
	[]byte("Content-Length: 5\r\n\r\nbody\r\n"),
	[]byte("Content-Length: 6\r\n\r\nbody\r\n"),
	[]byte("Content-Length: 4\r\n\r\nbody\r\n"),
	[]byte("Subject: cr\r\r\n\r\nbody\r\r\nmore\r\n"),
	[]byte("Subject: unterminated\r\n\r\nbody"),
	[]byte("\r\nno header\r\n"),
	[]byte("From nobody\r\n\r\n"),
	[]byte(""),
}

// testSpooledAppend: a message given as a Content, spooled or in the
// spool's memory, is stored as the same octets given as Data are: same
// size on disk, same stored and canonical forms, with trace fields
// before it or an edited header in place of its own.
func testSpooledAppend(t *testing.T, corpusDir string, newStore NewStore) {
	t.Run("spooled", func(t *testing.T) { testContentAppend(t, corpusDir, newStore, 0) })
	t.Run("in memory", func(t *testing.T) { testContentAppend(t, corpusDir, newStore, math.MaxInt64) })
}

// testContentAppend is testSpooledAppend with the body kept by a
// spool.Writer of that threshold.
func testContentAppend(t *testing.T, corpusDir string, newStore NewStore, threshold int64) {
	mem, spooled := inbox(t, newStore(t)), inbox(t, newStore(t))
	ctx := context.Background()
	date := time.Date(2024, 2, 29, 13, 14, 15, 0, time.UTC)
	msgs := append([][]byte(nil), spooledCases...)
	for _, m := range Corpus(t, corpusDir) {
		msgs = append(msgs, m)
	}
	dir := t.TempDir()
	for i, msg := range msgs {
		w := spool.NewWriter(dir, threshold)
		w.Write(msg)
		body, err := w.Finish()
		if err != nil {
			t.Fatal(err)
		}
		if body.Spooled() != (threshold == 0 && len(msg) > 0) {
			t.Fatalf("message %d: Spooled() = %v with threshold %d", i, body.Spooled(), threshold)
		}
		defer body.Close()
		heads := []struct {
			head []byte
			off  int64
		}{
			{nil, 0},
			{[]byte("Return-Path: <a@example.org>\r\nDelivered-To: b@example.org\r\n"), 0},
		}
		if j := bytes.Index(msg, []byte("\r\n\r\n")); j >= 0 {
			heads = append(heads, struct {
				head []byte
				off  int64
			}{[]byte("X-Edited: yes\r\n\r\n"), int64(j + 4)})
		}
		for _, h := range heads {
			data := append(append([]byte(nil), h.head...), msg[h.off:]...)
			flags := folder.Flags{Sys: folder.Seen}
			e1, err := mem.Append(ctx, folder.NewMessage{Data: data, Date: date, Sender: "a@example.org", Flags: flags})
			if err != nil {
				t.Fatalf("message %d: Append(Data): %v", i, err)
			}
			c := &spool.Content{Head: h.head, Body: body, Off: h.off}
			e2, err := spooled.Append(ctx, folder.NewMessage{Content: c, Date: date, Sender: "a@example.org", Flags: flags})
			if err != nil {
				t.Fatalf("message %d: Append(Content): %v", i, err)
			}
			if e1.Size != e2.Size || !e1.Flags.Equal(e2.Flags) {
				t.Fatalf("message %d (%q): spooled entry %+v, in memory %+v", i, data, e2, e1)
			}
			if a, b := readAll(t, mem, e1), readAll(t, spooled, e2); !bytes.Equal(a, b) || !bytes.Equal(a, data) {
				t.Fatalf("message %d: spooled reads %q, in memory %q, appended %q", i, b, a, data)
			}
			a, err := mem.ReadStored(e1)
			if err != nil {
				t.Fatal(err)
			}
			b, err := spooled.ReadStored(e2)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				t.Fatalf("message %d: spooled stored form %q, in memory %q", i, b, a)
			}
		}
	}
	e1, _, err := mem.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e2, _, err := spooled.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(e1) != len(e2) {
		t.Fatalf("Scan: %d spooled messages, %d in memory", len(e2), len(e1))
	}
	// Scan's order is the format's (a directory's for Maildir): compare
	// the sizes as sets.
	sizes := func(es []folder.Entry) []int64 {
		var out []int64
		for _, e := range es {
			out = append(out, e.Size)
		}
		slices.Sort(out)
		return out
	}
	if a, b := sizes(e1), sizes(e2); !slices.Equal(a, b) {
		t.Fatalf("Scan: sizes spooled %v, in memory %v", b, a)
	}
}
