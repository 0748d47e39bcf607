package index

import (
	"encoding/binary"
	"fmt"

	"github.com/storaged/storaged/folder"
)

// ForEachUIDFrom calls fn for every message UID at or above from, in
// ascending order, without visiting the ones below.
func (t *Tx) ForEachUIDFrom(mailboxID uint64, from uint32, fn func(uid uint32) error) error {
	b := t.mbxBucket(mailboxID)
	if b == nil {
		return fmt.Errorf("index: %w: id %d", folder.ErrNotFound, mailboxID)
	}
	c := b.Bucket(bMsgs).Cursor()
	for k, _ := c.Seek(uidKey(from)); k != nil; k, _ = c.Next() {
		if err := fn(binary.BigEndian.Uint32(k)); err != nil {
			return err
		}
	}
	return nil
}
