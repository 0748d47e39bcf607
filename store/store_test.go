package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/index"
)

func openAccount(t *testing.T, dir string) (*Accounts, *Account) {
	t.Helper()
	accts := NewAccounts(Options{MailDir: filepath.Join(dir, "mail"), IndexDir: filepath.Join(dir, "index"), LockWait: time.Second})
	acct, err := accts.Open(context.Background(), "u")
	if err != nil {
		t.Fatal(err)
	}
	return accts, acct
}

func msg(i int) []byte {
	return []byte(fmt.Sprintf("From: a@example.org\r\nSubject: m%d\r\n\r\nbody %d\r\n", i, i))
}

func all(t *testing.T, a *Account, name string) (index.Mailbox, []index.Message) {
	t.Helper()
	var mb index.Mailbox
	var out []index.Message
	err := a.idx.View(func(tx *index.Tx) error {
		var err error
		if mb, err = tx.Mailbox(name); err != nil {
			return err
		}
		return tx.ForEachMessage(mb.ID, func(m *index.Message) error { out = append(out, *m); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return mb, out
}

func TestNewAccountHasDefaults(t *testing.T) {
	_, a := openAccount(t, t.TempDir())
	var names []string
	var uses []string
	a.idx.View(func(tx *index.Tx) error {
		mbs, _ := tx.Mailboxes()
		for _, mb := range mbs {
			names = append(names, mb.Name)
			uses = append(uses, mb.SpecialUse)
		}
		if len(tx.Subscriptions()) != 6 {
			t.Errorf("subscriptions %v", tx.Subscriptions())
		}
		return nil
	})
	if got := strings.Join(names, ","); got != "Archive,Drafts,INBOX,Junk,Sent,Trash" {
		t.Fatalf("mailboxes %s", got)
	}
	if got := strings.Join(uses, ","); got != `\Archive,\Drafts,,\Junk,\Sent,\Trash` {
		t.Fatalf("special use %s", got)
	}
}

// Appends and syncs racing on one mailbox never give a message two UIDs
// and never lose one.
func TestAppendRacesSync(t *testing.T) {
	_, a := openAccount(t, t.TempDir())
	mb, err := a.Mailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sub := a.Hub().Subscribe(mb.ID())
	defer sub.Close()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				if err := mb.Sync(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	const workers, each = 6, 40
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if _, err := mb.Append(ctx, msg(w*1000+i), AppendOptions{}); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(stop)
	if err := mb.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	info, msgs := all(t, a, "INBOX")
	if len(msgs) != workers*each || int(info.Messages) != workers*each || info.UIDNext != workers*each+1 {
		t.Fatalf("%d messages, info %+v", len(msgs), info)
	}
	events, overflow := sub.Take()
	added := 0
	for _, e := range events {
		if e.Kind == Added {
			added += len(e.UIDs)
		}
	}
	if overflow || added != workers*each {
		t.Fatalf("hub: %d added events, overflow %v", added, overflow)
	}
}

func TestFlagsWriteThrough(t *testing.T) {
	dir := t.TempDir()
	_, a := openAccount(t, dir)
	mb, _ := a.Mailbox("INBOX")
	ctx := context.Background()
	var uids []uint32
	for i := 0; i < 3; i++ {
		r, err := mb.Append(ctx, msg(i), AppendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, r.UID)
	}
	_, before := all(t, a, "INBOX")
	got, err := mb.StoreFlags(ctx, uids[:2], FlagsAdd, folder.Flags{Sys: folder.Seen | folder.Flagged, Keywords: []string{"$Label1"}}, nil)
	if err != nil || len(got) != 2 {
		t.Fatalf("StoreFlags: %v %v", got, err)
	}
	info, after := all(t, a, "INBOX")
	if info.Unseen != 1 || after[0].ModSeq <= before[2].ModSeq {
		t.Fatalf("after store: %+v %+v", info, after)
	}
	// Another Maildir reader sees the flags in the file name.
	ents, _ := os.ReadDir(filepath.Join(dir, "mail", "u", "cur"))
	if len(ents) != 2 {
		t.Fatalf("cur/ has %d files", len(ents))
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ":2,FSa") {
			t.Errorf("file %s lacks flags", e.Name())
		}
	}
	// Removing them again; a no-op store changes nothing.
	if got, _ := mb.StoreFlags(ctx, uids[:1], FlagsRemove, folder.Flags{Sys: folder.Flagged}, nil); len(got) != 1 || got[0].Flags.Sys != folder.Seen {
		t.Fatalf("remove: %+v", got)
	}
	if got, _ := mb.StoreFlags(ctx, uids[:1], FlagsAdd, folder.Flags{Sys: folder.Seen}, nil); len(got) != 0 {
		t.Fatalf("no-op store changed %+v", got)
	}
	// A sync right after our own renames must not undo them.
	if err := mb.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	_, synced := all(t, a, "INBOX")
	if synced[0].Flags.Sys != folder.Seen || synced[1].Flags.Sys != folder.Seen|folder.Flagged {
		t.Fatalf("sync undid flags: %+v", synced)
	}
}

func TestExpunge(t *testing.T) {
	dir := t.TempDir()
	_, a := openAccount(t, dir)
	mb, _ := a.Mailbox("INBOX")
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		if _, err := mb.Append(ctx, msg(i), AppendOptions{Flags: folder.Flags{Sys: folder.Deleted}}); err != nil {
			t.Fatal(err)
		}
	}
	gone, err := mb.Expunge(ctx, []uint32{2, 3, 9}, nil)
	if err != nil || fmt.Sprint(gone) != "[2 3]" {
		t.Fatalf("Expunge: %v %v", gone, err)
	}
	info, msgs := all(t, a, "INBOX")
	if len(msgs) != 2 || info.Deleted != 2 {
		t.Fatalf("after expunge %+v", info)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "mail", "u", "cur"))
	if len(ents) != 2 {
		t.Fatalf("%d files left", len(ents))
	}
	var n int64
	a.idx.View(func(tx *index.Tx) error { n, _ = tx.Totals(); return nil })
	if n != 2 {
		t.Fatalf("user totals %d", n)
	}
}

func TestCreateMailboxWithParents(t *testing.T) {
	_, a := openAccount(t, t.TempDir())
	if err := a.CreateMailbox("Lists/go/nuts", ""); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"Lists", "Lists/go", "Lists/go/nuts"} {
		if _, err := a.Mailbox(n); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if err := a.CreateMailbox("Lists/go/nuts", ""); err == nil {
		t.Fatal("created twice")
	}
	if err := a.CreateMailbox("../escape", ""); err == nil {
		t.Fatal("hostile name accepted")
	}
}
