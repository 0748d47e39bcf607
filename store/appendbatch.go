package store

import (
	"context"
	"slices"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/index"
)

// Appends to one mailbox are committed in batches (group commit), for
// formats that let the store fsync the directory (folder.BatchAppender):
//
//   - Each append writes and fsyncs its file and renames it into place
//     itself, concurrently with the others.
//   - It then queues. One of the queued appends leads: it fsyncs the
//     directory once for the whole batch (an fsync begun after every
//     rename in the batch); the batch's names are durable then, and early
//     appends (AppendOptions.Early) return. A batch with an append that
//     waits for its UID is indexed by the leader at once, in one index
//     commit; a batch of early appends goes to the account's lazy
//     committer (lazycommit.go). Appends that queue meanwhile form the
//     next batch, and the leader hands it to its first append rather than
//     serving it too, so no delivery waits behind more than the batch
//     before its own.
//   - The order of package store's invariants holds for every message:
//     file durable, then directory entry durable, then (early: the
//     answer, then) index durable, then events (then the answer). A crash
//     anywhere before the index commit leaves files that no one was shown;
//     Sync indexes the named ones.
//
// One append alone costs what it did without batching: no delay is added
// to wait for company. A leader does wait, at most maxCompanyWait, for
// appends to the same mailbox that are still writing their files, since
// they are about to queue. With k appends in a batch, one directory fsync
// serves k messages.

// appendReq is one append waiting for its directory fsync and index
// commit.
type appendReq struct {
	st  *staged
	rec index.Message
	mb  index.Mailbox
	// durable is closed once the file's name is durable (the directory
	// fsync of its batch), with derr its error; done once the index
	// commit is over too, with err its error (derr when that failed).
	durable chan struct{}
	derr    error
	done    chan struct{}
	err     error
	// wake says the request's goroutine is to lead the next batch (the
	// request is still queued then).
	wake chan struct{}
	// after, when set, runs once the request is done, on the goroutine
	// that committed it: what an early return left (appendStaged).
	after func(*appendReq)
}

// batchInFlight is a batch whose names are durable and whose index
// commit is to come: Sync waits for it (awaitIndexing).
type batchInFlight struct {
	m    *Mailbox
	reqs []*appendReq
	done chan struct{}
}

// commitAppended queues st (durable and named) for its directory fsync
// and index commit, in a batch with other appends to m, and returns once
// the name is durable (early) or once the index commit is over too.
//
// The first append that finds no leader leads: it takes the queue,
// fsyncs the directory for all of it, commits the index itself when an
// append of the batch waits for its UID, or else hands the commit to the
// account's lazy committer, and passes the lead to the first append
// queued meanwhile (so the next batch's directory fsync overlaps a lazy
// commit).
func (m *Mailbox) commitAppended(ba folder.BatchAppender, st *staged, early bool, after func(*appendReq)) *appendReq {
	req := &appendReq{st: st, durable: make(chan struct{}), done: make(chan struct{}), wake: make(chan struct{}, 1), after: after}
	m.amu.Lock()
	m.aqueue = append(m.aqueue, req)
	lead := !m.aleading
	m.aleading = true
	m.amu.Unlock()
	m.awriting.End() // after the append to the queue: see Mailbox.awriting
	if lead {
		m.leadBatch(ba)
	}
	// A wake comes only while req is queued, so never after durable.
	for {
		select {
		case <-req.wake:
			m.leadBatch(ba)
		case <-req.durable:
			if !early || req.derr != nil {
				<-req.done
			}
			return req
		}
	}
}

// leadBatch fsyncs the directory for everything queued, has it indexed
// (now, or by the lazy committer), and passes the lead on.
func (m *Mailbox) leadBatch(ba folder.BatchAppender) {
	m.awriting.Await(maxCompanyWait)
	m.amu.Lock()
	batch := m.aqueue
	m.aqueue = nil
	m.amu.Unlock()
	entries := make([]folder.Entry, len(batch))
	for i, r := range batch {
		entries[i] = r.st.entry
	}
	derr := ba.SyncAppended(entries)
	var fl *batchInFlight
	if derr == nil {
		// Registered before any durable closes: a Sync that follows an
		// early return waits for this commit.
		fl = &batchInFlight{m: m, reqs: batch, done: make(chan struct{})}
		m.amu.Lock()
		m.aindexing = append(m.aindexing, fl)
		m.amu.Unlock()
	}
	wait := false // an append of the batch waits for its UID (IMAP APPEND)
	for _, r := range batch {
		r.derr = derr
		if r.after == nil {
			wait = true
		}
	}
	if derr == nil && !wait {
		// Queued before any answer: a Sync that follows one finds the
		// batch there to commit. The commit waits (lazycommit.go) unless
		// a session watches the mailbox and would hear of the message.
		m.acct.addLazy(fl, m.acct.hub.Watched(m.id))
	}
	for _, r := range batch {
		close(r.durable)
	}
	if derr == nil && wait {
		// Committed here, before the lead passes on, as without early
		// appends: the batch's callers are waiting for it.
		m.indexBatch(batch)
		fl.committed()
	}
	m.amu.Lock()
	if len(m.aqueue) > 0 {
		m.aqueue[0].wake <- struct{}{}
	} else {
		m.aleading = false
	}
	m.amu.Unlock()
	if derr != nil {
		for _, r := range batch {
			r.err = derr
			m.finish(r)
		}
	}
}

// committed ends a batch whose index commit is over.
//
// The requests first: an early one's keys are released then (afterEarly),
// so a Sync that waited for the batch finds no key of it pending, and
// scans a file whose commit failed.
func (fl *batchInFlight) committed() {
	m := fl.m
	for _, r := range fl.reqs {
		m.finish(r)
	}
	m.amu.Lock()
	m.aindexing = slices.DeleteFunc(m.aindexing, func(b *batchInFlight) bool { return b == fl })
	m.amu.Unlock()
	close(fl.done)
}

// finish ends r: its after, then done.
func (m *Mailbox) finish(r *appendReq) {
	if r.after != nil {
		r.after(r)
	}
	close(r.done)
}

// indexBatch indexes a batch whose names are durable in one transaction;
// when that fails, each alone, so that one message's error is not every
// message's.
func (m *Mailbox) indexBatch(batch []*appendReq) {
	sts := make([]*staged, len(batch))
	for i, r := range batch {
		sts[i] = r.st
	}
	recs, mb, err := m.indexStaged(sts)
	if err == nil {
		for i, r := range batch {
			r.rec, r.mb = recs[i], mb
		}
		return
	}
	if len(batch) == 1 {
		batch[0].err = err
		return
	}
	for _, r := range batch {
		var recs []index.Message
		if recs, r.mb, r.err = m.indexStaged([]*staged{r.st}); r.err == nil {
			r.rec = recs[0]
		}
	}
}

// awaitIndexing waits for the index commits of the batches whose names
// are durable now: appends answered before their commit (early, as LMTP
// is) are then indexed, so whoever heard the answer and then looks finds
// the message. Batches that become durable later are not waited for, so
// a stream of deliveries cannot hold a reader back.
func (m *Mailbox) awaitIndexing(ctx context.Context) error {
	m.amu.Lock()
	wait := slices.Clone(m.aindexing)
	m.amu.Unlock()
	if len(wait) > 0 {
		m.acct.kickLazy()
	}
	for _, b := range wait {
		select {
		case <-b.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// writeUnsynced is writeStaged up to the rename: the name is made durable
// by queueAppended.
//
// It is counted among the mailbox's writers from before its file is
// made until it queues (or fails), so that a leader knows who is about
// to join.
func (m *Mailbox) writeUnsynced(ctx context.Context, ba folder.BatchAppender, st *staged, keys *[]string) error {
	m.awriting.Begin()
	e, err := ba.AppendUnsynced(ctx, m.newMessage(st, keys))
	st.entry = e
	// The file holds the bytes now; a batch (an early one waits for its
	// commit up to a second, lazycommit.go) keeps only the record.
	st.msg, st.canon, st.content = nil, nil, nil
	if err != nil {
		m.awriting.End()
	}
	return err
}

// maxCompanyWait bounds how long a leader waits for the appends whose
// files are still being written. Measured at 4 connections to one
// user: with no wait the first file done leads alone and the other
// three, done a fraction of a millisecond later, wait through its whole
// directory fsync and index commit and then make a second batch (about
// 1.7 messages per batch); waiting lets one batch take all four. A
// millisecond is below one file's write and fsync here (1.5 ms with four
// at once), so a slow writer (a large spooled message) costs the others
// at most that.
const maxCompanyWait = time.Millisecond
