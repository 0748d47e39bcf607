package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	bolt "go.etcd.io/bbolt"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/index"
)

type rebuildJSON struct {
	User      string
	Damaged   bool
	MovedTo   string `json:"moved_to"`
	Mailboxes []struct {
		Mailbox         string
		Messages        int
		KeptUIDs        int    `json:"kept_uids"`
		NewUIDs         int    `json:"new_uids"`
		UIDValidity     uint32 `json:"uidvalidity"`
		UIDValidityKept bool   `json:"uidvalidity_kept"`
		Why             string
	}
}

func (r rebuildJSON) inbox(t *testing.T) (kept, fresh, msgs int, uvKept bool) {
	t.Helper()
	for _, mb := range r.Mailboxes {
		if mb.Mailbox == "INBOX" {
			return mb.KeptUIDs, mb.NewUIDs, mb.Messages, mb.UIDValidityKept
		}
	}
	t.Fatalf("no INBOX in %+v", r)
	return
}

// inboxFlags reads the user's INBOX from the index: UIDVALIDITY and, by
// folder key, UID and flags.
func inboxFlags(t *testing.T, dir, user string) (uint32, map[string]index.Message) {
	t.Helper()
	db, err := index.Open(filepath.Join(dir, "index", user, "index.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var uv uint32
	msgs := map[string]index.Message{}
	err = db.View(func(tx *index.Tx) error {
		mb, err := tx.Mailbox("INBOX")
		if err != nil {
			return err
		}
		uv = mb.UIDValidity
		return tx.ForEachMessage(mb.ID, func(m *index.Message) error {
			c := *m
			c.Flags.Keywords = append([]string(nil), m.Flags.Keywords...)
			msgs[m.Key] = c
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return uv, msgs
}

// damageEnvelopes overwrites the root page of INBOX's cached-envelope
// bucket with random octets: the file no longer opens as an index (every
// page is checked at open), while the message records are intact.
func damageEnvelopes(t *testing.T, path string) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var root uint64
	err = b.View(func(tx *bolt.Tx) error {
		id := tx.Bucket([]byte("names")).Get([]byte("INBOX"))
		root = uint64(tx.Bucket([]byte("mbx")).Bucket(id).Bucket([]byte("e")).Root())
		return nil
	})
	pageSize := b.Info().PageSize
	b.Close()
	if err != nil || root == 0 {
		t.Fatalf("envelope bucket root %d (inline?): %v", root, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, pageSize)
	rand.Read(junk)
	if _, err := f.WriteAt(junk, int64(root)*int64(pageSize)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if db, err := index.Open(path, time.Second); err == nil {
		db.Close()
		t.Fatal("the damaged index still opens")
	}
}

// index rebuild, on each format: with a server running, through the
// admin socket, a selected IMAP session goes on with the same UIDs and
// flags; with the server stopped, over an index that no longer opens,
// every UID and flag is kept from the records still readable; over a
// deleted index, the flags the files record are kept, and the new
// UIDVALIDITY is said.
func TestIndexRebuild(t *testing.T) {
	for _, f := range []string{"maildir", "mbox", "mh"} {
		t.Run(f, func(t *testing.T) { testIndexRebuild(t, f) })
	}
}

func testIndexRebuild(t *testing.T, format string) {
	e := newEnvFormat(t, format, "ann")
	imapAddr := freePort(t)
	conf, _ := os.ReadFile(e.cfg)
	conf = []byte(strings.Replace(string(conf), "[imap]\nlisten = [\"127.0.0.1:0\"]", fmt.Sprintf("[imap]\nlisten = [%q]", imapAddr), 1))
	os.WriteFile(e.cfg, conf, 0o600)
	const n = 12
	for i := 1; i <= n; i++ {
		// Long subjects: the cached envelopes need pages of their own.
		msg := fmt.Sprintf("From: alice@example.net\nMessage-ID: <m%d@example.net>\nSubject: message %d %s\n\nbody %d\n", i, i, strings.Repeat("x", 300), i)
		if out, code := e.run(msg, "deliver", "-f", "alice@example.net", "-a", "ann@example.org"); code != 0 {
			t.Fatalf("deliver: %d %s", code, out)
		}
	}

	p := e.start()
	defer func() {
		if p.cmd.ProcessState == nil {
			p.term(nil)
		}
	}()
	c, err := imapclient.DialInsecure(imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("ann", "pw-ann").Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		uid  imap.UID
		flag imap.Flag
	}{{1, imap.FlagSeen}, {2, imap.FlagFlagged}, {3, imap.FlagAnswered}, {4, imap.FlagFlagged}} {
		if err := c.Store(imap.UIDSetNum(s.uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{s.flag}, Silent: true}, nil).Close(); err != nil {
			t.Fatal(err)
		}
	}
	fetch := func() string {
		t.Helper()
		var all imap.SeqSet
		all.AddRange(1, 0) // 1:*
		msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, m := range msgs {
			fmt.Fprintf(&b, "%d:%d%v;", m.SeqNum, m.UID, m.Flags)
		}
		return b.String()
	}
	before := fetch()

	out, code := e.run("", "index", "rebuild", "ann", "--json")
	var r rebuildJSON
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
		t.Fatalf("index rebuild through the socket: %d %s", code, out)
	}
	if kept, fresh, msgs, uvKept := r.inbox(t); kept != n || fresh != 0 || msgs != n || !uvKept || r.Damaged {
		t.Fatalf("live rebuild: %s", out)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("the selected session after the rebuild: %v", err)
	}
	if after := fetch(); after != before {
		t.Fatalf("the selected session sees\n%s\nafter the rebuild, before\n%s", after, before)
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{UIDValidity: true, UIDNext: true}).Wait()
	if err != nil || st.UIDValidity != sel.UIDValidity || st.UIDNext != imap.UID(n+1) {
		t.Fatalf("status after the rebuild: %+v %v (selected with %d)", st, err, sel.UIDValidity)
	}
	if format == "maildir" {
		// Files another program removed and added: the session is told
		// as for any change, UIDs of the others stay.
		maildir := filepath.Join(e.dir, "mail", "ann")
		var victim string
		for _, d := range []string{"cur", "new"} {
			ents, _ := filepath.Glob(filepath.Join(maildir, d, "*"))
			for _, f := range ents {
				if b, _ := os.ReadFile(f); strings.Contains(string(b), "<m5@example.net>") {
					victim = f
				}
			}
		}
		if victim == "" || os.Remove(victim) != nil {
			t.Fatal("no file for message 5")
		}
		os.WriteFile(filepath.Join(maildir, "new", "1700000000.M1P1.elsewhere"), []byte("Subject: dropped\n\nin\n"), 0o600)
		out, code := e.run("", "index", "rebuild", "ann", "INBOX", "--json")
		r = rebuildJSON{}
		if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
			t.Fatalf("index rebuild through the socket: %d %s", code, out)
		}
		if kept, fresh, msgs, uvKept := r.inbox(t); kept != n-1 || fresh != 1 || msgs != n || !uvKept {
			t.Fatalf("live rebuild after changes: %s", out)
		}
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		// Sequence numbers after 5 move down by one; the new file is last.
		var want strings.Builder
		for _, f := range strings.Split(strings.TrimSuffix(before, ";"), ";") {
			var seq, uid int
			fmt.Sscanf(f, "%d:%d", &seq, &uid)
			flags := f[strings.IndexByte(f, '['):]
			switch {
			case uid < 5:
				want.WriteString(f + ";")
			case uid > 5:
				fmt.Fprintf(&want, "%d:%d%s;", seq-1, uid, flags)
			}
		}
		fmt.Fprintf(&want, "%d:%d[\\Recent];", n, n+1)
		if after := fetch(); after != want.String() {
			t.Fatalf("the selected session sees\n%s\nwant\n%s", after, want.String())
		}
		before = want.String()
	}
	// The table, for people.
	out, code = e.run("", "index", "rebuild", "ann", "INBOX")
	if code != 0 || !strings.Contains(out, "MAILBOX  MESSAGES  KEPT UIDS  NEW UIDS") || !strings.Contains(out, fmt.Sprintf("INBOX    %d        %d         0", n, n)) || !strings.Contains(out, " kept") {
		t.Fatalf("index rebuild INBOX: %d\n%s", code, out)
	}
	if out, code := e.run("", "index", "rebuild", "ann", "Nope"); code != 65 {
		t.Fatalf("index rebuild of no mailbox: %d %s", code, out)
	}
	c.Logout().Wait()
	p.term(t)

	idx := filepath.Join(e.dir, "index", "ann", "index.db")
	uv0, msgs0 := inboxFlags(t, e.dir, "ann")
	if len(msgs0) != n {
		t.Fatalf("index has %d messages", len(msgs0))
	}

	// Damaged: the index no longer opens; what is readable of it keeps
	// every UID and flag.
	damageEnvelopes(t, idx)
	out, code = e.run("", "index", "rebuild", "ann", "--json")
	r = rebuildJSON{}
	// The log line of the damage comes first, on standard error.
	if code != 0 || json.Unmarshal([]byte(out[strings.Index(out, "{\n"):]), &r) != nil {
		t.Fatalf("index rebuild of a damaged index: %d %s", code, out)
	}
	if kept, fresh, msgs, uvKept := r.inbox(t); kept != n || fresh != 0 || msgs != n || !uvKept || !r.Damaged || !strings.Contains(r.MovedTo, "index.db.broken-") {
		t.Fatalf("rebuild of a damaged index: %s", out)
	}
	uv1, msgs1 := inboxFlags(t, e.dir, "ann")
	if uv1 != uv0 {
		t.Fatalf("UIDVALIDITY %d, was %d", uv1, uv0)
	}
	for k, m := range msgs0 {
		got, ok := msgs1[k]
		if !ok || got.UID != m.UID || !got.Flags.Equal(m.Flags) || got.ModSeq < m.ModSeq {
			t.Errorf("%s: UID %d %v, was UID %d %v", k, got.UID, got.Flags, m.UID, m.Flags)
		}
	}

	// Deleted: nothing records the UIDs; the flags the files hold stay,
	// and the output says UIDVALIDITY changed.
	os.Remove(idx)
	out, code = e.run("", "index", "rebuild", "ann")
	if code != 0 || !strings.Contains(out, "changed") {
		t.Fatalf("index rebuild of a deleted index: %d %s", code, out)
	}
	uv2, msgs2 := inboxFlags(t, e.dir, "ann")
	if uv2 <= uv1 || len(msgs2) != n {
		t.Fatalf("after deletion: UIDVALIDITY %d (was %d), %d messages", uv2, uv1, len(msgs2))
	}
	flagged := 0
	for k, m := range msgs0 {
		if m.Flags.Sys.Has(folder.Flagged) {
			if !msgs2[k].Flags.Sys.Has(folder.Flagged) {
				t.Errorf("%s lost \\Flagged", k)
			}
			flagged++
		}
	}
	if flagged != 2 {
		t.Fatalf("%d flagged before", flagged)
	}

	// The server comes up on the rebuilt index and serves it.
	p = e.start()
	c2, err := imapclient.DialInsecure(imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Login("ann", "pw-ann").Wait(); err != nil {
		t.Fatal(err)
	}
	if sel, err := c2.Select("INBOX", nil).Wait(); err != nil || sel.NumMessages != n || sel.UIDValidity != uv2 {
		t.Fatalf("select after the rebuild: %+v %v", sel, err)
	}
	c2.Logout().Wait()
	p.term(t)
}
