package server_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pop3BenchMessages is the load: 2,000 messages of 4 KB.
const pop3BenchMessages = 2000

// benchPOP3Server starts a server whose user "ann" has 2,000 messages of
// about 4 KB in INBOX, dropped in as files and indexed at start-up, and
// returns a logged-in raw connection.
func benchPOP3(b *testing.B) (*bufio.Reader, net.Conn) {
	dir := b.TempDir()
	newDir := filepath.Join(dir, "mail", "ann", "new")
	for _, d := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, "mail", "ann", d), 0o700); err != nil {
			b.Fatal(err)
		}
	}
	line := strings.Repeat("abcdefghij", 7) + "\n"
	for i := 0; i < pop3BenchMessages; i++ {
		var m strings.Builder
		fmt.Fprintf(&m, "From: sender%d@example.net\nTo: ann@example.org\nSubject: message %d\nMessage-ID: <%d@bench>\nDate: Mon, 2 Mar 2020 10:00:00 +0000\n\n", i, i, i)
		for m.Len() < 4000 {
			if m.Len()%700 < 71 {
				m.WriteString(".a line that starts with a dot\n")
			}
			m.WriteString(line)
		}
		name := fmt.Sprintf("%d.M%dP1.bench", 1600000000+i, i)
		if err := os.WriteFile(filepath.Join(newDir, name), []byte(m.String()), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	ts := startServerB(b, dir, []string{"ann"})
	conn, err := net.Dial("tcp", ts.pop3)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	r := bufio.NewReaderSize(conn, 64<<10)
	r.ReadString('\n')
	fmt.Fprintf(conn, "USER ann\r\nPASS secret-ann\r\n")
	r.ReadString('\n')
	if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "+OK") {
		b.Fatalf("login: %s", l)
	}
	return r, conn
}

// readMulti reads a status line and, when multi, the body to its "."
// line; it returns the octets read.
func readMulti(b *testing.B, r *bufio.Reader, multi bool) int64 {
	l, err := r.ReadSlice('\n')
	if err != nil || l[0] != '+' {
		b.Fatalf("status %q: %v", l, err)
	}
	n := int64(len(l))
	for multi {
		l, err := r.ReadSlice('\n')
		if err != nil && err != bufio.ErrBufferFull {
			b.Fatal(err)
		}
		n += int64(len(l))
		if len(l) == 3 && l[0] == '.' && l[1] == '\r' {
			break
		}
	}
	return n
}

func BenchmarkPOP3Retr2000(b *testing.B) {
	r, conn := benchPOP3(b)
	w := bufio.NewWriter(conn)
	b.ResetTimer()
	var octets int64
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for n := 1; n <= pop3BenchMessages; n++ {
			fmt.Fprintf(w, "RETR %d\r\n", n)
			w.Flush()
			octets += readMulti(b, r, true)
		}
	}
	el := time.Since(start)
	b.ReportMetric(float64(el.Milliseconds())/float64(b.N), "ms/2000-RETR")
	b.ReportMetric(float64(pop3BenchMessages*b.N)/el.Seconds(), "msgs/s")
	b.SetBytes(octets / int64(b.N))
}

func BenchmarkPOP3StatListUIDL(b *testing.B) {
	r, conn := benchPOP3(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		fmt.Fprintf(conn, "STAT\r\n")
		readMulti(b, r, false)
		fmt.Fprintf(conn, "LIST\r\n")
		readMulti(b, r, true)
		fmt.Fprintf(conn, "UIDL\r\n")
		readMulti(b, r, true)
	}
}
