package mbox

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
)

// BenchmarkScan10k: a rescan of a 10,000-message mbox another program
// wrote (every key a checksum: the slow case), as after each change.
func BenchmarkScan10k(b *testing.B) {
	py, err := exec.LookPath("python3")
	if err != nil {
		b.Skip("python3 needed to generate the mailbox")
	}
	root := b.TempDir()
	if out, err := exec.Command(py, "../testdata/gen-mailbox.py", "--count", "10000", "--seed", "1", "--format", "mbox",
		"--out", filepath.Join(root, "INBOX"), "--quiet").CombinedOutput(); err != nil {
		b.Fatalf("gen-mailbox: %v\n%s", err, out)
	}
	s, err := Open(root)
	if err != nil {
		b.Fatal(err)
	}
	f, _ := s.Folder("INBOX")
	st, _ := os.Stat(filepath.Join(root, "INBOX"))
	b.SetBytes(st.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ents, _, err := f.Scan(context.Background())
		if err != nil || len(ents) != 10000 {
			b.Fatalf("%d entries, %v", len(ents), err)
		}
	}
}

// BenchmarkAppend: durable appends of 4 KB messages.
func BenchmarkAppend(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	f, _ := s.Folder("INBOX")
	msg := make([]byte, 0, 4096)
	msg = append(msg, "Subject: bench\r\n\r\n"...)
	for len(msg) < 4000 {
		msg = append(msg, "a line of a four kilobyte message body, From time to time\r\n"...)
	}
	b.SetBytes(int64(len(msg)))
	for i := 0; i < b.N; i++ {
		if _, err := f.Append(context.Background(), folder.NewMessage{Canonical: msg, Date: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
}
