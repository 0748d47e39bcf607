package index

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/storaged/storaged/folder"
)

// METADATA (RFC 5464) entries: the server's in a top-level bucket, a
// mailbox's in a bucket inside the mailbox's own, so that RENAME keeps
// them and DELETE drops them with the mailbox. Names are the full entry
// names ("/private/comment"); values are opaque octets.
var bMeta5464 = []byte("md")

// metadataBucket returns the bucket of mailboxID's entries (0: the
// server's), creating it when create is set; nil when there is none.
func (t *Tx) metadataBucket(mailboxID uint64, create bool) (*bolt.Bucket, error) {
	var parent, b *bolt.Bucket
	if mailboxID == 0 {
		if b = t.tx.Bucket(bMeta5464); b == nil && create {
			return t.tx.CreateBucket(bMeta5464)
		}
		return b, nil
	}
	if parent = t.mbxBucket(mailboxID); parent == nil {
		return nil, fmt.Errorf("index: %w: id %d", folder.ErrNotFound, mailboxID)
	}
	if b = parent.Bucket(bMeta5464); b == nil && create {
		return parent.CreateBucket(bMeta5464)
	}
	return b, nil
}

// Metadata calls fn for every entry of mailboxID (0: the server), in
// name order. The value is valid only inside the transaction.
func (t *Tx) Metadata(mailboxID uint64, fn func(name string, value []byte) error) error {
	b, err := t.metadataBucket(mailboxID, false)
	if err != nil || b == nil {
		return err
	}
	return b.ForEach(func(k, v []byte) error { return fn(string(k), v) })
}

// SetMetadata stores an entry, or removes it when value is nil.
func (t *Tx) SetMetadata(mailboxID uint64, name string, value []byte) error {
	b, err := t.metadataBucket(mailboxID, value != nil)
	if err != nil || b == nil {
		return err
	}
	if value == nil {
		return b.Delete([]byte(name))
	}
	return b.Put([]byte(name), value)
}
