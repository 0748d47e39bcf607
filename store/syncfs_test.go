package store

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/maildir"
)

// Under [mail] sync = "syncfs" a crash may leave a named file that was
// never written out, for a delivery that was never acknowledged. The
// sync that finds it (start-up repair) removes it instead of showing a
// message with missing octets, and indexes the whole ones beside it.
func TestSyncDropsTornFiles(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	opts := Options{
		MailDir: filepath.Join(dir, "mail"), IndexDir: filepath.Join(dir, "index"), LockWait: time.Second,
		Logger:        slog.New(slog.NewTextHandler(&logs, nil)),
		FormatOptions: folder.Options{FSSync: new(folder.FSSync)},
	}
	accts := NewAccounts(opts)
	acct, err := accts.Open(context.Background(), "u")
	if err != nil {
		t.Fatal(err)
	}
	mb, err := acct.Mailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mb.Append(context.Background(), msg(1), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := accts.Close(); err != nil {
		t.Fatal(err)
	}

	// What the crash left: two files the index never heard of, written
	// as the server writes them, one of which lost its octets.
	root := filepath.Join(dir, "mail", "u")
	fs := new(folder.FSSync)
	defer fs.Close()
	st, err := maildir.Format.Open(root, folder.Options{FSSync: fs})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := st.Folder("INBOX")
	whole, err := f.Append(context.Background(), folder.NewMessage{Data: msg(2)})
	if err != nil {
		t.Fatal(err)
	}
	torn, err := f.Append(context.Background(), folder.NewMessage{Data: msg(3)})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(root, torn.Name), 7); err != nil {
		t.Fatal(err)
	}

	accts = NewAccounts(opts)
	defer accts.Close()
	acct, err = accts.Open(context.Background(), "u")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ = acct.Mailbox("INBOX")
	if err := mb.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, msgs := all(t, acct, "INBOX")
	var keys []string
	for _, m := range msgs {
		keys = append(keys, m.Key)
	}
	if len(msgs) != 2 || msgs[1].Key != whole.Key {
		t.Fatalf("indexed %v, want the first message and %s", keys, whole.Key)
	}
	if _, err := os.Stat(filepath.Join(root, torn.Name)); !os.IsNotExist(err) {
		t.Fatalf("torn file still there: %v", err)
	}
	if !strings.Contains(logs.String(), "cut short by a crash") {
		t.Fatalf("no warning logged:\n%s", logs.String())
	}
}
