package index

import (
	"fmt"
	"testing"
)

func memLen(t *testing.T, db *DB) int {
	t.Helper()
	n := 0
	err := db.View(func(tx *Tx) error {
		if b := tx.tx.Bucket(bSieveMem); b != nil {
			n = b.Stats().KeyN - 1 // the pruning mark
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Expired entries are dropped by the hourly pass, not only answered
// false, and the bucket never holds more than maxSieveMemory live ones.
func TestSieveMemoryPrune(t *testing.T) {
	db, _ := openTest(t)
	const t0 = 1_800_000_000
	err := db.Commit(func(tx *Tx) error {
		for i := range maxSieveMemory + 50 {
			if err := tx.Remember(MemoryDuplicate, fmt.Sprint(i), t0+4000+int64(i), t0); err != nil {
				return err
			}
		}
		return tx.Remember(MemoryVacation, "short", t0+5, t0)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := memLen(t, db); n != maxSieveMemory+51 {
		t.Fatalf("%d entries before the next pass", n)
	}
	// Within the hour nothing is walked; after it, the expired "short" and
	// the duplicates closest to expiry go, down to the bound.
	err = db.Commit(func(tx *Tx) error { return tx.Remember(MemoryVacation, "v", t0+7200, t0+1800) })
	if err != nil {
		t.Fatal(err)
	}
	if n := memLen(t, db); n != maxSieveMemory+52 {
		t.Fatalf("pruned within the hour: %d", n)
	}
	err = db.Commit(func(tx *Tx) error { return tx.Remember(MemoryVacation, "w", t0+7200, t0+3601) })
	if err != nil {
		t.Fatal(err)
	}
	if n := memLen(t, db); n != maxSieveMemory {
		t.Fatalf("%d entries after pruning, want %d", n, maxSieveMemory)
	}
	err = db.View(func(tx *Tx) error {
		if tx.Remembered(MemoryVacation, "short", t0) || tx.Remembered(MemoryDuplicate, "0", t0) {
			return fmt.Errorf("pruned entries still answered")
		}
		if !tx.Remembered(MemoryVacation, "v", t0+3601) || !tx.Remembered(MemoryDuplicate, fmt.Sprint(maxSieveMemory+49), t0+3601) {
			return fmt.Errorf("live entries lost")
		}
		if tx.Remembered(MemoryDuplicate, "v", t0+3601) {
			return fmt.Errorf("kinds mixed")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
