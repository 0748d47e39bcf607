package store

import (
	"context"
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
//     rename in the batch), then indexes the batch in one index commit.
//     Appends that queue meanwhile form the next batch, and the leader
//     hands that batch to its first append rather than serving it too, so
//     no delivery waits behind more than the batch before its own.
//   - The order of package store's invariants holds for every message:
//     file durable, then directory entry durable, then index durable,
//     then events and the reply. A crash anywhere before the index commit
//     leaves files (named or not) that no one acknowledged; Sync indexes
//     the named ones.
//
// One append alone costs what it did without batching: no delay is added
// to wait for company. A leader does wait, at most maxCompanyWait, for
// appends to the same mailbox that are still writing their files, since
// they are about to queue. With k appends in a batch, one directory fsync
// and one index commit (two fdatasyncs) serve k messages.

// appendReq is one append waiting for its directory fsync and index
// commit.
type appendReq struct {
	st  *staged
	rec index.Message
	mb  index.Mailbox
	err error
	// wake says true once the request is done, false when its goroutine
	// is to lead the next batch (the request is still queued then).
	wake chan bool
}

// commitAppended makes st's name durable and indexes it, in a batch with
// other appends to m queued meanwhile. st's file is durable and named.
func (m *Mailbox) commitAppended(ba folder.BatchAppender, st *staged) (index.Message, index.Mailbox, error) {
	req := &appendReq{st: st, wake: make(chan bool, 1)}
	m.amu.Lock()
	m.aqueue = append(m.aqueue, req)
	m.writeEnded()
	lead := !m.aleading
	m.aleading = true
	m.amu.Unlock()
	if !lead {
		if <-req.wake {
			return req.rec, req.mb, req.err
		}
	}
	// Leading: take everything queued (req among it), commit it, and pass
	// the lead on to whoever queued meanwhile.
	m.awaitWriters()
	m.amu.Lock()
	batch := m.aqueue
	m.aqueue = nil
	m.amu.Unlock()
	m.commitBatch(ba, batch)
	m.amu.Lock()
	if len(m.aqueue) > 0 {
		m.aqueue[0].wake <- false
	} else {
		m.aleading = false
	}
	m.amu.Unlock()
	for _, r := range batch {
		if r != req {
			r.wake <- true
		}
	}
	return req.rec, req.mb, req.err
}

// commitBatch fsyncs the directories of the batch's files, then indexes
// them in one transaction; when that fails, each alone, so that one
// message's error is not every message's.
func (m *Mailbox) commitBatch(ba folder.BatchAppender, batch []*appendReq) {
	entries := make([]folder.Entry, len(batch))
	sts := make([]*staged, len(batch))
	for i, r := range batch {
		entries[i], sts[i] = r.st.entry, r.st
	}
	if err := ba.SyncAppended(entries); err != nil {
		for _, r := range batch {
			r.err = err
		}
		return
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

// writeUnsynced is writeStaged up to the rename: the name is made durable
// by commitAppended.
//
// It is counted among the mailbox's writers from before its file is
// made until it queues (or fails), so that a leader knows who is about
// to join.
func (m *Mailbox) writeUnsynced(ctx context.Context, ba folder.BatchAppender, st *staged, keys *[]string) error {
	m.amu.Lock()
	m.awriting++
	m.amu.Unlock()
	e, err := ba.AppendUnsynced(ctx, m.newMessage(st, keys))
	st.entry = e
	if err != nil {
		m.amu.Lock()
		m.writeEnded()
		m.amu.Unlock()
	}
	return err
}

// writeEnded counts one writer out (it queued or failed), waking a
// leader waiting for the last one. amu is held.
func (m *Mailbox) writeEnded() {
	if m.awriting--; m.awriting == 0 && m.await != nil {
		close(m.await)
		m.await = nil
	}
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

// awaitWriters has a leader wait, at most maxCompanyWait, until no
// append to the mailbox is still writing its file. With none writing it
// returns at once: a lone append does not wait for company.
func (m *Mailbox) awaitWriters() {
	m.amu.Lock()
	if m.awriting == 0 {
		m.amu.Unlock()
		return
	}
	if m.await == nil {
		m.await = make(chan struct{})
	}
	ch := m.await
	m.amu.Unlock()
	t := time.NewTimer(maxCompanyWait)
	select {
	case <-ch:
	case <-t.C:
	}
	t.Stop()
}
