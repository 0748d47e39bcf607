package index

import (
	"encoding/binary"
	"fmt"

	"github.com/storaged/storaged/folder"
)

// ChangedSince calls fn for every message whose MODSEQ is above modseq,
// in UID order. It decodes only the head of each record (version, flags,
// MODSEQ: the order encodeMessage writes them), so that CONDSTORE's
// CHANGEDSINCE over a large mailbox costs a cursor walk, not a decode of
// every message.
func (t *Tx) ChangedSince(mailboxID uint64, modseq uint64, fn func(uid uint32, modseq uint64) error) error {
	b := t.mbxBucket(mailboxID)
	if b == nil {
		return fmt.Errorf("index: %w: id %d", folder.ErrNotFound, mailboxID)
	}
	c := b.Bucket(bMsgs).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(v) < 3 || !knownMessageVersion(v[0]) {
			return fmt.Errorf("%w: message %d version", errCorrupt, binary.BigEndian.Uint32(k))
		}
		ms, n := binary.Uvarint(v[2:])
		if n <= 0 {
			return fmt.Errorf("%w: message %d modseq", errCorrupt, binary.BigEndian.Uint32(k))
		}
		if ms > modseq {
			if err := fn(binary.BigEndian.Uint32(k), ms); err != nil {
				return err
			}
		}
	}
	return nil
}
