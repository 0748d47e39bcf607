package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"

	"github.com/storaged/storaged/folder"
)

// Salvage: what can still be read of an index, for `storaged index
// rebuild` and for the rebuild of a damaged index at open, so that
// messages whose records survive keep their UIDs, flags and keywords.
//
// Invariants:
//   - Nothing here writes: a damaged file is opened read-only (no
//     freelist is rebuilt, which is where bbolt panics beyond recover).
//   - Every bucket is read under its own recover: a bad page loses what
//     lies beyond it in that bucket, never what was read before it nor
//     the other mailboxes. Damaged says that something was lost.
//   - A record that does not decode is left out, never guessed at: its
//     file gets a new UID.

// Salvage is what was read of an index.
type Salvage struct {
	// Mailboxes by name: those whose info record decoded.
	Mailboxes map[string]*SalvagedMailbox
	// Subscriptions, as far as they could be read.
	Subscriptions []string
	// LastUIDValidity is the largest UIDVALIDITY the index handed out
	// (meta), or the largest one its mailboxes show when meta is lost.
	LastUIDValidity uint32
	// Damaged: some page or record could not be read.
	Damaged bool
}

// SalvagedMailbox is one mailbox's readable state.
type SalvagedMailbox struct {
	Info Mailbox
	// Messages by folder key.
	Messages map[string]Message
	// Tombstones: expunged UID → MODSEQ of the expunge.
	Tombstones map[uint32]uint64
	// MaxUID and MaxModSeq are the largest UID and MODSEQ seen in any
	// record or tombstone, whatever the info record says.
	MaxUID    uint32
	MaxModSeq uint64
	// Damaged: some of this mailbox's pages or records were lost.
	Damaged bool
}

// SalvageFile reads what it can of the index at path. It fails only
// when the file cannot be opened at all as an index (not a bbolt file,
// both meta pages bad, held by another process: ErrLocked); then
// nothing of it can be kept.
func SalvageFile(path string, lockWait time.Duration) (s *Salvage, err error) {
	defer func() {
		if p := recover(); p != nil {
			s, err = nil, fmt.Errorf("index: %s: %w: %v", path, errCorrupt, p)
		}
	}()
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("index: %w", err)
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: lockWait})
	if err != nil {
		if errors.Is(err, bolterr.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, path)
		}
		return nil, fmt.Errorf("index: open %s: %w", path, err)
	}
	defer b.Close()
	s = &Salvage{Mailboxes: map[string]*SalvagedMailbox{}}
	err = b.View(func(btx *bolt.Tx) error {
		salvageTx(btx, s, 0)
		return nil
	})
	return s, err
}

// SalvageMailbox reads what it can of one mailbox of an open index.
func (db *DB) SalvageMailbox(id uint64) (*SalvagedMailbox, error) {
	s := &Salvage{Mailboxes: map[string]*SalvagedMailbox{}}
	err := db.bolt.View(func(btx *bolt.Tx) error {
		salvageTx(btx, s, id)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, m := range s.Mailboxes {
		return m, nil
	}
	return nil, fmt.Errorf("index: mailbox %d: no readable record", id)
}

// salvageTx fills s from btx: every mailbox, or only the one with id
// when id is not 0.
func salvageTx(btx *bolt.Tx, s *Salvage, only uint64) {
	lost := func() { s.Damaged = true }
	guard(lost, func() {
		if meta := btx.Bucket(bMeta); meta != nil {
			if v := meta.Get(kUIDValidity); len(v) == 8 {
				s.LastUIDValidity = uint32(binary.BigEndian.Uint64(v))
			}
		}
	})
	if only == 0 {
		guard(lost, func() {
			if subs := btx.Bucket(bSubs); subs != nil {
				c := subs.Cursor()
				for k, _ := c.First(); k != nil; k, _ = c.Next() {
					s.Subscriptions = append(s.Subscriptions, string(k))
				}
			}
		})
	}
	// The mailboxes are found through mbx/, not names/: the info record
	// carries the name, so a lost names/ page loses nothing.
	var ids []uint64
	guard(lost, func() {
		mbx := btx.Bucket(bMbx)
		if mbx == nil {
			s.Damaged = true
			return
		}
		c := mbx.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if v == nil && len(k) == 8 {
				ids = append(ids, binary.BigEndian.Uint64(k))
			}
		}
	})
	for _, id := range ids {
		if only != 0 && id != only {
			continue
		}
		var sm *SalvagedMailbox
		guard(lost, func() { sm = salvageMailbox(btx.Bucket(bMbx).Bucket(idKey(id)), id) })
		if sm == nil {
			continue
		}
		if sm.Damaged {
			s.Damaged = true
		}
		s.LastUIDValidity = max(s.LastUIDValidity, sm.Info.UIDValidity)
		if prev, dup := s.Mailboxes[sm.Info.Name]; dup && prev.Info.ID > id {
			continue
		}
		s.Mailboxes[sm.Info.Name] = sm
	}
}

// salvageMailbox reads one mailbox bucket; nil when its info record is
// lost (the messages cannot be placed without the mailbox's name).
func salvageMailbox(b *bolt.Bucket, id uint64) *SalvagedMailbox {
	if b == nil {
		return nil
	}
	sm := &SalvagedMailbox{Messages: map[string]Message{}, Tombstones: map[uint32]uint64{}}
	if err := decodeMailbox(id, b.Get(kInfo), &sm.Info); err != nil || sm.Info.Name == "" {
		return nil
	}
	lost := func() { sm.Damaged = true }
	guard(lost, func() {
		msgs := b.Bucket(bMsgs)
		if msgs == nil {
			sm.Damaged = true
			return
		}
		c := msgs.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != 4 {
				sm.Damaged = true
				continue
			}
			var m Message
			uid := binary.BigEndian.Uint32(k)
			if uid == 0 || decodeMessage(uid, v, &m) != nil || m.Key == "" {
				sm.Damaged = true
				continue
			}
			sm.MaxUID, sm.MaxModSeq = max(sm.MaxUID, uid), max(sm.MaxModSeq, m.ModSeq)
			// Two records of one file: the first UID stays, the other
			// is one the file no longer answers to.
			if prev, dup := sm.Messages[m.Key]; dup && prev.UID < uid {
				sm.Damaged = true
				continue
			}
			sm.Messages[m.Key] = m
		}
	})
	guard(lost, func() {
		tombs := b.Bucket(bTombs)
		if tombs == nil {
			return
		}
		c := tombs.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) != 4 {
				sm.Damaged = true
				continue
			}
			uid := binary.BigEndian.Uint32(k)
			ms, _ := binary.Uvarint(v)
			sm.Tombstones[uid] = ms
			sm.MaxUID, sm.MaxModSeq = max(sm.MaxUID, uid), max(sm.MaxModSeq, ms)
		}
	})
	return sm
}

// guard runs fn and turns a bbolt panic (a page of the wrong kind, a
// pointer past the end) into a call of lost.
func guard(lost func(), fn func()) {
	defer func() {
		if p := recover(); p != nil {
			lost()
		}
	}()
	fn()
}

// ResetMailbox empties a mailbox for a rebuild, keeping its id (and so
// its sessions' handles), name, special use, subscriptions and METADATA:
// every message record, key and cached structure goes, the counters and
// the user's totals drop accordingly. The caller then adds the messages
// again (AddMessageUID, AddMessage) in the same transaction.
//
// uidValidity 0 takes a new UIDVALIDITY (greater than any this DB gave)
// and drops the tombstones; the mailbox's own keeps them, and tombs are
// added to them. uidNext and highestModSeq only raise the mailbox's
// values. It returns the mailbox as it now is.
func (t *Tx) ResetMailbox(id uint64, uidValidity, uidNext uint32, highestModSeq uint64, tombs map[uint32]uint64) (Mailbox, error) {
	b := t.mbxBucket(id)
	if b == nil {
		return Mailbox{}, fmt.Errorf("index: %w: id %d", folder.ErrNotFound, id)
	}
	mb, err := t.mailboxByID(id, "")
	if err != nil {
		return Mailbox{}, err
	}
	if err := t.addTotals(-int64(mb.Messages), -mb.Size); err != nil {
		return Mailbox{}, err
	}
	t.forget()
	b = t.mbxBucket(id)
	drop := [][]byte{bMsgs, bKeys, bEnv, bBody, bModSeqs}
	if uidValidity != mb.UIDValidity {
		drop = append(drop, bTombs)
	}
	for _, n := range drop {
		if err := b.DeleteBucket(n); err != nil && !errors.Is(err, bolterr.ErrBucketNotFound) {
			return Mailbox{}, err
		}
		if _, err := b.CreateBucket(n); err != nil {
			return Mailbox{}, err
		}
	}
	t.forget()
	b = t.mbxBucket(id)
	if uidValidity == 0 {
		if uidValidity, err = t.newUIDValidity(); err != nil {
			return Mailbox{}, err
		}
		mb.UIDNext, mb.HighestModSeq = 1, 1
	} else if err := t.RaiseUIDValidity(uidValidity); err != nil {
		return Mailbox{}, err
	}
	tb := b.Bucket(bTombs)
	for uid, ms := range tombs {
		if err := tb.Put(uidKey(uid), binary.AppendUvarint(nil, ms)); err != nil {
			return Mailbox{}, err
		}
		highestModSeq = max(highestModSeq, ms)
		uidNext = max(uidNext, uid+1)
	}
	if uidValidity != mb.UIDValidity {
		mb.UIDNext, mb.RecentUID = 0, 0
	}
	mb.UIDValidity = uidValidity
	mb.UIDNext = max(mb.UIDNext, uidNext, 1)
	mb.HighestModSeq = max(mb.HighestModSeq, highestModSeq, 1)
	mb.RecentUID = max(mb.RecentUID, 1)
	mb.Messages, mb.Unseen, mb.Deleted, mb.Size = 0, 0, 0, 0
	return mb, t.putInfo(&mb)
}
