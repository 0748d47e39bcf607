package store

import (
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

// 4 KB of random octets over an index's pages: opening the account moves
// the file aside and rebuilds from the mail files, instead of bbolt
// panicking and taking the process down.
func TestCorruptIndexRebuilt(t *testing.T) {
	dir := t.TempDir()
	accts, a := openAccount(t, dir)
	mb, err := a.Mailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := mb.Append(context.Background(), msg(i), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	accts.Close()
	path := filepath.Join(dir, "index", "u", "index.db")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 4096)
	rand.New(rand.NewSource(1)).Read(junk)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Past the two meta pages (checksummed: bbolt refuses those itself),
	// over the pages that hold the buckets.
	off := min(int64(2*4096), st.Size()-4096)
	if _, err := f.WriteAt(junk, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	accts2, a2 := openAccount(t, dir)
	defer accts2.Close()
	mb2, err := a2.Mailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if err := mb2.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	info, err := mb2.Info()
	if err != nil || info.Messages != 3 {
		t.Fatalf("after the rebuild: %+v, %v", info, err)
	}
	aside, _ := filepath.Glob(path + ".broken-*")
	if len(aside) != 1 {
		t.Fatalf("broken index kept as %v", aside)
	}
}
