package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/server"
)

// benchServers caches one server per mailbox size for the whole run: the
// setup (generate, index) is what it is, and is reported once.
var (
	benchMu      sync.Mutex
	benchServers = map[string]*server.Server{}
)

// benchInbox returns the IMAP address of a server whose user "ann" has n
// messages from gen-mailbox.py in INBOX, indexed by the start-up repair.
func benchInbox(b *testing.B, n int) string { return benchInboxFormat(b, n, "maildir") }

// benchInboxFormat is benchInbox in a given storage format.
func benchInboxFormat(b *testing.B, n int, format string) string {
	benchMu.Lock()
	defer benchMu.Unlock()
	id := fmt.Sprintf("%s/%d", format, n)
	if srv, ok := benchServers[id]; ok {
		return srv.Addrs("imap")[0].String()
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		b.Skip("python3 needed to generate the mailbox")
	}
	dir, err := os.MkdirTemp("", "storaged-bench")
	if err != nil {
		b.Fatal(err)
	}
	out := map[string]string{"maildir": "", "mbox": "INBOX", "mh": "inbox"}[format]
	os.MkdirAll(filepath.Join(dir, "mail", "ann"), 0o700)
	if out, err := exec.Command(py, "../testdata/gen-mailbox.py", "--count", strconv.Itoa(n), "--seed", "1",
		"--format", format, "--out", filepath.Join(dir, "mail", "ann", out), "--quiet").CombinedOutput(); err != nil {
		b.Fatalf("gen-mailbox: %v\n%s", err, out)
	}
	os.Setenv("STORAGED_DATA", dir)
	cfg, err := config.Load("")
	if err != nil {
		b.Fatal(err)
	}
	cfg.LMTP.Listen = []string{"127.0.0.1:0"}
	cfg.IMAP.Listen = []string{"127.0.0.1:0"}
	cfg.POP3.Listen = nil
	cfg.Mail.Format = format
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Second)
	if err != nil {
		b.Fatal(err)
	}
	srv.Users.SetHashParams(cheapHash)
	srv.Users.Add("ann", "secret-ann", nil)
	start := time.Now()
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	<-srv.Repaired()
	fmt.Fprintf(os.Stderr, "bench setup: indexed %d %s messages (rebuild from files) in %v\n", n, format, time.Since(start).Round(time.Millisecond))
	benchServers[id] = srv
	return srv.Addrs("imap")[0].String()
}

// leanIMAP is a raw-socket client that only counts: it times the server,
// not a client library.
type leanIMAP struct {
	conn net.Conn
	r    *bufio.Reader
	n    int
}

func dialLean(b *testing.B, addr string) *leanIMAP {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	c := &leanIMAP{conn: conn, r: bufio.NewReaderSize(conn, 256<<10)}
	if _, err := c.r.ReadString('\n'); err != nil {
		b.Fatal(err)
	}
	return c
}

// do sends a command and reads to its tagged reply, skipping literals;
// it returns the octets received.
func (c *leanIMAP) do(b *testing.B, cmd string) int64 {
	c.n++
	tag := []byte("b" + strconv.Itoa(c.n) + " ")
	fmt.Fprintf(c.conn, "%s%s\r\n", tag, cmd)
	var total int64
	for {
		line, err := c.r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			total += int64(len(line))
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		total += int64(len(line))
		// Bytes, not strings: converting every line would make the
		// client allocate more than the server it measures.
		if len(line) > 3 && line[len(line)-3] == '}' {
			i := bytes.LastIndexByte(line, '{')
			sz, _ := strconv.ParseInt(string(bytes.TrimSuffix(line[i+1:len(line)-3], []byte("+"))), 10, 64)
			m, err := io.CopyN(io.Discard, c.r, sz)
			if err != nil {
				b.Fatal(err)
			}
			total += m
			continue
		}
		if bytes.HasPrefix(line, tag) {
			if !bytes.HasPrefix(line[len(tag):], []byte("OK")) {
				b.Fatalf("%s: %s", cmd, line)
			}
			return total
		}
	}
}

func benchSelectFetch(b *testing.B, n int) { benchSelectFetchFormat(b, n, "maildir") }

func benchSelectFetchFormat(b *testing.B, n int, format string) {
	addr := benchInboxFormat(b, n, format)
	c := dialLean(b, addr)
	defer c.conn.Close()
	c.do(b, "LOGIN ann secret-ann")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.do(b, "SELECT INBOX")
		c.do(b, "UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)")
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/select+fetch")
}

// BenchmarkIMAPSelectFetch10k: SELECT plus UID FETCH 1:* (FLAGS
// RFC822.SIZE ENVELOPE) on a 10,000-message INBOX.
func BenchmarkIMAPSelectFetch10k(b *testing.B) { benchSelectFetch(b, 10000) }

// BenchmarkIMAPSelectFetch100k: the same on 100,000 messages (set
// STORAGED_BENCH_LARGE=1; the setup generates and indexes ~1 GB).
func BenchmarkIMAPSelectFetch100k(b *testing.B) {
	if os.Getenv("STORAGED_BENCH_LARGE") == "" {
		b.Skip("set STORAGED_BENCH_LARGE=1 for the 100,000-message mailbox")
	}
	benchSelectFetch(b, 100000)
}

// BenchmarkIMAPFetchBodies: every body of the 10,000-message INBOX.
func BenchmarkIMAPFetchBodies(b *testing.B) { benchFetchBodies(b, "maildir") }

func benchFetchBodies(b *testing.B, format string) {
	addr := benchInboxFormat(b, 10000, format)
	c := dialLean(b, addr)
	defer c.conn.Close()
	c.do(b, "LOGIN ann secret-ann")
	c.do(b, "EXAMINE INBOX")
	b.ResetTimer()
	var bytes int64
	for i := 0; i < b.N; i++ {
		bytes = c.do(b, "UID FETCH 1:* BODY.PEEK[]")
	}
	b.StopTimer()
	b.SetBytes(bytes)
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/all-bodies")
}

// BenchmarkIMAPLogin: connect, LOGIN (the password verified once before,
// so the auth cache answers), LOGOUT.
func BenchmarkIMAPLogin(b *testing.B) {
	addr := benchInbox(b, 10000)
	c := dialLean(b, addr)
	c.do(b, "LOGIN ann secret-ann")
	c.conn.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := dialLean(b, addr)
		c.do(b, "LOGIN ann secret-ann")
		fmt.Fprintf(c.conn, "z LOGOUT\r\n")
		c.conn.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/login")
}
