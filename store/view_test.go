package store

import (
	"context"
	"testing"
	"time"

	"github.com/storaged/storaged/index"
)

// Two appends may publish in the other order than they committed: a view
// that hears of UID 3 first must still show UID 2, before it (sequence
// numbers follow UIDs).
func TestViewAddsInUIDOrder(t *testing.T) {
	dir := t.TempDir()
	accts, a := openAccount(t, dir)
	defer accts.Close()
	mb, err := a.Mailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mb.Append(context.Background(), msg(1), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	v, err := mb.OpenView(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	// Index two messages as appends do, and publish only the later one.
	var uids []uint32
	err = a.idx.Commit(func(tx *index.Tx) error {
		uids = uids[:0]
		for _, k := range []string{"k2", "k3"} {
			rec, err := tx.AddMessage(mb.id, index.NewMessage{Key: k, Name: k, InternalDate: time.Now(), Size: 10, CRLFSize: 10})
			if err != nil {
				return err
			}
			uids = append(uids, rec.UID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	a.hub.Publish(Event{Mailbox: mb.id, Kind: Added, UIDs: uids[1:]})
	ups, err := v.Updates(true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) == 0 || ups[0].Kind != UpdateExists || ups[0].Count != 3 {
		t.Fatalf("updates %+v, want EXISTS 3", ups)
	}
	if v.Seq(uids[0]) != 2 || v.Seq(uids[1]) != 3 {
		t.Fatalf("seqs %d %d, want 2 3", v.Seq(uids[0]), v.Seq(uids[1]))
	}
	// The late event for UID 2 changes nothing.
	a.hub.Publish(Event{Mailbox: mb.id, Kind: Added, UIDs: uids[:1]})
	if ups, err := v.Updates(true); err != nil || len(ups) != 0 {
		t.Fatalf("late event: %+v %v", ups, err)
	}
}
