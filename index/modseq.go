package index

import (
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/storaged/storaged/folder"
)

// The MODSEQ index (RFC 7162 §3.1.4.1: CHANGEDSINCE returns only what
// changed): each mailbox bucket holds a sub-bucket bModSeqs whose keys
// are MODSEQ (8 octets) then UID (4 octets), big-endian, empty values:
// one key per message, its current MODSEQ. A CHANGEDSINCE seeks to the
// MODSEQ and reads what follows, instead of walking every message.
//
// Invariants:
//   - Whoever writes a message record with a new MODSEQ replaces the
//     message's key here in the same transaction (addMessage,
//     UpdateMessage), and Expunge deletes it: the keys are exactly the
//     messages, each under the MODSEQ its record holds.
//   - A mailbox without the sub-bucket (an index written before it
//     existed) is answered by walking the records; Open adds the
//     sub-bucket to such mailboxes, so that is only for a read-only open.
var bModSeqs = []byte("q")

func modSeqKey(modseq uint64, uid uint32) []byte {
	k := make([]byte, 12)
	binary.BigEndian.PutUint64(k, modseq)
	binary.BigEndian.PutUint32(k[8:], uid)
	return k
}

// putModSeq records uid under modseq, dropping its key under old (0: it
// had none).
func putModSeq(mbx *bolt.Bucket, old, modseq uint64, uid uint32) error {
	q := mbx.Bucket(bModSeqs)
	if q == nil {
		return nil // a mailbox of an older index, not yet given one
	}
	if old != 0 {
		if err := q.Delete(modSeqKey(old, uid)); err != nil {
			return err
		}
	}
	return q.Put(modSeqKey(modseq, uid), nil)
}

func dropModSeq(mbx *bolt.Bucket, modseq uint64, uid uint32) error {
	if q := mbx.Bucket(bModSeqs); q != nil {
		return q.Delete(modSeqKey(modseq, uid))
	}
	return nil
}

// addModSeqIndexes gives every mailbox that lacks one its MODSEQ index,
// from its records: once, when an index written before it is opened.
func addModSeqIndexes(tx *bolt.Tx) error {
	mbx := tx.Bucket(bMbx)
	var ids [][]byte
	err := mbx.ForEach(func(k, v []byte) error {
		if v == nil && mbx.Bucket(k).Bucket(bModSeqs) == nil {
			ids = append(ids, slices.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range ids {
		b := mbx.Bucket(id)
		q, err := b.CreateBucket(bModSeqs)
		if err != nil {
			return err
		}
		msgs := b.Bucket(bMsgs)
		if msgs == nil {
			continue
		}
		c := msgs.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			ms, err := recordModSeq(k, v)
			if err != nil {
				return err
			}
			if err := q.Put(modSeqKey(ms, binary.BigEndian.Uint32(k)), nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// recordModSeq reads the MODSEQ from the head of a message record
// (version, flags, MODSEQ: the order encodeMessage writes them).
func recordModSeq(k, v []byte) (uint64, error) {
	if len(v) < 3 || !knownMessageVersion(v[0]) {
		return 0, fmt.Errorf("%w: message %d version", errCorrupt, binary.BigEndian.Uint32(k))
	}
	ms, n := binary.Uvarint(v[2:])
	if n <= 0 {
		return 0, fmt.Errorf("%w: message %d modseq", errCorrupt, binary.BigEndian.Uint32(k))
	}
	return ms, nil
}

// ChangedSince calls fn for every message whose MODSEQ is above modseq,
// in UID order.
func (t *Tx) ChangedSince(mailboxID uint64, modseq uint64, fn func(uid uint32, modseq uint64) error) error {
	b := t.mbxBucket(mailboxID)
	if b == nil {
		return fmt.Errorf("index: %w: id %d", folder.ErrNotFound, mailboxID)
	}
	if q := b.Bucket(bModSeqs); q != nil {
		type change struct {
			uid    uint32
			modseq uint64
		}
		var changed []change
		c := q.Cursor()
		for k, _ := c.Seek(modSeqKey(modseq+1, 0)); k != nil; k, _ = c.Next() {
			if len(k) != 12 {
				return fmt.Errorf("%w: modseq key %x", errCorrupt, k)
			}
			changed = append(changed, change{binary.BigEndian.Uint32(k[8:]), binary.BigEndian.Uint64(k)})
		}
		slices.SortFunc(changed, func(a, b change) int { return int(a.uid) - int(b.uid) })
		for _, ch := range changed {
			if err := fn(ch.uid, ch.modseq); err != nil {
				return err
			}
		}
		return nil
	}
	c := b.Bucket(bMsgs).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		ms, err := recordModSeq(k, v)
		if err != nil {
			return err
		}
		if ms > modseq {
			if err := fn(binary.BigEndian.Uint32(k), ms); err != nil {
				return err
			}
		}
	}
	return nil
}
