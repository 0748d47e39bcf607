package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/storaged/storaged/folder"
)

// gatedAppender runs before and after each file's write, so a test
// decides the order in which an import's concurrent writes finish.
type gatedAppender struct {
	folder.BatchAppender
	before func(folder.NewMessage) error
	after  func(folder.NewMessage)
}

func (g gatedAppender) AppendUnsynced(ctx context.Context, m folder.NewMessage) (folder.Entry, error) {
	if g.before != nil {
		if err := g.before(m); err != nil {
			return folder.Entry{}, err
		}
	}
	e, err := g.BatchAppender.AppendUnsynced(ctx, m)
	if g.after != nil {
		g.after(m)
	}
	return e, err
}

// subjectNo is the number msg put in a message's subject: its place in
// the test's source.
func subjectNo(m folder.NewMessage) int {
	var i int
	s := string(m.Data)
	fmt.Sscanf(s[strings.Index(s, "Subject: m")+len("Subject: m"):], "%d", &i)
	return i
}

// beginGated starts an import into INBOX whose writes pass through g.
func beginGated(t *testing.T, g gatedAppender) (*Account, *Mailbox, *Importer) {
	t.Helper()
	_, a := openAccount(t, t.TempDir())
	inbox, err := a.Mailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	im, err := inbox.BeginImport(context.Background(), ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if im.ba == nil {
		t.Fatal("the default format writes no batches: Maildir is a folder.BatchAppender")
	}
	g.BatchAppender = im.ba
	im.ba = g
	return a, inbox, im
}

// sourceOrder checks that INBOX holds, under UIDs 1..n, the source's
// messages want in their order, read back from their files.
func sourceOrder(t *testing.T, a *Account, inbox *Mailbox, want []int) {
	t.Helper()
	_, recs := all(t, a, "INBOX")
	if len(recs) != len(want) {
		t.Fatalf("%d messages indexed, want %d", len(recs), len(want))
	}
	for k, rec := range recs {
		r, err := inbox.Open(Message(rec))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := subjectNo(folder.NewMessage{Data: b}); rec.UID != uint32(k+1) || got != want[k] {
			t.Fatalf("UID %d (record %d) holds source message %d, want UID %d with message %d", rec.UID, k, got, k+1, want[k])
		}
	}
}

// The first message's file is written last, after the files of the
// messages behind it: it still gets UID 1, and every UID follows the
// source order, because UIDs are given at the commit.
func TestImportUIDsFollowSourceOrder(t *testing.T) {
	ctx := context.Background()
	var behind sync.WaitGroup
	behind.Add(importWriters - 1)
	a, inbox, im := beginGated(t, gatedAppender{
		before: func(m folder.NewMessage) error {
			if subjectNo(m) == 0 {
				behind.Wait() // the writes of messages 1..importWriters-1 are done
			}
			return nil
		},
		after: func(m folder.NewMessage) {
			if i := subjectNo(m); i >= 1 && i < importWriters {
				behind.Done()
			}
		},
	})
	const n = importBatch + 40 // two batches
	var want []int
	for i := 0; i < n; i++ {
		if err := im.Add(ctx, ImportMessage{Data: msg(i), Mark: []byte(fmt.Sprint("m", i))}); err != nil {
			t.Fatal(err)
		}
		want = append(want, i)
	}
	if err := im.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sourceOrder(t, a, inbox, want)
	for i := 0; i < n; i++ {
		if ok, err := inbox.Imported([]byte(fmt.Sprint("m", i))); err != nil || !ok {
			t.Fatalf("mark of message %d: %v, %v", i, ok, err)
		}
	}
	if k, _ := im.Lost(); k != 0 {
		t.Fatalf("Lost says %d", k)
	}
}

// A write that fails costs its message only: Add then refuses the next
// ones, Flush indexes every file that was written (in source order) and
// returns the error, and Lost counts the one message Add took in vain.
func TestImportWriteFails(t *testing.T) {
	ctx := context.Background()
	errDisk := errors.New("disk on fire")
	a, inbox, im := beginGated(t, gatedAppender{before: func(m folder.NewMessage) error {
		if subjectNo(m) == 3 {
			return errDisk
		}
		return nil
	}})
	var took []int
	var addErr error
	for i := 0; i < 40 && addErr == nil; i++ {
		if addErr = im.Add(ctx, ImportMessage{Data: msg(i)}); addErr == nil {
			took = append(took, i)
		}
	}
	if addErr != nil && !errors.Is(addErr, errDisk) {
		t.Fatalf("Add after the failed write: %v", addErr)
	}
	if err := im.Flush(ctx); !errors.Is(err, errDisk) {
		t.Fatalf("Flush: %v, want the write's error", err)
	}
	if k, b := im.Lost(); k != 1 || b != int64(len(msg(3))) {
		t.Fatalf("Lost: %d messages, %d octets; want 1, %d", k, b, len(msg(3)))
	}
	var want []int
	for _, i := range took {
		if i != 3 {
			want = append(want, i)
		}
	}
	sourceOrder(t, a, inbox, want)
}

// An interrupt (ctx cancelled) stops Add from taking more, but the
// writes already begun finish and the last Flush indexes them all: what
// Add took is what the import reports and keeps.
func TestImportCancelFinishesWrites(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	a, inbox, im := beginGated(t, gatedAppender{before: func(folder.NewMessage) error {
		<-release
		return nil
	}})
	const n = importWriters - 1 // all writing at once, none blocks Add
	for i := 0; i < n; i++ {
		if err := im.Add(ctx, ImportMessage{Data: msg(i)}); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := im.Add(ctx, ImportMessage{Data: msg(n)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Add after the interrupt: %v", err)
	}
	close(release)
	if err := im.Flush(context.WithoutCancel(ctx)); err != nil {
		t.Fatal(err)
	}
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	sourceOrder(t, a, inbox, want)
}
