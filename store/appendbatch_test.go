package store

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
)

// Concurrent appends to one mailbox go through the batched directory
// fsync and index commit: each is answered with its own UID, every
// answered message is indexed once under it, and an append without a
// date keeps the arrival time as INTERNALDATE.
func TestConcurrentAppendsBatched(t *testing.T) {
	_, a := openAccount(t, t.TempDir())
	mb, err := a.Mailbox(folder.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mb.folder().(folder.BatchAppender); !ok {
		t.Skip("the default format does not batch")
	}
	const writers, each = 8, 25
	before := time.Now().Add(-time.Second)
	var wg sync.WaitGroup
	uids := make(chan uint32, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				var opt AppendOptions
				if i%5 == 0 {
					opt.Flags = folder.Flags{Sys: folder.Seen} // into cur/
				}
				r, err := mb.Append(context.Background(), msg(w*each+i), opt)
				if err != nil {
					t.Error(err)
					return
				}
				uids <- r.UID
			}
		}(w)
	}
	wg.Wait()
	close(uids)
	seen := map[uint32]bool{}
	for u := range uids {
		if seen[u] {
			t.Fatalf("UID %d answered twice", u)
		}
		seen[u] = true
	}
	_, recs := all(t, a, folder.Inbox)
	if len(recs) != writers*each || len(seen) != writers*each {
		t.Fatalf("%d indexed, %d answered, want %d", len(recs), len(seen), writers*each)
	}
	for _, r := range recs {
		if !seen[r.UID] {
			t.Errorf("UID %d indexed but never answered", r.UID)
		}
		if r.InternalDate.Before(before) || r.InternalDate.After(time.Now().Add(time.Second)) {
			t.Errorf("UID %d: INTERNALDATE %v is not the arrival time", r.UID, r.InternalDate)
		}
	}
}

// Every append leaves the writer count it joined, failed ones too: a
// count left behind would make every later leader wait for company that
// never comes.
func TestAppendWritersCounted(t *testing.T) {
	_, a := openAccount(t, t.TempDir())
	mb, err := a.Mailbox(folder.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mb.folder().(folder.BatchAppender); !ok {
		t.Skip("the default format does not batch")
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			ctx := context.Background()
			if w%2 == 1 {
				ctx = cancelled // refused before its file is made
			}
			for i := 0; i < 10; i++ {
				_, err := mb.Append(ctx, msg(w*10+i), AppendOptions{})
				if (err != nil) != (w%2 == 1) {
					t.Errorf("writer %d: %v", w, err)
				}
			}
		}(w)
	}
	wg.Wait()
	mb.amu.Lock()
	defer mb.amu.Unlock()
	if n := mb.awriting.Count(); n != 0 || mb.aleading || len(mb.aqueue) != 0 {
		t.Fatalf("after the appends: %d writing, leading %v, %d queued", n, mb.aleading, len(mb.aqueue))
	}
}
