package folder

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

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
func (g *GroupSync) Do(fsync func() error) error { return g.DoGathered(nil, fsync) }

// DoGathered is Do whose leader first calls gather (when set), which may
// wait a little for callers about to come: every caller that arrives
// before gather returns is covered by the fsync that follows.
func (g *GroupSync) DoGathered(gather func(), fsync func() error) error {
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
	if gather != nil {
		g.mu.Unlock()
		gather()
		g.mu.Lock()
	}
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

// FSSync makes everything written to a file system durable with one
// syncfs(2), shared by every append in flight on it, whatever user or
// directory it writes to: the append writes its file and renames it into
// place without an fsync of either, and one syncfs that began after the
// rename covers both. Where per-file fsyncs cost each message a write of
// its inode block and of each directory block it touched, and a cache
// flush of its own, a syncfs writes each dirty block once for all of them
// and flushes once (see ARCHITECTURE.md, "What an LMTP 250 guarantees").
//
// Since the file is renamed before it is durable, a crash may leave a
// named file that was cut short or never written out. Such a file was
// never acknowledged, and its name says so: a format that syncs this way
// records the file's size and CRC-32C in its name and drops a file that
// does not match when it first finds it (Verifier).
//
// One FSSync serves a process; it holds one descriptor per file system.
type FSSync struct {
	mu  sync.Mutex
	fss map[uint64]*FSGroup // by st_dev
}

// FSGroup is the syncfs group of one file system.
type FSGroup struct {
	fd int // a directory on the file system, open for the process's life
	g  GroupSync
	// syncfs is unix.Syncfs; tests make it fail.
	syncfs func(fd int) error
	// writers are the appends between Begin and End, whose files are
	// being written and renamed; a leader waits for them, at most
	// maxGather, so that one syncfs covers them too.
	writers Writers
	// errs counts failed syncfs calls. syncfs reports a write-back error
	// once per descriptor (errseq), to whichever call comes first, which
	// may be one that an append whose pages failed did not wait for: an
	// append that saw errs change between its write and its sync fails,
	// whoever's the error was.
	errs atomic.Uint64
}

// For returns the group of the file system that holds dir, a directory
// the administrator's configuration names (a store's root: trusted as a
// path, as safefs.OpenDir trusts it).
func (s *FSSync) For(dir string) (*FSGroup, error) {
	// A descriptor opened before any write it is to cover: syncfs
	// reports the errors that happened since its descriptor was opened.
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("syncfs: open %s: %w", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("syncfs: stat %s: %w", dir, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if g := s.fss[st.Dev]; g != nil {
		unix.Close(fd)
		return g, nil
	}
	if s.fss == nil {
		s.fss = make(map[uint64]*FSGroup)
	}
	g := &FSGroup{fd: fd, syncfs: unix.Syncfs}
	s.fss[st.Dev] = g
	return g, nil
}

// Close releases the descriptors (For opens them again when asked).
func (s *FSSync) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for dev, g := range s.fss {
		unix.Close(g.fd)
		delete(s.fss, dev)
	}
	return nil
}

// ErrWriteback: a syncfs failed while a message was on its way to disk;
// the message may be among what failed, so it is not acknowledged.
var ErrWriteback = errors.New("a write-back error on the file system while the message was written")

// Begin is called before an append writes anything, and End once its
// file is written and renamed (or the append failed). Begin returns the
// epoch that Sync takes.
func (g *FSGroup) Begin() uint64 {
	g.writers.Begin()
	return g.errs.Load()
}

// End counts out an append that Begin counted in.
func (g *FSGroup) End() { g.writers.End() }

// maxGather bounds how long a syncfs waits for appends still writing
// their files. Deliveries to different users do not meet in a mailbox's
// batch (store/appendbatch.go); without the wait, the first to finish
// its file starts a syncfs alone and those a few microseconds behind it
// wait through it for the next: at 4 connections to 100 users about 1.4
// deliveries per syncfs. A 4 KB file is written and renamed in well
// under this; a large one costs the others at most this.
const maxGather = time.Millisecond

// Sync returns once a syncfs that began after this call has succeeded
// and no syncfs failed since epoch (Begin's, before the writes it is to
// cover).
func (g *FSGroup) Sync(epoch uint64) error {
	err := g.g.DoGathered(func() { g.writers.Await(maxGather) }, func() error {
		if err := g.syncfs(g.fd); err != nil {
			g.errs.Add(1)
			return fmt.Errorf("syncfs: %w", err)
		}
		return nil
	})
	if err == nil && g.errs.Load() != epoch {
		err = ErrWriteback
	}
	return err
}

// Writers counts appends still writing their files, so that the leader
// of a group sync (a mailbox's batch, a file system's syncfs) can wait a
// little for those about to join it instead of leaving them to the next.
type Writers struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0, if someone waits
}

// Begin counts a writer in.
func (w *Writers) Begin() {
	w.mu.Lock()
	w.n++
	w.mu.Unlock()
}

// End counts a writer out, waking whoever waits for the last one.
func (w *Writers) End() {
	w.mu.Lock()
	if w.n--; w.n == 0 && w.idle != nil {
		close(w.idle)
		w.idle = nil
	}
	w.mu.Unlock()
}

// Count is how many are counted in now (tests check nothing is left).
func (w *Writers) Count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// Await returns once no writer is counted in, or after max. With none it
// returns at once: a lone writer does not wait for company.
func (w *Writers) Await(max time.Duration) {
	w.mu.Lock()
	if w.n == 0 {
		w.mu.Unlock()
		return
	}
	if w.idle == nil {
		w.idle = make(chan struct{})
	}
	ch := w.idle
	w.mu.Unlock()
	t := time.NewTimer(max)
	select {
	case <-ch:
	case <-t.C:
	}
	t.Stop()
}
