package store

import (
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

// Random octets over an index's pages: opening the account moves
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
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Every page past the two meta pages (checksummed: bbolt refuses
	// those itself) gets 4 KB of random octets: the bucket pages are
	// among them wherever the allocator put them.
	rng := rand.New(rand.NewSource(1))
	junk := make([]byte, 4096)
	for off := int64(2 * 4096); off < st.Size(); off += 4096 {
		rng.Read(junk)
		if _, err := f.WriteAt(junk, off); err != nil {
			t.Fatal(err)
		}
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
