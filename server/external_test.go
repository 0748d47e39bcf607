package server_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/store"
)

func deliverN(t *testing.T, ts *testServer, user string, n, from int) {
	t.Helper()
	c := ts.lmtpClient()
	defer c.Close()
	for i := from; i < from+n; i++ {
		msg := fmt.Sprintf("Subject: m%d\r\nMessage-ID: <m%d@test>\r\n\r\nbody %d\r\n", i, i, i)
		res, err := send(c, "s@example.net", []string{user + "@example.org"}, []byte(msg))
		if err != nil || res[user+"@example.org"] != nil {
			t.Fatalf("deliver m%d: %v %v", i, err, res)
		}
	}
}

// inboxState reads INBOX through the running server's own store.
func (ts *testServer) inboxState(user string) (store.MailboxInfo, map[uint32]store.Message) {
	ts.t.Helper()
	acct, err := ts.Accounts.Open(context.Background(), user)
	if err != nil {
		ts.t.Fatal(err)
	}
	mbh, err := acct.Mailbox("INBOX")
	if err != nil {
		ts.t.Fatal(err)
	}
	if err := mbh.Sync(context.Background()); err != nil {
		ts.t.Fatal(err)
	}
	mb, list, err := mbh.Snapshot()
	if err != nil {
		ts.t.Fatal(err)
	}
	msgs := map[uint32]store.Message{}
	for _, m := range list {
		msgs[m.UID] = m
	}
	return mb, msgs
}

func TestExternalChanges(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, nil, "bob")
	deliverN(t, ts, "bob", 3, 1)
	inbox := filepath.Join(dir, "mail", "bob")
	mb0, msgs := ts.inboxState("bob")
	if len(msgs) != 3 || mb0.UIDNext != 4 {
		t.Fatalf("after delivery: %+v, %d messages", mb0, len(msgs))
	}

	// Another program (procmail, say) drops a message into new/.
	dropped := "Subject: dropped\nMessage-ID: <drop@test>\n\nfrom outside\n"
	if err := os.WriteFile(filepath.Join(inbox, "new", "1700000000.M1P1.otherhost"), []byte(dropped), 0o600); err != nil {
		t.Fatal(err)
	}
	mb1, msgs := ts.inboxState("bob")
	m4, ok := msgs[4]
	if !ok || m4.Key != "1700000000.M1P1.otherhost" || m4.CRLFSize != int64(len(dropped)+4) {
		t.Fatalf("dropped file not indexed as UID 4: %+v", msgs)
	}
	if mb1.UIDNext != 5 || mb1.UIDValidity != mb0.UIDValidity {
		t.Fatalf("after drop: %+v", mb1)
	}

	// mutt marks message 1 seen: it moves it to cur/ with :2,S.
	m1 := msgs[1]
	if err := os.Rename(filepath.Join(inbox, m1.Name), filepath.Join(inbox, "cur", m1.Key+":2,S")); err != nil {
		t.Fatal(err)
	}
	mb2, msgs := ts.inboxState("bob")
	if msgs[1].Flags.Sys != folder.Seen || msgs[1].ModSeq <= m1.ModSeq || mb2.Unseen != 3 {
		t.Fatalf("external flag change not taken: %+v, %+v", msgs[1], mb2)
	}

	// Then deletes it from cur/.
	if err := os.Remove(filepath.Join(inbox, "cur", m1.Key+":2,S")); err != nil {
		t.Fatal(err)
	}
	mb3, msgs := ts.inboxState("bob")
	if _, still := msgs[1]; still || mb3.Messages != 3 {
		t.Fatalf("removed file still indexed: %+v", mb3)
	}
	var tombs []uint32
	acctMailbox(t, ts, "bob").Tombstones(func(uid uint32, modseq uint64) error {
		if modseq <= mb2.HighestModSeq {
			t.Errorf("tombstone modseq %d not after %d", modseq, mb2.HighestModSeq)
		}
		tombs = append(tombs, uid)
		return nil
	})
	if fmt.Sprint(tombs) != "[1]" {
		t.Fatalf("tombstones %v", tombs)
	}

	// UIDs are not reused.
	deliverN(t, ts, "bob", 1, 10)
	mb4, msgs := ts.inboxState("bob")
	if _, ok := msgs[5]; !ok || mb4.UIDNext != 6 {
		t.Fatalf("next delivery: %+v %v", mb4, msgs)
	}

	// Nothing changed: a sync is a stat of two directories, and leaves
	// everything as it was.
	mb5, _ := ts.inboxState("bob")
	if mb5.HighestModSeq != mb4.HighestModSeq {
		t.Fatalf("idle sync changed modseq %d → %d", mb4.HighestModSeq, mb5.HighestModSeq)
	}

	// The index is lost: the next start rebuilds it from the files with a
	// new UIDVALIDITY.
	ts.stop()
	if err := os.Remove(filepath.Join(dir, "index", "bob", "index.db")); err != nil {
		t.Fatal(err)
	}
	ts = startServer(t, dir, nil, "bob")
	mb6, msgs := ts.inboxState("bob")
	if mb6.UIDValidity <= mb0.UIDValidity || len(msgs) != 4 || mb6.UIDNext != 5 {
		t.Fatalf("rebuilt: %+v with %d messages", mb6, len(msgs))
	}
	subjects := map[string]bool{}
	for _, m := range msgs {
		r, err := acctMailbox(t, ts, "bob").Open(m)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		i := strings.Index(string(b), "Subject: ")
		subjects[strings.SplitN(string(b[i:]), "\r\n", 2)[0]] = true
	}
	if len(subjects) != 4 || !subjects["Subject: dropped"] {
		t.Fatalf("rebuilt index lost messages: %v", subjects)
	}

	// The index is garbage: it is moved aside and rebuilt.
	ts.stop()
	idx := filepath.Join(dir, "index", "bob", "index.db")
	if err := os.WriteFile(idx, []byte(strings.Repeat("garbage", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	ts = startServer(t, dir, nil, "bob")
	mb7, msgs := ts.inboxState("bob")
	if mb7.UIDValidity <= mb6.UIDValidity || len(msgs) != 4 {
		t.Fatalf("rebuilt from garbage: %+v with %d messages", mb7, len(msgs))
	}
	if aside, _ := filepath.Glob(idx + ".broken-*"); len(aside) != 1 {
		t.Fatalf("broken index not kept aside: %v", aside)
	}
}
