package index

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterr "go.etcd.io/bbolt/errors"
)

// probeFile opens path read-only (no freelist is rebuilt then) and walks
// it; a file another process holds is ErrLocked.
func probeFile(path string, lockWait time.Duration) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("index: %s: %w: %v", path, errCorrupt, p)
		}
	}()
	b, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: lockWait})
	if err != nil {
		if errors.Is(err, bolterr.ErrTimeout) {
			return fmt.Errorf("%w: %s", ErrLocked, path)
		}
		return fmt.Errorf("index: open %s: %w", path, err)
	}
	defer b.Close()
	if err := probe(b); err != nil {
		return fmt.Errorf("index: %s: %w", path, err)
	}
	return nil
}

// probe walks every bucket and key of the file in a read transaction and
// turns a bbolt panic (a page of the wrong kind, a pointer past the end)
// into errCorrupt.
func probe(b *bolt.DB) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errCorrupt, p)
		}
	}()
	return b.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(_ []byte, bk *bolt.Bucket) error { return walk(bk, 0) })
	})
}

// walk visits a bucket's keys and its nested buckets.
func walk(bk *bolt.Bucket, depth int) error {
	if depth > 8 {
		return fmt.Errorf("%w: buckets nested too deep", errCorrupt)
	}
	c := bk.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			if nb := bk.Bucket(k); nb != nil {
				if err := walk(nb, depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// safeUpdate is bolt's Update with a panic turned into errCorrupt.
func safeUpdate(b *bolt.DB, fn func(*bolt.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", errCorrupt, p)
		}
	}()
	return b.Update(fn)
}
