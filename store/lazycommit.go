package store

import (
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/storaged/storaged/index"
)

// The index commits of early appends (AppendOptions.Early: LMTP) wait a
// little, so that one commit serves the deliveries of a while to the
// account, whichever mailbox they went to.
//
// Why it may: the answer to the sender rests on the message's file and
// name, durable before it; a crash before the commit leaves a file that
// the next Sync indexes (the start-up repair syncs every account), and
// no UID was shown to anyone before the commit, so none can be reused.
// Why it pays: the index is one file per user with two fdatasyncs a
// commit; deliveries to many users do not share them, and at 20
// connections to 100 users those fdatasyncs were half the device
// flushes of a delivery.
//
// Who could notice, never waits:
//   - a Sync of the mailbox (SELECT, STATUS, NOOP, IDLE, a POP3 login,
//     an import, a rebuild: awaitIndexing) kicks the commit and waits for
//     it, so whoever heard the 250 and looks finds the message;
//   - a batch is committed at once when a session watches the mailbox
//     (or the whole account: NOTIFY), so IDLE hears of it at once, or
//     when one of its appends waits for its UID (IMAP APPEND, not early);
//   - the account's close (shutdown) commits what waits.
//
// Otherwise the first batch waiting starts a timer of lazyDelay, and
// maxLazy messages waiting commit at once. The quota a message holds and
// its pending key last until its commit, so quota checks and Syncs see
// it as on its way in.
//
// Invariants this file relies on:
//   - A waiting batch holds records, never message bytes (writeUnsynced
//     drops them once the file is written), so what waits is bounded by
//     maxLazy records, whatever the messages' sizes.
//   - Nothing that holds qmu, pmu, amu, lmu or the hub's lock may wait
//     for a commit (Info, Snapshot, ForEach, Sync, awaitIndexing,
//     awaitLazy): finishing a batch takes them (afterEarly). Code under
//     qmu reads the mailbox with info, not Info.
//   - The account's close comes after deliveries have stopped (the server
//     drains LMTP first): commits.Add is never raced with its Wait.
type lazyCommits struct {
	// queue: batches waiting, in the order their names became durable;
	// n counts their messages.
	queue []*batchInFlight
	n     int
	timer *time.Timer
	// running: a goroutine commits committing; urgent: it goes on with
	// what queued meanwhile instead of leaving it to the timer.
	running, urgent bool
	committing      []*batchInFlight
	// delay is lazyDelay unless a test sets it.
	delay time.Duration
	// room is indexRoom's answer, read at roomAt.
	room   bool
	roomAt time.Time
}

const (
	// lazyDelay bounds how long an unseen delivery's index commit waits.
	// At 20 connections to 100 users (10 deliveries a second to each)
	// a second lets about ten share one commit; a reader never waits for
	// it (a Sync kicks the commit).
	lazyDelay = time.Second
	// maxLazy bounds the messages (their records and cached structures,
	// a few KB each, in memory) that wait.
	maxLazy = 512
)

func (l *lazyCommits) wait() time.Duration {
	if l.delay > 0 {
		return l.delay
	}
	return lazyDelay
}

// addLazy queues fl for its index commit; urgent commits at once.
func (a *Account) addLazy(fl *batchInFlight, urgent bool) {
	l := &a.lazy
	a.lmu.Lock()
	defer a.lmu.Unlock()
	l.queue = append(l.queue, fl)
	l.n += len(fl.reqs)
	if urgent || l.n >= maxLazy {
		a.kickLocked()
		return
	}
	if l.timer == nil && !l.running {
		l.timer = time.AfterFunc(l.wait(), a.kickLazy)
	}
}

// kickLazy commits what waits, now.
func (a *Account) kickLazy() {
	a.lmu.Lock()
	a.kickLocked()
	a.lmu.Unlock()
}

func (a *Account) kickLocked() {
	l := &a.lazy
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.urgent = true
	if l.running || len(l.queue) == 0 {
		return
	}
	l.running = true
	a.commits.Add(1)
	go a.commitLazy()
}

// commitLazy commits the queue, and what queues meanwhile while kicks
// keep coming; what is left waits for the timer.
func (a *Account) commitLazy() {
	defer a.commits.Done()
	l := &a.lazy
	for {
		a.lmu.Lock()
		if len(l.queue) == 0 || !l.urgent && l.n < maxLazy {
			l.running = false
			if len(l.queue) > 0 && l.timer == nil {
				l.timer = time.AfterFunc(l.wait(), a.kickLazy)
			}
			a.lmu.Unlock()
			return
		}
		q := l.queue
		l.queue, l.n, l.urgent, l.committing = nil, 0, false, q
		a.lmu.Unlock()
		a.indexLazy(q)
		for _, fl := range q {
			fl.committed()
		}
		a.lmu.Lock()
		l.committing = nil
		a.lmu.Unlock()
	}
}

// awaitLazy commits every batch of the account that waits and returns
// once they are indexed: before a change to the set of mailboxes.
func (a *Account) awaitLazy() {
	a.lmu.Lock()
	wait := append(append([]*batchInFlight(nil), a.lazy.queue...), a.lazy.committing...)
	a.kickLocked()
	a.lmu.Unlock()
	for _, fl := range wait {
		<-fl.done
	}
}

// indexLazy indexes the batches of q in one transaction; when that
// fails, each batch on its own (indexBatch: then each message).
func (a *Account) indexLazy(q []*batchInFlight) {
	if len(q) == 1 {
		q[0].m.indexBatch(q[0].reqs)
		return
	}
	type result struct {
		recs []index.Message
		mb   index.Mailbox
	}
	res := make([]result, len(q))
	err := a.idx.Commit(func(tx *index.Tx) error {
		now := time.Now()
		for i, fl := range q {
			sts := make([]*staged, len(fl.reqs))
			for j, r := range fl.reqs {
				sts[j] = r.st
			}
			var err error
			if res[i].recs, res[i].mb, err = fl.m.addStaged(tx, sts, now, res[i].recs[:0]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for _, fl := range q {
			fl.m.indexBatch(fl.reqs)
		}
		return
	}
	for i, fl := range q {
		for j, r := range fl.reqs {
			r.rec, r.mb = res[i].recs[j], res[i].mb
		}
	}
}

// minLazyRoom is the room, beyond the index file's next growth, that the
// index's file system must have for appends to be answered before their
// commit: the batches waiting (maxLazy messages' records and cached
// structures) and what else the account writes meanwhile.
const minLazyRoom = 64 << 20

// indexRoom tells whether the index can surely grow: its file system
// has room for the file's next growth (bbolt doubles it up to 1 GiB,
// then adds 1 GiB) and minLazyRoom more. Read at most once a second.
func (a *Account) indexRoom() bool {
	a.lmu.Lock()
	defer a.lmu.Unlock()
	l := &a.lazy
	if now := time.Now(); now.Sub(l.roomAt) >= time.Second {
		l.roomAt, l.room = now, false
		path := a.idx.Path()
		var st syscall.Statfs_t
		if fi, err := os.Stat(path); err == nil && syscall.Statfs(filepath.Dir(path), &st) == nil {
			grow := min(max(fi.Size(), 32<<10), 1<<30)
			l.room = int64(st.Bavail)*st.Bsize >= grow+minLazyRoom
		}
	}
	return l.room
}
