package store

import (
	"context"
	"time"

	"github.com/storaged/storaged/index"
)

// SieveMemory is the account's Sieve memory: vacation replies sent
// (RFC 5230 §4.2, per sender and handle) and message ids seen by the
// duplicate test (RFC 7352). It lives in the account's index, so it
// moves and is backed up with the mail; a rebuilt index forgets it,
// which costs one repeated reply per sender at worst.
type SieveMemory struct {
	a   *Account
	now func() time.Time
}

// Remember is one thing to remember for Period from now.
type Remember struct {
	Key    string
	Period time.Duration
}

// SieveMemory returns the account's Sieve memory.
func (a *Account) SieveMemory() *SieveMemory { return &SieveMemory{a: a, now: time.Now} }

func (m *SieveMemory) remembered(kind index.MemoryKind, key string) (bool, error) {
	var ok bool
	err := m.a.idx.View(func(tx *index.Tx) error {
		ok = tx.Remembered(kind, key, m.now().Unix())
		return nil
	})
	return ok, err
}

// Seen reports whether a duplicate id is remembered; it implements
// sieve.DuplicateTracker.
func (m *SieveMemory) Seen(_ context.Context, key string) (bool, error) {
	return m.remembered(index.MemoryDuplicate, key)
}

// Replied reports whether a vacation reply under key is remembered.
func (m *SieveMemory) Replied(key string) (bool, error) {
	return m.remembered(index.MemoryVacation, key)
}

// Record remembers vacation replies sent and duplicate ids in one
// durable commit. The caller records only after delivery succeeded: a
// message not delivered must not count as seen (RFC 7352 §3.1).
func (m *SieveMemory) Record(vacation, duplicate []Remember) error {
	if len(vacation) == 0 && len(duplicate) == 0 {
		return nil
	}
	now := m.now()
	return m.a.idx.Commit(func(tx *index.Tx) error {
		for _, set := range []struct {
			kind  index.MemoryKind
			marks []Remember
		}{{index.MemoryVacation, vacation}, {index.MemoryDuplicate, duplicate}} {
			for _, r := range set.marks {
				if r.Period <= 0 {
					continue
				}
				if err := tx.Remember(set.kind, r.Key, now.Add(r.Period).Unix(), now.Unix()); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
