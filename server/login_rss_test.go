package server_test

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/config"
)

// vmRSS is this process's resident set in bytes (the server runs in
// it).
func vmRSS(t testing.TB) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// 50 parallel failed LOGINs, for unknown users (the dummy hash costs
// what a real one does: argon2id, 64 MiB), keep the resident set
// bounded: at most max_parallel_verifications hashes hold their memory
// at once. Unbounded, the same run held about 50 × 64 MiB.
func TestLoginParallelRSSBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("argon2id at full cost")
	}
	const parallel = 50
	const slots = 2
	ts := startServer(t, t.TempDir(), func(c *config.Config) {
		c.Auth.MaxParallelVerifications = slots
	}, "ann")
	ts.Users.SetHashParams(auth.DefaultHashParams)
	runtime.GC()
	base := vmRSS(t)
	var (
		peak atomicMax
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			peak.set(vmRSS(t))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	for i := 0; i < parallel; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// One address each: from one, the throttle would refuse all
			// but max_failures_per_address of them unchecked.
			c := dialLine(t, ts.imap, fmt.Sprintf("127.0.1.%d", i+1))
			c.c.SetDeadline(time.Now().Add(5 * time.Minute))
			c.line()
			c.send(fmt.Sprintf("a LOGIN nobody%d wrong\r\n", i))
			if l, err := c.br.ReadString('\n'); err != nil || !strings.HasPrefix(l, "a NO [AUTHENTICATIONFAILED]") {
				errs <- fmt.Errorf("login %d: %q %v", i, l, err)
			}
		}(i)
	}
	wg.Wait()
	close(stop)
	<-done
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	growth := peak.get() - base
	t.Logf("%d parallel failed logins, %d verification slots: RSS %d MiB before, peak %d MiB (+%d MiB), %v",
		parallel, slots, base>>20, peak.get()>>20, growth>>20, time.Since(start).Round(time.Millisecond))
	// Generous: two live hashes are 128 MiB, the garbage collector's
	// slack doubles that (about 320 MiB measured), the race detector's
	// shadow memory triples it (about 980 MiB). Unbounded it is 3.2 GiB
	// without the race detector.
	limit := int64(1 << 30)
	if raceEnabled {
		limit = 2 << 30
	}
	if growth > limit {
		t.Fatalf("RSS grew by %d MiB during %d parallel logins (limit %d MiB)", growth>>20, parallel, limit>>20)
	}
}

type atomicMax struct {
	mu sync.Mutex
	v  int64
}

func (m *atomicMax) set(v int64) {
	m.mu.Lock()
	m.v = max(m.v, v)
	m.mu.Unlock()
}

func (m *atomicMax) get() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.v
}
