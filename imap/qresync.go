package imap

// QRESYNC (RFC 7162 §3.2): resynchronising a mailbox in SELECT, VANISHED.
//
// Invariants:
//   - Only after ENABLE QRESYNC (which turns CONDSTORE on too): before,
//     SELECT's QRESYNC parameter and FETCH's VANISHED modifier are BAD
//     (§3.2.3).
//   - Once enabled, expunges are told as "* VANISHED uid-set", never as
//     EXPUNGE (§3.2.10), wherever EXPUNGE would have been allowed; every
//     FETCH response, STORE's included, carries the UID.
//   - VANISHED (EARLIER) comes from the index's tombstones, which keep
//     every expunged UID with the MODSEQ of its expunge for the life of
//     the UIDVALIDITY: the history is complete, so seq-match-data is
//     not needed to narrow it down, and no UID is ever reported that was
//     not expunged.
//   - A UID is told expunged once: VANISHED (EARLIER) leaves out the UIDs
//     still in the view's sequence (expunged since the view read it),
//     which a later "* VANISHED" removes from it; meanwhile the client
//     is kept below their MODSEQ (condstore.go, RFC 7162 §3.2).
//   - A SELECT that closes another mailbox says so with OK [CLOSED] for
//     QRESYNC and IMAP4rev2 clients (§3.2.11, RFC 9051 §7.1), so that
//     they know which mailbox later responses are about.

import (
	"slices"

	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/store"
)

func registerQResync(t *commands) {
	t.capability(afterAuth, "QRESYNC")
	t.enableable("QRESYNC", func(c *conn) {
		c.qresync = true
		c.enableCondstore()
	})
}

// vanishedEarlier writes "* VANISHED (EARLIER) uids": the UIDs in set
// (nil: all) expunged at a MODSEQ above since, but those still in the
// view's sequence.
func (c *conn) vanishedEarlier(mb *store.Mailbox, set *wire.SeqSet, maxUID uint32, since uint64) error {
	var uids []uint32
	err := mb.Tombstones(func(uid uint32, modseq uint64) error {
		// A UID still in the sequence was expunged after the view read
		// it (during this SELECT, or while a FETCH or STORE by sequence
		// number withheld it): the client counts it in EXISTS and is
		// told by "* VANISHED" where that is allowed (updates.go), which
		// removes it from the sequence. Told here too it would leave the
		// client's sequence numbers one short of the server's.
		if c.view.Seq(uid) != 0 {
			return nil
		}
		if modseq > since && (set == nil || set.Contains(uid, maxUID)) {
			uids = append(uids, uid)
		}
		return nil
	})
	if err != nil || len(uids) == 0 {
		return err
	}
	c.w.Raw("* VANISHED (EARLIER) ")
	c.w.RawBytes(appendSeqRanges(nil, uids))
	c.w.CRLF()
	return nil
}

// resync is SELECT's QRESYNC answer (§3.2.5.1), after the usual
// responses: what vanished since the client's MODSEQ, then the FETCH of
// every message that changed.
func (c *conn) resync(q *wire.QResync, info store.MailboxInfo) error {
	if q.UIDValidity != info.UIDValidity {
		return nil // the client's cache is of another mailbox: it starts over
	}
	mb := c.view.Mailbox()
	if err := c.vanishedEarlier(mb, q.KnownUIDs, info.UIDNext-1, q.ModSeq); err != nil {
		return err
	}
	uids := c.view.UIDs()
	for start := 0; start < len(uids); start += fetchBatch {
		metas, err := mb.ReadBatch(uids[start:min(start+fetchBatch, len(uids))], 0)
		if err != nil {
			return err
		}
		for i := range metas {
			m := &metas[i]
			seq := c.view.Seq(m.UID)
			if !m.Found || seq == 0 || m.ModSeq <= q.ModSeq {
				continue
			}
			c.announceKeywords(m.Flags)
			w := c.w
			w.Untagged()
			w.Number(uint64(seq))
			w.Raw(" FETCH (UID ")
			w.Number(uint64(m.UID))
			w.Raw(" FLAGS ")
			writeFlags(w, m.Flags, c.recent(m.UID))
			w.SP()
			c.writeModSeq(m.ModSeq)
			w.Raw(")\r\n")
		}
	}
	return nil
}

// writeVanished writes expunges as QRESYNC wants them: one VANISHED with
// their UIDs.
func (c *conn) writeVanished(ups []store.Update) {
	var uids []uint32
	for _, u := range ups {
		if u.Kind == store.UpdateExpunge {
			uids = append(uids, u.UID)
		}
	}
	if len(uids) == 0 {
		return
	}
	slices.Sort(uids)
	uids = compact(uids)
	c.w.Raw("* VANISHED ")
	c.w.RawBytes(appendSeqRanges(nil, uids))
	c.w.CRLF()
}
