package index

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// Given UIDs never reuse one: not a live message's, not a tombstone's.
func TestAddMessageUID(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "index.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var id uint64
	err = db.Commit(func(tx *Tx) error {
		mb, err := tx.CreateMailbox("INBOX", "")
		id = mb.ID
		if err != nil {
			return err
		}
		if err := tx.SetUIDs(id, 77, 10); err != nil {
			return err
		}
		if _, err := tx.AddMessageUID(id, 4, NewMessage{Key: "a"}); err != nil {
			return err
		}
		if _, err := tx.AddMessageUID(id, 12, NewMessage{Key: "b"}); err != nil {
			return err
		}
		if _, err := tx.AddMessageUID(id, 4, NewMessage{Key: "c"}); !errors.Is(err, ErrUIDTaken) {
			t.Errorf("live UID given twice: %v", err)
		}
		if _, err := tx.Expunge(id, []uint32{12}); err != nil {
			return err
		}
		if _, err := tx.AddMessageUID(id, 12, NewMessage{Key: "d"}); !errors.Is(err, ErrUIDTaken) {
			t.Errorf("expunged UID given again: %v", err)
		}
		if err := tx.SetUIDs(id, 78, 1); !errors.Is(err, ErrNotEmpty) {
			t.Errorf("SetUIDs on a non-empty mailbox: %v", err)
		}
		m, err := tx.AddMessage(id, NewMessage{Key: "e", POP3UIDL: "x1"})
		if err != nil || m.UID != 13 {
			t.Errorf("next UID %d, %v", m.UID, err)
		}
		got, _, _ := tx.Message(id, 13)
		if got.POP3UIDL != "x1" {
			t.Errorf("POP3UIDL %q", got.POP3UIDL)
		}
		mb, _ = tx.MailboxByID(id)
		if mb.UIDValidity != 77 || tx.LastUIDValidity() < 77 {
			t.Errorf("UIDVALIDITY %d, last %d", mb.UIDValidity, tx.LastUIDValidity())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
