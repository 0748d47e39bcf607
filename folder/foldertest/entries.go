package foldertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/message"
)

// oddMessages are canonical messages that trip formats up: nothing at
// all, no final line break, lines an mbox must quote, the header fields
// formats keep their own state in, a bare CR, a CR before CRLF (which an
// LF store cannot spell), a blank line only.
var oddMessages = [][]byte{
	{},
	[]byte("Subject: no final line break\r\n\r\nlast line"),
	[]byte("Subject: from lines\r\n\r\nFrom me\r\n>From you\r\n>>From them\r\n\r\nFrom x@example.org Thu Jan  1 00:00:00 2015\r\n"),
	[]byte("Status: RO\r\nX-Status: AF\r\nX-Keywords: junk\r\nContent-Length: 3\r\nLines: 9\r\nX-UID: 4\r\nX-IMAPbase: 1 2\r\nSubject: state fields\r\n\r\nbody\r\n"),
	[]byte("Subject: bare CR\r\n\r\na\rb\r\n"),
	[]byte("Subject: CR CR LF\r\n\r\na\r\r\nb\r\n"),
	[]byte("\r\n"),
	[]byte("From: someone\r\nSubject: ends in blank lines\r\n\r\nbody\r\n\r\n\r\n"),
}

// testAppendEntries: what Append returns agrees with Scan and Stat, and
// odd messages read back byte for byte.
func testAppendEntries(t *testing.T, newStore NewStore) {
	s := newStore(t)
	f := inbox(t, s)
	ctx := context.Background()
	date := time.Date(2023, 7, 1, 8, 9, 10, 0, time.UTC)
	byKey := make(map[string]folder.Entry)
	for i, msg := range oddMessages {
		e, err := f.Append(ctx, folder.NewMessage{Data: msg, Date: date, Sender: "odd@example.org"})
		if err != nil {
			t.Fatalf("Append(odd %d): %v", i, err)
		}
		if e.Key == "" {
			t.Fatalf("odd %d: empty key", i)
		}
		if _, dup := byKey[e.Key]; dup {
			t.Fatalf("odd %d: key %q given twice", i, e.Key)
		}
		byKey[e.Key] = e
		if got := readAll(t, f, e); !bytes.Equal(got, msg) {
			t.Fatalf("odd %d: read back\n%q\nwant\n%q", i, got, msg)
		}
	}
	// The zero date means "now" to every format.
	e, err := f.Append(ctx, folder.NewMessage{Data: []byte("Subject: undated\r\n\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	byKey[e.Key] = e
	if st, err := f.Stat(e); err != nil || st.Date.IsZero() || time.Since(st.Date) > time.Hour {
		t.Fatalf("undated message: date %v, %v", st.Date, err)
	}

	entries, tok, err := f.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(byKey) {
		t.Fatalf("Scan: %d entries, appended %d", len(entries), len(byKey))
	}
	for _, se := range entries {
		ae, ok := byKey[se.Key]
		if !ok {
			t.Fatalf("Scan: unknown key %q", se.Key)
		}
		// Scan may leave Size and Date to Stat (Maildir and MH do);
		// Stat and Append must agree.
		st, err := f.Stat(se)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size != ae.Size {
			t.Errorf("%q: size %d at append, %d from Stat", se.Key, ae.Size, st.Size)
		}
		if se.Size != 0 && se.Size != st.Size {
			t.Errorf("%q: size %d in Scan, %d from Stat", se.Key, se.Size, st.Size)
		}
		if !se.Date.IsZero() && !se.Date.Equal(st.Date) {
			t.Errorf("%q: date %v in Scan, %v from Stat", se.Key, se.Date, st.Date)
		}
	}
	// Nothing changed since the scan: its token is the current one.
	now, err := f.Token()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(now, tok) {
		t.Errorf("Token after an idle Scan = %x, Scan said %x", now, tok)
	}
}

// storedMessages are what an IMAP client may send in a literal8 (RFC
// 3516): a binary part whose bare LFs and CRs are data, and ones with
// only LF line ends. ReadStored gives each back as it was sent when it
// holds a CRLF (the binary ones always do: their header is canonical),
// and Open gives the canonical form.
var storedMessages = [][]byte{
	[]byte("Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00-\xe4\n\r\n\n"),
	[]byte("Subject: mixed\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: binary\r\n\r\n\nFrom x\n\r\r\n\x00\n--b--\r\n"),
	[]byte("Subject: LF only\n\nbody\n"),
}

func testStoredForm(t *testing.T, newStore NewStore) {
	s := newStore(t)
	f := inbox(t, s)
	for i, msg := range storedMessages {
		e, err := f.Append(context.Background(), folder.NewMessage{Data: msg, Date: time.Now()})
		if err != nil {
			t.Fatalf("Append(stored %d): %v", i, err)
		}
		want := msg
		if !bytes.Contains(msg, []byte("\r\n")) {
			want = message.Canonical(msg)
		}
		got, err := f.ReadStored(e)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("stored %d: ReadStored = %q, %v; want %q", i, got, err, want)
		}
		if got := readAll(t, f, e); !bytes.Equal(got, message.Canonical(msg)) {
			t.Errorf("stored %d: Open = %q, want the canonical form %q", i, got, message.Canonical(msg))
		}
	}
	if _, err := f.ReadStored(folder.Entry{Key: "gone", Name: "gone"}); !errors.Is(err, folder.ErrGone) {
		t.Errorf("ReadStored of a missing message: %v, want ErrGone", err)
	}
}

// testConcurrentAppends: appends from many goroutines at once all land,
// each once, whole, under distinct keys.
func testConcurrentAppends(t *testing.T, newStore NewStore) {
	s := newStore(t)
	f := inbox(t, s)
	ctx := context.Background()
	const workers, each = 4, 8
	var mu sync.Mutex
	got := make(map[string][]byte)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				msg := []byte(fmt.Sprintf("Subject: worker %d message %d\r\n\r\nFrom worker %d\r\n", w, i, w))
				e, err := f.Append(ctx, folder.NewMessage{Data: msg, Date: time.Now()})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if _, dup := got[e.Key]; dup {
					errs <- fmt.Errorf("key %q given twice", e.Key)
				}
				got[e.Key] = msg
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	entries, _, err := f.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != workers*each {
		t.Fatalf("Scan: %d entries, appended %d", len(entries), workers*each)
	}
	for _, e := range entries {
		want, ok := got[e.Key]
		if !ok {
			t.Fatalf("Scan: unknown key %q", e.Key)
		}
		if b := readAll(t, f, e); !bytes.Equal(b, want) {
			t.Fatalf("%q reads %q, want %q", e.Key, b, want)
		}
	}
}

// testStaleEntries: entries taken before other messages were removed or
// had their flags changed still reach their messages (a format whose
// Names are places, like mbox offsets, finds them through the Key).
func testStaleEntries(t *testing.T, newStore NewStore, caps Caps) {
	s := newStore(t)
	f := inbox(t, s)
	ctx := context.Background()
	var es []folder.Entry
	var msgs [][]byte
	for i := 0; i < 6; i++ {
		msg := []byte(fmt.Sprintf("Subject: stale %d\r\n\r\nbody %d\r\n", i, i))
		e, err := f.Append(ctx, folder.NewMessage{Data: msg, Date: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		es, msgs = append(es, e), append(msgs, msg)
	}
	if err := f.Remove([]folder.Entry{es[1]}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.SetFlags(es[3], folder.Flags{Sys: folder.Seen | folder.Flagged}); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	// The contract promises this of Open only: Stat is given fresh
	// entries (Maildir's cannot follow a flag change).
	for _, i := range []int{0, 2, 3, 4, 5} {
		if got := readAll(t, f, es[i]); !bytes.Equal(got, msgs[i]) {
			t.Fatalf("stale entry %d reads %q", i, got)
		}
	}
	if _, err := f.Open(es[1]); !errors.Is(err, folder.ErrGone) {
		t.Fatalf("Open(removed) = %v, want ErrGone", err)
	}
	// Stale entries can be removed and flagged too.
	if err := f.Remove([]folder.Entry{es[4]}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.SetFlags(es[5], folder.Flags{Sys: folder.Seen}); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	entries, _, err := f.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]folder.SysFlags{es[0].Key: 0, es[2].Key: 0, es[3].Key: folder.Seen | folder.Flagged, es[5].Key: folder.Seen}
	if len(entries) != len(want) {
		t.Fatalf("Scan: %d entries, want %d", len(entries), len(want))
	}
	for _, e := range entries {
		fl, ok := want[e.Key]
		if !ok {
			t.Fatalf("Scan: unexpected key %q", e.Key)
		}
		if e.Flags.Sys&caps.Flags != fl&caps.Flags {
			t.Errorf("%q: flags %v, want %v", e.Key, e.Flags.Sys&caps.Flags, fl&caps.Flags)
		}
	}
}

// testFlagBatch: several SetFlags, an Append between them, one Flush.
func testFlagBatch(t *testing.T, newStore NewStore, caps Caps) {
	s := newStore(t)
	f := inbox(t, s)
	ctx := context.Background()
	if err := f.Flush(); err != nil {
		t.Fatalf("Flush with nothing pending: %v", err)
	}
	var es []folder.Entry
	for i := 0; i < 3; i++ {
		e, err := f.Append(ctx, folder.NewMessage{Data: []byte(fmt.Sprintf("Subject: batch %d\r\n\r\n", i))})
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	kw := []string{"later"}
	set := func(e folder.Entry, fl folder.Flags) {
		t.Helper()
		if _, err := f.SetFlags(e, fl); err != nil {
			t.Fatal(err)
		}
	}
	set(es[0], folder.Flags{Sys: folder.Answered})
	set(es[0], folder.Flags{Sys: folder.Seen}) // the last one counts
	set(es[1], folder.Flags{Sys: folder.Flagged, Keywords: kw})
	d, err := f.Append(ctx, folder.NewMessage{Data: []byte("Subject: between\r\n\r\n"), Flags: folder.Flags{Sys: folder.Seen | folder.Flagged}})
	if err != nil {
		t.Fatal(err)
	}
	set(es[2], folder.Flags{Sys: folder.Answered | folder.Seen})
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	want := map[string]folder.Flags{
		es[0].Key: {Sys: folder.Seen},
		es[1].Key: {Sys: folder.Flagged, Keywords: kw},
		es[2].Key: {Sys: folder.Answered | folder.Seen},
		d.Key:     {Sys: folder.Seen | folder.Flagged},
	}
	entries, _, err := f.Scan(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		t.Fatalf("Scan: %d entries, want %d", len(entries), len(want))
	}
	for _, e := range entries {
		w := want[e.Key]
		got := e.Flags
		got.Sys &= caps.Flags
		w.Sys &= caps.Flags
		if !caps.Keywords {
			got.Keywords, w.Keywords = nil, nil
		}
		if !got.Equal(w) {
			t.Errorf("%q: flags %+v, want %+v", e.Key, got, w)
		}
	}
}
