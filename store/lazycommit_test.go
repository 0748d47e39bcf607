package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/storaged/storaged/index"
)

// An early append returns with its file durable and its index commit to
// come; whoever looks (Sync, Info, Snapshot) has the commit made first,
// the timer makes it when no one looks, and the account's close makes it
// at shutdown. Until then the file is pending: a Sync never adopts it.
func TestEarlyAppendCommits(t *testing.T) {
	dir := t.TempDir()
	accts, a := openAccount(t, dir)
	a.lazy.delay = time.Hour // the timer is tested below, with its own delay
	inbox, err := a.Mailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := inbox.Append(ctx, msg(1), AppendOptions{Early: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.UID != 0 {
		t.Errorf("early append answered with UID %d before its commit", res.UID)
	}
	if _, msgs := all(t, a, "INBOX"); len(msgs) != 0 {
		t.Fatalf("index holds %d messages before anyone looked: the commit did not wait", len(msgs))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "mail", "u", "new", "*"))
	if len(files) != 1 {
		t.Fatalf("%d files in new/ after the answer, want 1", len(files))
	}
	// A Sync looks: the commit is made before it scans, so the file is
	// indexed once, by the commit, not adopted by the scan.
	if err := inbox.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	_, msgs := all(t, a, "INBOX")
	if len(msgs) != 1 || msgs[0].UID != 1 {
		t.Fatalf("after Sync: %+v, want one message, UID 1", msgs)
	}

	// Info looks too.
	if _, err := inbox.Append(ctx, msg(2), AppendOptions{Early: true}); err != nil {
		t.Fatal(err)
	}
	if info, err := inbox.Info(); err != nil || info.Messages != 2 {
		t.Fatalf("Info after an early append: %+v %v, want 2 messages", info, err)
	}

	// No one looks: the timer commits.
	a.lmu.Lock()
	a.lazy.delay = 50 * time.Millisecond
	a.lmu.Unlock()
	if _, err := inbox.Append(ctx, msg(3), AppendOptions{Early: true}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, msgs := all(t, a, "INBOX"); len(msgs) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no commit 30s after an early append no one looked at")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The close commits what waits.
	if _, err := inbox.Append(ctx, msg(4), AppendOptions{Early: true}); err != nil {
		t.Fatal(err)
	}
	if err := accts.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := index.Open(filepath.Join(dir, "index", "u", "index.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n uint32
	if err := db.View(func(tx *index.Tx) error {
		mb, err := tx.Mailbox("INBOX")
		n = mb.Messages
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Fatalf("after the close the index holds %d messages, want 4", n)
	}
}

// Early appends to many mailboxes of one account wait together and are
// indexed in one commit, in order within each mailbox.
func TestEarlyAppendsShareACommit(t *testing.T) {
	_, a := openAccount(t, t.TempDir())
	a.lazy.delay = time.Hour // no timer: what waits is the test's to commit
	var commits int
	a.idx.SetCommitObserver(func(int, time.Duration) { commits++ })
	ctx := context.Background()
	names := []string{"INBOX", "Archive", "Junk"}
	for i := 0; i < 30; i++ {
		mb, err := a.Mailbox(names[i%len(names)])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mb.Append(ctx, msg(i), AppendOptions{Early: true}); err != nil {
			t.Fatal(err)
		}
	}
	if commits != 0 {
		t.Fatalf("%d index commits before anyone looked, want 0", commits)
	}
	a.awaitLazy()
	if commits != 1 {
		t.Errorf("%d index commits for 30 early appends to 3 mailboxes, want 1", commits)
	}
	for _, name := range names {
		_, msgs := all(t, a, name)
		if len(msgs) != 10 {
			t.Fatalf("%s holds %d messages, want 10", name, len(msgs))
		}
		for i, m := range msgs {
			if m.UID != uint32(i+1) {
				t.Errorf("%s: message %d has UID %d", name, i, m.UID)
			}
		}
	}
}

// A failed commit of an early append (the index cannot take it) leaves
// the acknowledged file for the next Sync.
func TestEarlyAppendCommitFails(t *testing.T) {
	dir := t.TempDir()
	_, a := openAccount(t, dir)
	inbox, err := a.Mailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := inbox.Append(ctx, msg(1), AppendOptions{Early: true}); err != nil {
		t.Fatal(err)
	}
	// The mailbox goes from the index under the waiting commit (as a
	// DeleteMailbox racing it would, without its awaitLazy).
	if err := a.idx.Commit(func(tx *index.Tx) error { return tx.DeleteMailbox("INBOX") }); err != nil {
		t.Fatal(err)
	}
	a.awaitLazy()
	files, _ := filepath.Glob(filepath.Join(dir, "mail", "u", "new", "*"))
	if len(files) != 1 {
		t.Fatalf("%d files after the failed commit, want the acknowledged one", len(files))
	}
	if _, err := os.Stat(files[0]); err != nil {
		t.Fatal(err)
	}
	if k := filepath.Base(files[0]); inbox.isPending(k) {
		t.Errorf("key %s still pending after its commit failed: no Sync could index it", k)
	}
}

// A mailbox someone watches (a selected or IDLE session) is committed at
// once: the event comes without the timer (set to an hour here) and
// without a Sync.
func TestEarlyAppendWatchedCommitsAtOnce(t *testing.T) {
	_, a := openAccount(t, t.TempDir())
	a.lazy.delay = time.Hour
	inbox, err := a.Mailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	sub := a.hub.Subscribe(inbox.id)
	defer sub.Close()
	if _, err := inbox.Append(context.Background(), msg(1), AppendOptions{Early: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sub.C:
	case <-time.After(30 * time.Second):
		t.Fatal("no event for a watched mailbox: its commit waited")
	}
	events, _ := sub.Take()
	if len(events) != 1 || events[0].Kind != Added || len(events[0].UIDs) != 1 || events[0].UIDs[0] != 1 {
		t.Fatalf("events %+v, want one Added of UID 1", events)
	}
}
