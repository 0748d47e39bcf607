package server_test

import (
	"sync"
	"testing"
	"time"

	imap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Two sessions on one mailbox while mail arrives: one STOREs and
// EXPUNGEs, the other IDLEs and FETCHes. The sequence numbers the second
// sees stay coherent with the UIDs, and nothing panics (run with -race).
func TestIMAPSessionsConsistent(t *testing.T) { eachFormat(t, testIMAPSessionsConsistent) }

func testIMAPSessionsConsistent(t *testing.T, format string) {
	ts := startServer(t, t.TempDir(), withFormat(format), "ann")
	deliverN(t, ts, "ann", 40, 1)
	a := ts.login(t, "ann", nil)
	var mu sync.Mutex
	count := uint32(0)
	b := ts.login(t, "ann", &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				mu.Lock()
				count = *d.NumMessages
				mu.Unlock()
			}
		},
		Expunge: func(uint32) { mu.Lock(); count--; mu.Unlock() },
	}})
	if _, err := a.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := b.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	count = sel.NumMessages

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // more mail arrives
		defer wg.Done()
		for i := 100; i < 130; i++ {
			deliverN(t, ts, "ann", 1, i)
		}
	}()
	go func() { // session A deletes every third message it sees, repeatedly
		defer wg.Done()
		for round := 0; round < 15; round++ {
			n := selectedCount(a)
			if n == 0 {
				continue
			}
			var set imap.SeqSet
			for s := uint32(1); s <= n; s += 3 {
				set.AddNum(s)
			}
			if _, err := a.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Collect(); err != nil {
				t.Error(err)
				return
			}
			if _, err := a.Expunge().Collect(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() { wg.Wait(); close(stop) }()

	check := func(where string) {
		msgs, err := b.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			t.Fatalf("%s: FETCH: %v", where, err)
		}
		mu.Lock()
		n := count
		mu.Unlock()
		last := imap.UID(0)
		for _, m := range msgs {
			if m.SeqNum > n {
				t.Fatalf("%s: FETCH returned seq %d beyond the %d messages the client knows", where, m.SeqNum, n)
			}
			if m.UID <= last {
				t.Fatalf("%s: UIDs not increasing with sequence numbers: %d after %d", where, m.UID, last)
			}
			last = m.UID
		}
	}
	for done := false; !done; {
		select {
		case <-stop:
			done = true
		default:
		}
		idle, err := b.Idle()
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // let updates arrive while idling
		idle.Close()
		if err := idle.Wait(); err != nil {
			t.Fatal(err)
		}
		check("after IDLE")
	}
	if err := b.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	check("final")
	// Both sessions agree with the store at the end.
	a.Noop().Wait()
	st, _ := b.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	mu.Lock()
	n := count
	mu.Unlock()
	if *st.NumMessages != n || selectedCount(a) != n {
		t.Fatalf("store has %d, session B thinks %d, session A %d", *st.NumMessages, n, selectedCount(a))
	}
}
