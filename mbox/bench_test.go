package mbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
)

// The scan benchmarks open the store afresh each time, so that every
// iteration reads and splits the whole file: the cost of a Sync after
// another program changed it (after our own changes the listing is
// kept, and a Scan is a stat).

// write4K writes an mbox of n messages of about 4 KB each. With ours
// set they carry our key field, as our appends write them; otherwise
// they are as another program writes them and each key is a checksum of
// the message: the slow case.
func write4K(b *testing.B, path string, n int, ours bool) int64 {
	b.Helper()
	body := strings.Repeat("A line of a four kilobyte message body, From time to time.\n", 64)
	var file []byte
	date := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		msg := []byte(fmt.Sprintf("From: sender%d@example.org\nTo: user@example.org\nSubject: message %d\nMessage-ID: <%d@example.org>\n\n%s", i%97, i, i, body))
		key := ""
		if ours {
			key = fmt.Sprintf("%016x", i+1)
		}
		file = appendRecord(file, fromLine("a@example.org", date.Add(time.Duration(i)*time.Minute)), key, msg, folder.Flags{Sys: folder.Seen}, i%3 == 0)
	}
	if err := os.WriteFile(path, file, 0o600); err != nil {
		b.Fatal(err)
	}
	return int64(len(file))
}

func benchScan(b *testing.B, root string, size int64, want int) {
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := Open(root)
		if err != nil {
			b.Fatal(err)
		}
		f, _ := s.Folder("INBOX")
		ents, _, err := f.Scan(context.Background())
		if err != nil || len(ents) != want {
			b.Fatalf("%d entries, %v", len(ents), err)
		}
	}
}

// BenchmarkScan10k4K: the yardstick, 10,000 messages of 4 KB
// (40 MB) that another program wrote.
func BenchmarkScan10k4K(b *testing.B) {
	root := b.TempDir()
	size := write4K(b, filepath.Join(root, "INBOX"), 10000, false)
	benchScan(b, root, size, 10000)
}

// BenchmarkScan10k4KOurs: the same, as our appends wrote it.
func BenchmarkScan10k4KOurs(b *testing.B) {
	root := b.TempDir()
	size := write4K(b, filepath.Join(root, "INBOX"), 10000, true)
	benchScan(b, root, size, 10000)
}

// BenchmarkScan10kRealistic: 10,000 realistic messages (mean 11 KB,
// attachments, threads) from testdata/gen-mailbox.py.
func BenchmarkScan10kRealistic(b *testing.B) {
	py, err := exec.LookPath("python3")
	if err != nil {
		b.Skip("python3 needed to generate the mailbox")
	}
	root := b.TempDir()
	if out, err := exec.Command(py, "../testdata/gen-mailbox.py", "--count", "10000", "--seed", "1", "--format", "mbox",
		"--out", filepath.Join(root, "INBOX"), "--quiet").CombinedOutput(); err != nil {
		b.Fatalf("gen-mailbox: %v\n%s", err, out)
	}
	st, _ := os.Stat(filepath.Join(root, "INBOX"))
	benchScan(b, root, st.Size(), 10000)
}

// BenchmarkRemove: an expunge of one message from a 40 MB file: the
// whole file rewritten and renamed over, fsyncs included.
func BenchmarkRemove(b *testing.B) {
	root := b.TempDir()
	size := write4K(b, filepath.Join(root, "INBOX"), 10000, false)
	s, _ := Open(root)
	fi, _ := s.Folder("INBOX")
	ents, _, err := fi.Scan(context.Background())
	if err != nil || len(ents) < b.N {
		b.Skipf("%d messages for %d removals", len(ents), b.N)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := fi.Remove(ents[i : i+1]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenStale: FETCH of every body right after an expunge near
// the start of a 10,000-message file, through the Names the index still
// holds: each must be found through its key without a rescan per message.
func BenchmarkOpenStale(b *testing.B) {
	root := b.TempDir()
	size := write4K(b, filepath.Join(root, "INBOX"), 10000, false)
	s, _ := Open(root)
	fi, _ := s.Folder("INBOX")
	ents, _, _ := fi.Scan(context.Background())
	if err := fi.Remove(ents[:1]); err != nil {
		b.Fatal(err)
	}
	ents = ents[1:]
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, e := range ents {
			r, err := fi.Open(e)
			if err != nil {
				b.Fatal(err)
			}
			r.Close()
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
		if _, err := f.Append(context.Background(), folder.NewMessage{Data: msg, Date: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
}
