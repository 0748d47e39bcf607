package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/mh"
	"github.com/storaged/storaged/store"
)

func openAccount(t *testing.T) (*store.Account, *store.Accounts) {
	t.Helper()
	dir := t.TempDir()
	accts := store.NewAccounts(store.Options{MailDir: filepath.Join(dir, "mail"), IndexDir: filepath.Join(dir, "index")})
	t.Cleanup(func() { accts.Close() })
	acct, err := accts.Open(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	return acct, accts
}

func write(t *testing.T, p, data string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o700)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// dovecotMaildir writes a small Maildir++ tree as Dovecot leaves it.
func dovecotMaildir(t *testing.T) string {
	root := filepath.Join(t.TempDir(), "Maildir")
	for _, d := range []string{"cur", "new", "tmp", ".Sent Items/cur", ".Sent Items/new", ".Work.Sub/cur", ".Work.Sub/new"} {
		os.MkdirAll(filepath.Join(root, d), 0o700)
	}
	write(t, filepath.Join(root, "cur", "1700000001.M1P1.h,S=20:2,Sa"), "Subject: one\n\nbody\n")
	write(t, filepath.Join(root, "cur", "1700000002.M2P1.h,S=20:2,FR"), "Subject: two\n\nbody\n")
	write(t, filepath.Join(root, "new", "1700000003.M3P1.h"), "Subject: three\n\nbody\n")
	write(t, filepath.Join(root, "new", "1700000009.M9P1.h"), "Subject: unlisted\n\nbody\n")
	write(t, filepath.Join(root, "dovecot-keywords"), "0 $Label1\n")
	write(t, filepath.Join(root, "dovecot-uidlist"), "3 V1600000000 N12 Gx\n4 :1700000001.M1P1.h,S=20\n7 P0badc0ffee :1700000002.M2P1.h,S=20\n11 :1700000003.M3P1.h\n")
	write(t, filepath.Join(root, "subscriptions"), "V\t2\n\nINBOX\nWork\tSub\n")
	write(t, filepath.Join(root, ".Sent Items", "cur", "1700000005.M5P1.h:2,S"), "Subject: sent\n\nx\n")
	write(t, filepath.Join(root, ".Work.Sub", "cur", "1700000006.M6P1.h:2,"), "Subject: work\n\nx\n")
	mt := time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC)
	os.Chtimes(filepath.Join(root, "cur", "1700000001.M1P1.h,S=20:2,Sa"), mt, mt)
	return root
}

type msgState struct {
	uid   uint32
	flags string
	date  time.Time
	uidl  string
}

func messages(t *testing.T, acct *store.Account, name string) (store.MailboxInfo, []msgState) {
	t.Helper()
	mb, err := acct.Mailbox(name)
	if err != nil {
		t.Fatal(err)
	}
	info, msgs, err := mb.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var out []msgState
	for _, m := range msgs {
		out = append(out, msgState{m.UID, fmt.Sprint(m.Flags.Sys, m.Flags.Keywords), m.InternalDate, m.POP3UIDL})
	}
	return info, out
}

func TestImportDovecotMaildir(t *testing.T) {
	acct, _ := openAccount(t)
	src, err := Open(dovecotMaildir(t))
	if err != nil || src.Kind() != "maildir" {
		t.Fatalf("Open: %v %v", src, err)
	}
	ctx := context.Background()
	rep, err := Import(ctx, acct, src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Messages != 6 || rep.Totals.Duplicates != 0 {
		t.Fatalf("totals %+v", rep.Totals)
	}
	info, msgs := messages(t, acct, "INBOX")
	if info.UIDValidity != 1600000000 || info.UIDNext != 13 {
		t.Errorf("INBOX UIDVALIDITY %d UIDNEXT %d, want 1600000000 13", info.UIDValidity, info.UIDNext)
	}
	want := []msgState{
		{4, fmt.Sprint(folder.Seen, []string{"$Label1"}), time.Date(2023, 5, 6, 7, 8, 9, 0, time.UTC), ""},
		{7, fmt.Sprint(folder.Flagged|folder.Answered, []string(nil)), time.Time{}, "0badc0ffee"},
		{11, fmt.Sprint(folder.SysFlags(0), []string(nil)), time.Time{}, ""},
		{12, fmt.Sprint(folder.SysFlags(0), []string(nil)), time.Time{}, ""},
	}
	if len(msgs) != len(want) {
		t.Fatalf("INBOX %+v", msgs)
	}
	for i, w := range want {
		g := msgs[i]
		if g.uid != w.uid || g.flags != w.flags || g.uidl != w.uidl || (!w.date.IsZero() && !g.date.Equal(w.date)) {
			t.Errorf("message %d: %+v, want %+v", i, g, w)
		}
	}
	// "Sent Items" went into the account's \Sent, not a second folder.
	if _, err := acct.Mailbox("Sent Items"); !errors.Is(err, folder.ErrNotFound) {
		t.Errorf("Sent Items created: %v", err)
	}
	if _, sent := messages(t, acct, "Sent"); len(sent) != 1 {
		t.Errorf("Sent has %d", len(sent))
	}
	subs, _ := acct.Subscriptions()
	if s := strings.Join(subs, ","); !strings.Contains(s, "Work/Sub") || !strings.Contains(s, "INBOX") {
		t.Errorf("subscriptions %q", s)
	}

	// Again: nothing is added twice.
	rep, err = Import(ctx, acct, src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Messages != 0 || rep.Totals.Duplicates != 6 {
		t.Fatalf("second run %+v", rep.Totals)
	}
	if _, again := messages(t, acct, "INBOX"); len(again) != 4 {
		t.Fatalf("INBOX after rerun: %d", len(again))
	}
}

// Into a non-empty folder, UIDs cannot be kept: the messages get new
// ones and keep the UIDL their POP3 clients know.
func TestImportIntoNonEmptyKeepsUIDL(t *testing.T) {
	acct, _ := openAccount(t)
	inbox, _ := acct.Mailbox("INBOX")
	if _, err := inbox.Append(context.Background(), []byte("Subject: here before\r\n\r\nx\r\n"), store.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	src, _ := Open(dovecotMaildir(t))
	rep, err := Import(context.Background(), acct, src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Folders[0].KeptUIDs {
		t.Error("UIDs kept in a non-empty INBOX")
	}
	_, msgs := messages(t, acct, "INBOX")
	var uidls []string
	for _, m := range msgs {
		uidls = append(uidls, m.uidl)
	}
	if got := strings.Join(uidls, ","); got != ",000000045f5e1000,0badc0ffee,0000000b5f5e1000," {
		t.Errorf("UIDLs %q", got)
	}
}

func TestImportDryRun(t *testing.T) {
	acct, _ := openAccount(t)
	src, _ := Open(dovecotMaildir(t))
	rep, err := Import(context.Background(), acct, src, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Messages != 6 {
		t.Errorf("dry run would add %d", rep.Totals.Messages)
	}
	if _, err := acct.Mailbox("Work/Sub"); !errors.Is(err, folder.ErrNotFound) {
		t.Errorf("dry run created Work/Sub: %v", err)
	}
	if _, msgs := messages(t, acct, "INBOX"); len(msgs) != 0 {
		t.Errorf("dry run added %d", len(msgs))
	}
}

const trickyMbox = `From alice@example.org Mon Jan  2 15:04:05 2006
Subject: first
Status: RO
X-Status: A

hello
>From the start of a line
From here, no blank line before: not a separator

From bob@example.org Tue Jan  3 10:00:00 2006
Subject: second
X-Keywords: work

body two

From bob@example.org Tue Jan  3 10:00:00 2006
Subject: second

body two

From carol@example.org Wed Jan  4 11:00:00 2006
Subject: third

last
`

func TestImportMboxFile(t *testing.T) {
	acct, _ := openAccount(t)
	p := filepath.Join(t.TempDir(), "mbox")
	write(t, p, trickyMbox)
	src, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rep, err := Import(ctx, acct, src, Options{})
	if err != nil || rep.Totals.Messages != 4 {
		t.Fatalf("import: %+v %v", rep.Totals, err)
	}
	inbox, _ := acct.Mailbox("INBOX")
	_, msgs, _ := inbox.Snapshot()
	if msgs[0].Flags.Sys != folder.Seen|folder.Answered || !msgs[0].InternalDate.Equal(time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)) {
		t.Errorf("first: %+v", msgs[0])
	}
	if len(msgs[1].Flags.Keywords) != 1 || msgs[1].Flags.Keywords[0] != "work" {
		t.Errorf("second keywords %v", msgs[1].Flags.Keywords)
	}
	r, _ := inbox.Open(msgs[0])
	b := make([]byte, 4096)
	n, _ := r.Read(b)
	r.Close()
	if body := string(b[:n]); !strings.Contains(body, "\r\nFrom the start of a line\r\nFrom here, no blank") || strings.Contains(body, "Status") {
		t.Errorf("first body %q", body)
	}
	// The two identical messages are both kept, and a rerun adds neither.
	rep, err = Import(ctx, acct, src, Options{})
	if err != nil || rep.Totals.Messages != 0 || rep.Totals.Duplicates != 4 {
		t.Fatalf("rerun: %+v %v", rep.Totals, err)
	}
}

func TestImportMboxTreeAndMH(t *testing.T) {
	acct, _ := openAccount(t)
	tree := t.TempDir()
	write(t, filepath.Join(tree, "INBOX"), trickyMbox)
	write(t, filepath.Join(tree, "Lists.sbd", "go-nuts"), "From a@b Mon Jan  2 15:04:05 2006\nSubject: g\n\nx\n")
	write(t, filepath.Join(tree, "Sent"), "From a@b Mon Jan  2 15:04:05 2006\nSubject: s\n\nx\n")
	write(t, filepath.Join(tree, ".imap", "x"), "not a folder")
	write(t, filepath.Join(tree, "notes.txt"), "not mail either")
	src, _ := Open(tree)
	rep, err := Import(context.Background(), acct, src, Options{})
	if err != nil || rep.Totals.Messages != 6 || rep.Totals.Folders != 3 {
		t.Fatalf("mbox tree: %+v %v", rep.Totals, err)
	}
	if _, msgs := messages(t, acct, "Lists/go-nuts"); len(msgs) != 1 {
		t.Errorf("Lists/go-nuts: %d", len(msgs))
	}

	mhRoot := filepath.Join(t.TempDir(), "Mail")
	st, err := mh.Open(mhRoot)
	if err != nil {
		t.Fatal(err)
	}
	st.Create("Archive")
	f, _ := st.Folder("Archive")
	for i := 0; i < 3; i++ {
		f.Append(context.Background(), folder.NewMessage{Data: []byte(fmt.Sprintf("Subject: mh %d\r\n\r\nx\r\n", i)), Flags: folder.Flags{Sys: folder.Flagged}})
	}
	src, _ = Open(mhRoot)
	if src.Kind() != "mh" {
		t.Fatalf("kind %s", src.Kind())
	}
	rep, err = Import(context.Background(), acct, src, Options{})
	if err != nil || rep.Totals.Messages != 3 {
		t.Fatalf("mh: %+v %v", rep.Totals, err)
	}
	if _, msgs := messages(t, acct, "Archive"); len(msgs) != 3 || !strings.Contains(msgs[0].flags, fmt.Sprint(folder.Flagged)) {
		t.Errorf("Archive: %+v", msgs)
	}
}

// An interrupted run, then a second one: the same as one clean run.
func TestImportInterrupted(t *testing.T) {
	acct, _ := openAccount(t)
	var b strings.Builder
	for i := 0; i < 700; i++ {
		fmt.Fprintf(&b, "From x@y Mon Jan  2 15:04:05 2006\nSubject: n%d\n\nbody %d\n\n", i, i)
	}
	p := filepath.Join(t.TempDir(), "inbox")
	write(t, p, b.String())
	src, _ := Open(p)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Import(ctx, acct, src, Options{Progress: func(tot Totals) {
		if tot.Messages == 300 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	rep, err := Import(context.Background(), acct, src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, msgs := messages(t, acct, "INBOX")
	if len(msgs) != 700 || rep.Totals.Messages+rep.Totals.Duplicates != 700 {
		t.Fatalf("after resume: %d messages, %+v", len(msgs), rep.Totals)
	}
}
