package mh

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
)

// BenchmarkAppend: durable appends of 4 KB messages (file, link,
// directory fsync, sequences).
func BenchmarkAppend(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	f, _ := s.Folder("INBOX")
	msg := []byte("Subject: bench\r\n\r\n")
	for len(msg) < 4000 {
		msg = append(msg, "a line of a four kilobyte message body, and more of it\r\n"...)
	}
	b.SetBytes(int64(len(msg)))
	for i := 0; i < b.N; i++ {
		if _, err := f.Append(context.Background(), folder.NewMessage{Data: msg, Date: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan10k: listing a 10,000-message folder with sequences.
func BenchmarkScan10k(b *testing.B) {
	root := b.TempDir()
	s, err := Open(root)
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(root, "inbox")
	for i := 1; i <= 10000; i++ {
		os.WriteFile(filepath.Join(dir, fmt.Sprint(i)), []byte("Subject: x\n\nbody\n"), 0o600)
	}
	os.WriteFile(filepath.Join(dir, ".mh_sequences"), []byte("unseen: 1-5000 7000-8000\nflagged: 3 5 9\n"), 0o600)
	f, _ := s.Folder("INBOX")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ents, _, err := f.Scan(context.Background())
		if err != nil || len(ents) != 10000 {
			b.Fatalf("%d entries, %v", len(ents), err)
		}
	}
}
