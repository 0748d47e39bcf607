package folder

import (
	"fmt"
	"os"
	"sync"

	"github.com/storaged/storaged/internal/safefs"
)

// GroupSync coalesces fsyncs of one file or directory: a caller that asks
// while another fsync is running waits for the next one, which then covers
// every caller that arrived in between. Concurrent deliveries into one
// directory so share a single directory fsync.
type GroupSync struct {
	mu      sync.Mutex
	cond    *sync.Cond
	asked   uint64 // tickets handed out
	covered uint64 // highest ticket a finished fsync covers
	running bool
}

// Do returns once an fsync that began after this call has succeeded.
func (g *GroupSync) Do(fsync func() error) error {
	g.mu.Lock()
	if g.cond == nil {
		g.cond = sync.NewCond(&g.mu)
	}
	g.asked++
	ticket := g.asked
	for {
		if g.covered >= ticket {
			g.mu.Unlock()
			return nil
		}
		if !g.running {
			break
		}
		g.cond.Wait()
	}
	g.running = true
	upto := g.asked
	g.mu.Unlock()

	err := fsync()

	g.mu.Lock()
	g.running = false
	if err == nil && upto > g.covered {
		g.covered = upto
	}
	g.cond.Broadcast()
	g.mu.Unlock()
	return err
}

// SyncDir fsyncs a directory, so that entries created, renamed or removed
// in it survive a crash.
func SyncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open dir for fsync: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync dir %s: %w", path, err)
	}
	return nil
}

// DirSyncer hands out one GroupSync per directory of a store.
type DirSyncer struct {
	m sync.Map // name beneath the store's root → *GroupSync
}

// Sync fsyncs the directory name beneath d ("" for d itself), sharing the
// fsync with concurrent callers. One DirSyncer serves one store root.
func (s *DirSyncer) Sync(d *safefs.Dir, name string) error {
	v, _ := s.m.LoadOrStore(name, new(GroupSync))
	return v.(*GroupSync).Do(func() error { return d.SyncDir(name) })
}
