package store

import (
	"context"

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
// to wait for company. With k appends in a batch, one directory fsync and
// one index commit (two fdatasyncs) serve k messages.

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
func (m *Mailbox) writeUnsynced(ctx context.Context, ba folder.BatchAppender, st *staged, keys *[]string) error {
	e, err := ba.AppendUnsynced(ctx, m.newMessage(st, keys))
	st.entry = e
	return err
}
