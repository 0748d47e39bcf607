package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/internal/certs"
	"github.com/storaged/storaged/server"
)

// TestSmoke runs every scenario against an in-process storaged, the way
// bench/peer.sh runs them, so the harness never rots. No timing is
// asserted; the counts are (the client checks them itself).
func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("STORAGED_DATA", dir)
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.LocalDomains = []string{"localhost"}
	cfg.LMTP.Listen = []string{"127.0.0.1:0"}
	cfg.IMAP.Listen = []string{"127.0.0.1:0"}
	cfg.POP3.Listen = []string{"127.0.0.1:0"}
	// The TLS scenarios: an ECDSA P-256 certificate, as bench/peer.sh gives both servers.
	cfg.TLS.Cert, cfg.TLS.Key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := certs.SelfSigned(cfg.TLS.Cert, cfg.TLS.Key, certs.ECDSAP256, 0, "localhost"); err != nil {
		t.Fatal(err)
	}
	cfg.IMAP.ListenTLS = []string{"127.0.0.1:0"}
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"big", "rr1", "rr2", "rr3", "files"} {
		if err := srv.Users.Add(u, "pw", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	<-srv.Repaired()
	addr := func(proto string) string { return srv.Addrs(proto)[0].String() }

	var out bytes.Buffer
	bench := func(args ...string) {
		t.Helper()
		var stderr bytes.Buffer
		args = append([]string{"run", "-server", "storaged", "-lmtp", addr("lmtp"), "-imap", addr("imap"), "-pop3", addr("pop3"), "-password", "pw"}, args...)
		if code := run(args, &out, &stderr); code != 0 {
			t.Fatalf("storaged-bench %s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
		}
	}
	const n = 250
	bench("-scenario", "lmtp", "-to", "big@localhost", "-n", "250", "-size", "3000", "-conns", "3")
	bench("-scenario", "lmtp", "-to", "rr1@localhost,rr2@localhost,rr3@localhost", "-n", "30", "-size", "100000", "-conns", "2")
	bench("-scenario", "imap-meta,imap-body,imap-search,imap-sort,pop3-retr", "-user", "big", "-expect", "250")
	bench("-scenario", "imap-idle", "-user", "rr1", "-to", "rr1@localhost", "-conns", "5", "-rounds", "2", "-pids", strconv.Itoa(os.Getpid()))

	var results []Result
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if r.Value <= 0 || r.Server != "storaged" || r.Unit == "" {
			t.Errorf("result %+v", r)
		}
		results = append(results, r)
	}
	// lmtp ×2, meta, body ms and MB/s, search header and text, sort by
	// date and subject, thread references and refs, changedsince, pop3,
	// idle memory (RSS, PSS), latency median and max.
	if len(results) != 17 {
		t.Fatalf("%d results, want 17:\n%s", len(results), out.String())
	}
	if r := results[10]; !strings.Contains(r.Scenario, "THREAD REFS") {
		t.Errorf("result 10 %+v, want THREAD REFS", r)
	}
	if r := results[11]; !strings.Contains(r.Scenario, "CHANGEDSINCE") || r.Hits != 10 {
		t.Errorf("CHANGEDSINCE result %+v, want 10 hits", r)
	}
	if r := results[5]; r.Hits != keywordHits(0, n, 42) {
		t.Errorf("SEARCH hits %d, want %d", r.Hits, keywordHits(0, n, 42))
	}
	if r := results[3]; r.Bytes < n*3000*9/10 {
		t.Errorf("body FETCH read %d octets, want about %d", r.Bytes, n*3000)
	}

	// FILL_MODE=maildir: the files, written before the server first
	// opens the user, are what SELECT finds.
	if err := writeMaildir(filepath.Join(dir, "mail", "files"), 40, 2000, "fill", "files@localhost", -1, -1); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	bench("-scenario", "imap-meta,imap-sort", "-user", "files", "-expect", "40")
	if got := strings.Count(out.String(), "\n"); got != 6 {
		t.Errorf("%d results from the Maildir fill, want 6:\n%s", got, out.String())
	}

	// The TLS scenarios and the parallel logins.
	out.Reset()
	bench("-imaps", addr("imaps"), "-cafile", cfg.TLS.Cert, "-scenario", "tls-handshake,imaps-body", "-user", "big", "-expect", "250", "-n", "40", "-conns", "4")
	bench("-scenario", "login-rss", "-user", "rr2", "-conns", "20", "-pids", strconv.Itoa(os.Getpid()))
	bench("-scenario", "login-rss", "-user", "rr", "-distinct", "-first", "1", "-conns", "3", "-pids", strconv.Itoa(os.Getpid()))
	var tlsResults []Result
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if r.Value <= 0 {
			t.Errorf("result %+v", r)
		}
		tlsResults = append(tlsResults, r)
	}
	// handshakes sequential and concurrent, IMAPS body ms and MB/s,
	// login peak RSS and time, twice.
	if len(tlsResults) != 8 {
		t.Fatalf("%d TLS results, want 8:\n%s", len(tlsResults), out.String())
	}
	if r := tlsResults[2]; !strings.HasPrefix(r.Scenario, "IMAPS FETCH") || r.Bytes < n*3000*9/10 {
		t.Errorf("IMAPS body FETCH %+v, want about %d octets", r, n*3000)
	}
	if r := tlsResults[4]; r.Samples < 1 || r.N != 20 {
		t.Errorf("login-rss %+v, want 20 logins and a sample", r)
	}

	var table bytes.Buffer
	writeReport(&table, append(results, results...), []string{"storaged"}, "")
	if got := strings.Count(table.String(), "\n"); got != 2+17 {
		t.Errorf("report has %d lines, want 19:\n%s", got, table.String())
	}
}

// TestIMAPRead feeds responses through a buffer smaller than their lines,
// so that lines split over several slices, a literal marker cut in two
// and a SEARCH answer in pieces are all counted right.
func TestIMAPRead(t *testing.T) {
	in := "* 3 EXISTS\r\n" +
		"* 1 FETCH (UID 1 BODY[] {5}\r\nhello)\r\n" +
		"* 2 FETCH (UID 2 ENVELOPE (\"a subject long enough to be split over slices\" NIL) BODY[] {12}\r\nhello world!)\r\n" +
		"* 3 FETCH (UID 3 BODY[HEADER.FIELDS (SUBJECT)] {0}\r\n BODY[] {3}\r\nabc)\r\n" +
		"* SEARCH 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\r\n" +
		"b1 OK done\r\n"
	m := &imapConn{r: bufio.NewReaderSize(strings.NewReader(in), 16), tb: []byte("b1 ")}
	st, err := m.read("TEST")
	if err != nil {
		t.Fatal(err)
	}
	want := respStats{exists: 3, fetches: 3, literals: 4, literalBytes: 20, searchHits: 15}
	if st != want {
		t.Errorf("got %+v, want %+v", st, want)
	}

	m = &imapConn{r: bufio.NewReaderSize(strings.NewReader("* BYE\r\nb2 NO [AUTHENTICATIONFAILED] no\r\n"), 16), tb: []byte("b2 ")}
	if _, err := m.read("LOGIN"); err == nil {
		t.Error("tagged NO: no error")
	}
}

func TestLiteralAt(t *testing.T) {
	for _, tc := range []struct {
		line string
		n    int64
		ok   bool
	}{
		{"* 1 FETCH (BODY[] {123}\r\n", 123, true},
		{"a APPEND x {7+}\r\n", 7, true},
		{"* 1 FETCH (FLAGS ())\r\n", 0, false},
		{"* OK {x}\r\n", 0, false},
		{"}\r\n", 0, false},
	} {
		n, ok := literalAt([]byte(tc.line))
		if n != tc.n || ok != tc.ok {
			t.Errorf("literalAt(%q) = %d, %v; want %d, %v", tc.line, n, ok, tc.n, tc.ok)
		}
	}
}

// TestMessage checks the generated wire form: CRLF lines, the size asked
// for within the header estimate, and the terminating dot line.
func TestMessage(t *testing.T) {
	g := newGenerator(4096, "s")
	b := g.appendMessage(nil, 1242, "one@localhost")
	if !bytes.HasSuffix(b, []byte("\r\n.\r\n")) {
		t.Error("no terminating dot line")
	}
	if len(b) < 4096-headerEstimate || len(b) > 4096+100 {
		t.Errorf("size %d, want about 4096", len(b))
	}
	for _, l := range bytes.Split(b[:len(b)-2], []byte("\r\n")) {
		if bytes.IndexByte(l, '\n') >= 0 || len(l) > 998 {
			t.Fatalf("bad line %q", l)
		}
	}
	for _, w := range []string{"Subject: bench message 1242 kw0042\r\n", "\r\n\r\nbodykw0042 "} {
		if !bytes.Contains(b, []byte(w)) {
			t.Errorf("no %q", w)
		}
	}
}

// disk measures what it says on a real directory: every writer count
// and both modes give one result, and nothing is left behind.
func TestDisk(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if rc := run([]string{"disk", "-dir", dir, "-n", "40", "-size", "512", "-conns", "1,4"}, &out, &errb); rc != 0 {
		t.Fatalf("disk: exit %d: %s", rc, errb.String())
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var r Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if r.Server != "disk" || r.Value <= 0 || r.N != 40 {
			t.Errorf("result %+v", r)
		}
		got = append(got, r.Scenario)
	}
	want := []string{
		"disk: create + write + fsync of 512 octets, 1-way (files/s)",
		"disk: create + write + fsync of 512 octets, 4-way (files/s)",
		"disk: create + write + fsync + rename + dir fsync of 512 octets, 1-way (files/s)",
		"disk: create + write + fsync + rename + dir fsync of 512 octets, 4-way (files/s)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("scenarios:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left in the directory: %v", left)
	}
	if rc := run([]string{"disk", "-dir", dir, "-conns", "0"}, &out, &errb); rc != 64 {
		t.Errorf("-conns 0: exit %d, want 64", rc)
	}
}
