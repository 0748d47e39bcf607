package folder

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Every caller must be covered by an fsync that started after it asked,
// and concurrent callers must share fsyncs.
func TestGroupSync(t *testing.T) {
	var g GroupSync
	var started, calls atomic.Int64
	var wg sync.WaitGroup
	gate := make(chan struct{})
	const n = 50
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			askedAt := started.Load()
			if err := g.Do(func() error {
				started.Add(1)
				calls.Add(1)
				return nil
			}); err != nil {
				t.Error(err)
			}
			if started.Load() <= askedAt {
				t.Error("returned without an fsync that began after the call")
			}
		}()
	}
	close(gate)
	wg.Wait()
	if c := calls.Load(); c < 1 || c > n {
		t.Fatalf("fsync calls = %d", c)
	}
}

// One group per file system, and a write-back error fails every append
// that was on its way when it was reported, not only the one whose
// syncfs saw it: syncfs reports an error once per descriptor.
func TestFSSync(t *testing.T) {
	var s FSSync
	defer s.Close()
	a, b := t.TempDir(), t.TempDir()
	ga, err := s.For(a)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := s.For(b)
	if err != nil {
		t.Fatal(err)
	}
	if ga != gb {
		t.Fatal("two directories of one file system got two groups")
	}
	before := ga.Begin()
	ga.End()
	if err := ga.Sync(before); err != nil {
		t.Fatalf("Sync: %v", err)
	}

	inFlight := ga.Begin() // an append that began writing here
	ga.End()
	failed := false
	ga.syncfs = func(fd int) error {
		if !failed {
			failed = true
			return unix.EIO
		}
		return unix.Syncfs(fd)
	}
	if err := ga.Sync(ga.errs.Load()); !errors.Is(err, unix.EIO) {
		t.Fatalf("Sync whose syncfs failed = %v", err)
	}
	// Its own syncfs succeeds (the error was reported already), but the
	// failed pages may have been its.
	if err := ga.Sync(inFlight); !errors.Is(err, ErrWriteback) {
		t.Fatalf("Sync of an append in flight during the failure = %v, want ErrWriteback", err)
	}
	if err := ga.Sync(ga.errs.Load()); err != nil {
		t.Fatalf("Sync of an append begun after the failure = %v", err)
	}
}

// A leader waits for writers in flight until the last one ends, never
// longer than its bound, and not at all when none is writing.
func TestWritersAwait(t *testing.T) {
	var w Writers
	start := time.Now()
	w.Await(time.Hour) // none writing: at once
	if time.Since(start) > time.Second {
		t.Fatal("Await waited with no writer")
	}
	w.Begin()
	w.Begin()
	go func() {
		time.Sleep(20 * time.Millisecond)
		w.End()
		time.Sleep(20 * time.Millisecond)
		w.End()
	}()
	w.Await(time.Hour) // returns when the last ends, not before
	if n := w.Count(); n != 0 {
		t.Fatalf("Await returned with %d still writing", n)
	}
	w.Begin() // one that never ends: the bound holds
	start = time.Now()
	w.Await(20 * time.Millisecond)
	if d := time.Since(start); d < 20*time.Millisecond || d > 10*time.Second {
		t.Fatalf("Await with a writer stuck took %v", d)
	}
}
