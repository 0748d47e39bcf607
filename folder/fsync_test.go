package folder

import (
	"sync"
	"sync/atomic"
	"testing"
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
