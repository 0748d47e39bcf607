package index

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
)

func openTest(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "index.db")
	db, err := Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func create(t *testing.T, db *DB, name string) Mailbox {
	t.Helper()
	var mb Mailbox
	err := db.Commit(func(tx *Tx) (err error) {
		mb, err = tx.CreateMailbox(name, "")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

func add(t *testing.T, db *DB, id uint64, key string, size int64, flags folder.SysFlags) Message {
	t.Helper()
	var m Message
	err := db.Commit(func(tx *Tx) (err error) {
		m, err = tx.AddMessage(id, NewMessage{Key: key, Name: "new/" + key, Size: size, CRLFSize: size + 2,
			Flags: folder.Flags{Sys: flags}, InternalDate: time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600)),
			Envelope: []byte("env-" + key)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mailbox(t *testing.T, db *DB, name string) Mailbox {
	t.Helper()
	var mb Mailbox
	if err := db.View(func(tx *Tx) (err error) { mb, err = tx.Mailbox(name); return err }); err != nil {
		t.Fatal(err)
	}
	return mb
}

func TestMessagesAndCounters(t *testing.T) {
	db, path := openTest(t)
	mb := create(t, db, "INBOX")
	if mb.UIDValidity == 0 || mb.UIDNext != 1 {
		t.Fatalf("new mailbox %+v", mb)
	}
	m1 := add(t, db, mb.ID, "a", 100, 0)
	m2 := add(t, db, mb.ID, "b", 200, folder.Seen)
	m3 := add(t, db, mb.ID, "c", 300, folder.Deleted)
	if m1.UID != 1 || m2.UID != 2 || m3.UID != 3 || !(m1.ModSeq < m2.ModSeq && m2.ModSeq < m3.ModSeq) {
		t.Fatalf("uids/modseqs: %+v %+v %+v", m1, m2, m3)
	}
	// Adding the same key again is idempotent.
	if again := add(t, db, mb.ID, "a", 100, 0); again.UID != 1 {
		t.Fatalf("re-add gave uid %d", again.UID)
	}
	got := mailbox(t, db, "INBOX")
	if got.Messages != 3 || got.Unseen != 2 || got.Deleted != 1 || got.Size != 606 || got.UIDNext != 4 {
		t.Fatalf("counters %+v", got)
	}
	var upd Message
	err := db.Commit(func(tx *Tx) (err error) {
		upd, err = tx.UpdateMessage(mb.ID, 1, folder.Flags{Sys: folder.Seen, Keywords: []string{"b", "A", "a"}}, "cur/a:2,S")
		return err
	})
	if err != nil || upd.ModSeq <= m3.ModSeq || len(upd.Flags.Keywords) != 2 {
		t.Fatalf("update %+v %v", upd, err)
	}
	var gone []uint32
	err = db.Commit(func(tx *Tx) (err error) { gone, err = tx.Expunge(mb.ID, []uint32{3, 2, 99}); return err })
	if err != nil || len(gone) != 2 {
		t.Fatalf("expunge %v %v", gone, err)
	}
	// The UID is never handed out again.
	if m4 := add(t, db, mb.ID, "c", 1, 0); m4.UID != 4 {
		t.Fatalf("after expunge got uid %d, want 4", m4.UID)
	}
	db.Close()
	db, err = Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got = mailbox(t, db, "INBOX")
	if got.Messages != 2 || got.Unseen != 1 || got.UIDNext != 5 || got.HighestModSeq <= upd.ModSeq {
		t.Fatalf("after reopen %+v", got)
	}
	var tombs []uint32
	db.View(func(tx *Tx) error {
		if n, b := tx.Totals(); n != 2 || b != 102+1+2 {
			t.Errorf("totals %d %d", n, b)
		}
		if string(tx.Envelope(mb.ID, 1)) != "env-a" || tx.Envelope(mb.ID, 2) != nil {
			t.Error("envelope cache wrong")
		}
		m, ok, err := tx.Message(mb.ID, 1)
		if !ok || err != nil || m.Name != "cur/a:2,S" || m.InternalDate.Format(time.RFC3339) != "2024-01-02T03:04:05+01:00" {
			t.Errorf("message 1: %+v %v", m, err)
		}
		return tx.Tombstones(mb.ID, func(uid uint32, _ uint64) error { tombs = append(tombs, uid); return nil })
	})
	if fmt.Sprint(tombs) != "[2 3]" {
		t.Fatalf("tombstones %v", tombs)
	}
}

func TestMailboxOps(t *testing.T) {
	db, _ := openTest(t)
	a := create(t, db, "A")
	b := create(t, db, "B")
	if b.UIDValidity <= a.UIDValidity {
		t.Fatalf("UIDVALIDITY not increasing: %d then %d", a.UIDValidity, b.UIDValidity)
	}
	err := db.Commit(func(tx *Tx) error { _, err := tx.CreateMailbox("A", ""); return err })
	if !errors.Is(err, folder.ErrExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	add(t, db, a.ID, "x", 10, 0)
	if err := db.Commit(func(tx *Tx) error { return tx.RenameMailbox("A", "C") }); err != nil {
		t.Fatal(err)
	}
	c := mailbox(t, db, "C")
	if c.ID != a.ID || c.Messages != 1 || c.UIDValidity != a.UIDValidity {
		t.Fatalf("renamed %+v", c)
	}
	if err := db.Commit(func(tx *Tx) error { return tx.DeleteMailbox("C") }); err != nil {
		t.Fatal(err)
	}
	a2 := create(t, db, "C")
	if a2.UIDValidity <= b.UIDValidity || a2.ID == a.ID {
		t.Fatalf("re-created mailbox reuses state: %+v", a2)
	}
	db.View(func(tx *Tx) error {
		if n, _ := tx.Totals(); n != 0 {
			t.Errorf("totals after delete = %d", n)
		}
		return nil
	})
}

// Concurrent writers share commits and still get unique, increasing UIDs.
func TestConcurrentCommit(t *testing.T) {
	db, _ := openTest(t)
	mb := create(t, db, "INBOX")
	const workers, each = 8, 50
	var wg sync.WaitGroup
	uids := make(chan uint32, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				var m Message
				err := db.Commit(func(tx *Tx) (err error) {
					m, err = tx.AddMessage(mb.ID, NewMessage{Key: fmt.Sprintf("%d-%d", w, i)})
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				uids <- m.UID
			}
		}(w)
	}
	wg.Wait()
	close(uids)
	seen := map[uint32]bool{}
	for u := range uids {
		if seen[u] {
			t.Fatalf("uid %d twice", u)
		}
		seen[u] = true
	}
	if len(seen) != workers*each {
		t.Fatalf("%d uids", len(seen))
	}
}

// One failing writer in a shared commit fails alone.
func TestCommitFailureIsolated(t *testing.T) {
	db, _ := openTest(t)
	mb := create(t, db, "INBOX")
	var wg sync.WaitGroup
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = db.Commit(func(tx *Tx) error {
				if i%5 == 0 {
					return errors.New("boom")
				}
				_, err := tx.AddMessage(mb.ID, NewMessage{Key: fmt.Sprint(i)})
				return err
			})
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if (i%5 == 0) != (err != nil) {
			t.Fatalf("writer %d: err %v", i, err)
		}
	}
	if got := mailbox(t, db, "INBOX"); got.Messages != 16 {
		t.Fatalf("%d messages, want 16", got.Messages)
	}
}

func TestLocked(t *testing.T) {
	_, path := openTest(t)
	_, err := Open(path, 50*time.Millisecond)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
}
