package migrate

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/mbox"
)

// streamed is what the streaming reader makes of b: each message's
// content, as the importer takes it.
func streamed(t testing.TB, b []byte) [][]byte {
	r := newMboxReader(bytes.NewReader(b))
	var out [][]byte
	for {
		rec, recs, err := r.next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, rc := range recs {
			out = append(out, mbox.Content(rec, rc))
		}
	}
}

func whole(b []byte) [][]byte {
	var out [][]byte
	for _, rc := range mbox.Split(b) {
		out = append(out, mbox.Content(b, rc))
	}
	return out
}

const clMbox = "From a@example.net Mon Jan  2 15:04:05 2006\n" +
	"Subject: with a length\nContent-Length: 52\n\n" +
	"body\n\nFrom x@example.net Tue Jan  3 10:00:00 2006\nx\n" + // 52 octets
	"\nFrom b@example.net Mon Jan  2 15:04:06 2006\n" +
	"Subject: wrong length\nContent-Length: 5000\n\nshort\n" +
	"\nFrom c@example.net Mon Jan  2 15:04:07 2006\n" +
	"Subject: length off by some\r\nContent-Length: 3\r\n\r\nabcdef\r\n" +
	"\r\nFrom d@example.net Mon Jan  2 15:04:08 2006\n" +
	"Subject: last, exact\nContent-Length: 5\n\nlast\n"

// The streaming reader cuts an mbox exactly as mbox.Split cuts the whole
// file, Content-Length included: right lengths keep "From " lines in
// bodies, wrong ones are ignored.
func TestMboxStreamContentLength(t *testing.T) {
	got, want := streamed(t, []byte(clMbox)), whole([]byte(clMbox))
	if len(want) != 4 {
		t.Fatalf("Split: %d messages: %q", len(want), want)
	}
	if !bytes.Contains(want[0], []byte("\nFrom x@example.net")) {
		t.Fatalf("Split did not honour the length: %q", want[0])
	}
	if !equalMsgs(got, want) {
		t.Errorf("streamed:\n%q\nwhole:\n%q", got, want)
	}
}

func equalMsgs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func FuzzMboxStream(f *testing.F) {
	f.Add([]byte(clMbox))
	f.Add([]byte(trickyMbox))
	f.Add([]byte("From a Thu Jan  1 00:00:00 2015\nContent-Length: 0\n\n\nFrom b Thu Jan  1 00:00:00 2015\n\nx"))
	f.Add([]byte("From a Thu Jan  1 00:00:00 2015\nContent-Length: 2\n\nx\nFrom b Thu Jan  1 00:00:00 2015\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if bytes.Contains(bytes.ToLower(b), []byte("x-storaged-length")) {
			t.Skip("our own length field: only in files we wrote, read whole")
		}
		if got, want := streamed(t, b), whole(b); !equalMsgs(got, want) {
			t.Errorf("streamed %q\nwhole %q", got, want)
		}
	})
}

const mmdfFile = "\x01\x01\x01\x01\n" +
	"From: a@example.net\nDate: Mon, 2 Jan 2006 15:04:05 +0000\nSubject: one\nStatus: RO\nX-Status: A\n\n" +
	"From the start of a line\n>From quoted stays quoted\n\n" +
	"\x01\x01\x01\x01\n\x01\x01\x01\x01\n" +
	"From: b@example.net\r\nSubject: two, no date\r\n\r\nbody\r\n" +
	"\x01\x01\x01\x01\n" +
	"\x01\x01\x01\x01\nSubject: three, unterminated\n\nlast\n"

// An MMDF file (mutt's mbox_type=MMDF): messages between ^A^A^A^A lines,
// bodies unquoted, Status/X-Status as flags, the Date field as the
// internal date.
func TestImportMMDF(t *testing.T) {
	acct, _ := openAccount(t)
	p := filepath.Join(t.TempDir(), "mbox")
	if err := os.WriteFile(p, []byte(mmdfFile), 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Import(context.Background(), acct, src, Options{})
	if err != nil || rep.Totals.Messages != 3 {
		t.Fatalf("import: %+v %v", rep.Totals, err)
	}
	inbox, _ := acct.Mailbox("INBOX")
	_, msgs, _ := inbox.Snapshot()
	if len(msgs) != 3 {
		t.Fatalf("%d messages", len(msgs))
	}
	if msgs[0].Flags.Sys != folder.Seen|folder.Answered || !msgs[0].InternalDate.Equal(time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)) {
		t.Errorf("first: flags %v date %v", msgs[0].Flags, msgs[0].InternalDate)
	}
	want := []string{
		"From: a@example.net\r\nDate: Mon, 2 Jan 2006 15:04:05 +0000\r\nSubject: one\r\n\r\nFrom the start of a line\r\n>From quoted stays quoted\r\n\r\n",
		"From: b@example.net\r\nSubject: two, no date\r\n\r\nbody\r\n",
		"Subject: three, unterminated\r\n\r\nlast\r\n",
	}
	for i, m := range msgs {
		r, err := inbox.Open(m)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if string(b) != want[i] {
			t.Errorf("message %d: %q, want %q", i+1, b, want[i])
		}
	}
	if msgs[1].Flags.Sys != 0 || time.Since(msgs[1].InternalDate) > time.Hour {
		t.Errorf("second: flags %v date %v (no Date field: the import's time)", msgs[1].Flags, msgs[1].InternalDate)
	}
}
