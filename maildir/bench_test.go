package maildir

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
)

func benchMessage() []byte {
	msg := []byte("Subject: bench\r\n\r\n")
	for len(msg) < 4000 {
		msg = append(msg, "a line of a four kilobyte message body, and more of it\r\n"...)
	}
	return msg
}

// BenchmarkOpen: the body read path of FETCH BODY[] and RETR, one 4 KB
// message opened, read in canonical form and closed, over 1,000 files.
func BenchmarkOpen(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	f, _ := s.Folder("INBOX")
	msg := benchMessage()
	ents := make([]folder.Entry, 1000)
	for i := range ents {
		if ents[i], err = f.Append(context.Background(), folder.NewMessage{Data: msg, Date: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := f.Open(ents[i%len(ents)])
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			m, err := r.Read(buf)
			n += m
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		r.Close()
		if n != len(msg) {
			b.Fatalf("read %d octets, want %d", n, len(msg))
		}
	}
}

// BenchmarkAppend: durable appends of 4 KB messages (tmp/, fsync,
// rename, directory fsync).
func BenchmarkAppend(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	f, _ := s.Folder("INBOX")
	msg := benchMessage()
	b.SetBytes(int64(len(msg)))
	for i := 0; i < b.N; i++ {
		if _, err := f.Append(context.Background(), folder.NewMessage{Data: msg, Date: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan1k: listing a 1,000-message folder.
func BenchmarkScan1k(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	f, _ := s.Folder("INBOX")
	msg := benchMessage()
	for i := 0; i < 1000; i++ {
		if _, err := f.Append(context.Background(), folder.NewMessage{Data: msg, Flags: folder.Flags{Sys: folder.Seen}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ents, _, err := f.Scan(context.Background())
		if err != nil || len(ents) != 1000 {
			b.Fatalf("%d entries, %v", len(ents), err)
		}
	}
}
