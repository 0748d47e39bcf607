package index

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
)

type changedUID struct {
	uid    uint32
	modseq uint64
}

func changedSince(t *testing.T, db *DB, id, since uint64) []changedUID {
	t.Helper()
	var out []changedUID
	err := db.View(func(tx *Tx) error {
		return tx.ChangedSince(id, since, func(uid uint32, ms uint64) error {
			out = append(out, changedUID{uid, ms})
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// walked is what ChangedSince must answer: every record's MODSEQ,
// read the long way.
func walked(t *testing.T, db *DB, id, since uint64) []changedUID {
	t.Helper()
	var out []changedUID
	err := db.View(func(tx *Tx) error {
		return tx.ForEachMessage(id, func(m *Message) error {
			if m.ModSeq > since {
				out = append(out, changedUID{m.UID, m.ModSeq})
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The MODSEQ index follows every append, flag change and expunge, so
// that CHANGEDSINCE through it answers what a walk of the records
// answers, in UID order, for every MODSEQ asked (RFC 7162 §3.1.4.1).
func TestChangedSinceIndex(t *testing.T) {
	db, _ := openTest(t)
	mb := create(t, db, "INBOX")
	var uids []uint32
	for i := range 60 {
		uids = append(uids, add(t, db, mb.ID, fmt.Sprint("k", i), 10, 0).UID)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for step := range 200 {
		uid := uids[r.IntN(len(uids))]
		err := db.Commit(func(tx *Tx) error {
			switch step % 5 {
			case 4:
				_, err := tx.Expunge(mb.ID, []uint32{uid})
				return err
			default:
				_, err := tx.UpdateMessage(mb.ID, uid, folder.Flags{Sys: folder.SysFlags(r.IntN(32))}, fmt.Sprint("n", step))
				return err
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if step%5 == 4 {
			uids = slices.DeleteFunc(uids, func(u uint32) bool { return u == uid })
		}
	}
	// The answers below must come through the MODSEQ index, one key per
	// message, not the walk ChangedSince falls back to without it.
	if err := db.View(func(tx *Tx) error {
		q := tx.mbxBucket(mb.ID).Bucket(bModSeqs)
		if q == nil {
			return fmt.Errorf("no MODSEQ index")
		}
		if n := q.Stats().KeyN; n != len(uids) {
			return fmt.Errorf("MODSEQ index holds %d keys for %d messages", n, len(uids))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	info := mbInfo(t, db, mb.ID)
	for since := uint64(0); since <= info.HighestModSeq+1; since++ {
		got, want := changedSince(t, db, mb.ID, since), walked(t, db, mb.ID, since)
		if !slices.Equal(got, want) {
			t.Fatalf("CHANGEDSINCE %d: index %v, records %v", since, got, want)
		}
	}
}

// An index written before the MODSEQ index existed gets one when it is
// opened, built from its records.
func TestChangedSinceIndexAddedOnOpen(t *testing.T) {
	db, path := openTest(t)
	mb := create(t, db, "INBOX")
	for i := range 10 {
		add(t, db, mb.ID, fmt.Sprint("k", i), 10, 0)
	}
	if err := db.Commit(func(tx *Tx) error {
		_, err := tx.UpdateMessage(mb.ID, 3, folder.Flags{Sys: folder.Seen}, "x")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// As the older index had it: no sub-bucket.
	if err := db.Commit(func(tx *Tx) error { return tx.mbxBucket(mb.ID).DeleteBucket(bModSeqs) }); err != nil {
		t.Fatal(err)
	}
	before := walked(t, db, mb.ID, 10)
	if got := changedSince(t, db, mb.ID, 10); !slices.Equal(got, before) || len(got) != 2 {
		t.Fatalf("without the index: %v, want %v (two messages)", got, before)
	}
	db.Close()
	db, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *Tx) error {
		if tx.mbxBucket(mb.ID).Bucket(bModSeqs) == nil {
			return fmt.Errorf("no MODSEQ index after open")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for since := uint64(0); since <= 12; since++ {
		if got, want := changedSince(t, db, mb.ID, since), walked(t, db, mb.ID, since); !slices.Equal(got, want) {
			t.Fatalf("CHANGEDSINCE %d after open: %v, want %v", since, got, want)
		}
	}
}

func mbInfo(t *testing.T, db *DB, id uint64) Mailbox {
	t.Helper()
	var mb Mailbox
	if err := db.View(func(tx *Tx) (err error) { mb, err = tx.MailboxByID(id); return err }); err != nil {
		t.Fatal(err)
	}
	return mb
}
