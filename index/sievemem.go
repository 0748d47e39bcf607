package index

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// Sieve's response memory (vacation, RFC 5230 §4.2) and duplicate
// memory (RFC 7352 §3): keys the caller hashed, each with the Unix time
// it expires, in one top-level bucket. Keys are prefixed by their kind
// so the two never meet. A pruning pass drops the expired entries at
// most once an hour, so a delivery does not walk the whole bucket.
var (
	bSieveMem = []byte("sv")
	kPruned   = []byte("\x00pruned")
)

// MemoryKind tells vacation replies from duplicate ids.
type MemoryKind byte

const (
	MemoryVacation  MemoryKind = 'v'
	MemoryDuplicate MemoryKind = 'd'
)

// maxSieveMemory bounds the entries kept; past it the pruning pass
// drops those closest to expiry first.
const maxSieveMemory = 20000

func memKey(kind MemoryKind, key string) []byte {
	return append([]byte{byte(kind), 0}, key...)
}

// Remembered reports whether key of kind is remembered at now (Unix
// seconds).
func (t *Tx) Remembered(kind MemoryKind, key string, now int64) bool {
	b := t.tx.Bucket(bSieveMem)
	if b == nil {
		return false
	}
	v := b.Get(memKey(kind, key))
	return len(v) == 8 && int64(binary.BigEndian.Uint64(v)) > now
}

// Remember keeps key of kind until expires (Unix seconds), and prunes
// when the last pass is an hour old.
func (t *Tx) Remember(kind MemoryKind, key string, expires, now int64) error {
	b, err := t.tx.CreateBucketIfNotExists(bSieveMem)
	if err != nil {
		return err
	}
	if err := b.Put(memKey(kind, key), binary.BigEndian.AppendUint64(nil, uint64(expires))); err != nil {
		return err
	}
	if v := b.Get(kPruned); len(v) == 8 && int64(binary.BigEndian.Uint64(v)) > now-3600 {
		return nil
	}
	return pruneMemory(b, now)
}

func pruneMemory(b *bolt.Bucket, now int64) error {
	type entry struct {
		key []byte
		exp int64
	}
	var live []entry
	var dead [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if bytes.Equal(k, kPruned) {
			continue
		}
		exp := int64(-1)
		if len(v) == 8 {
			exp = int64(binary.BigEndian.Uint64(v))
		}
		if exp <= now {
			dead = append(dead, append([]byte(nil), k...))
		} else {
			live = append(live, entry{append([]byte(nil), k...), exp})
		}
	}
	if over := len(live) - maxSieveMemory; over > 0 {
		// Oldest-expiring first: a forgotten entry costs one repeated
		// reply or one duplicate let through, the least useful ones.
		slices.SortFunc(live, func(a, b entry) int { return cmp.Compare(a.exp, b.exp) })
		for _, e := range live[:over] {
			dead = append(dead, e.key)
		}
	}
	for _, k := range dead {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return b.Put(kPruned, binary.BigEndian.AppendUint64(nil, uint64(now)))
}
