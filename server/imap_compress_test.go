package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"github.com/storaged/storaged/config"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/storaged/storaged/store"
)

// COMPRESS=DEFLATE (RFC 4978) with independent clients: Python's
// imaplib over zlib with each flush mode clients use, mbsync (isync
// turns COMPRESS on whenever it is offered) and offlineimap
// (usecompression), mail compared byte for byte both ways; and the
// memory 200 compressed idle connections cost.
//
// Debian's neomutt (20220429) is built without zlib (no imap_deflate),
// so it cannot take part.

// compressOKs is how many COMPRESS commands the server answered OK: a
// client test proves compression was on, not merely offered.
func compressOKs(t *testing.T, ts *testServer) int {
	t.Helper()
	rec := httptest.NewRecorder()
	ts.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	m := regexp.MustCompile(`(?m)^storaged_commands_total\{command="COMPRESS",proto="imap",status="OK"\} (\d+)`).FindStringSubmatch(rec.Body.String())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// mailboxBodies are a mailbox's messages through the server's store, in
// UID order.
func mailboxBodies(t *testing.T, ts *testServer, user, mailbox string) [][]byte {
	t.Helper()
	acct, err := ts.Accounts.Open(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := acct.Mailbox(mailbox)
	if err != nil {
		t.Fatal(err)
	}
	_, msgs, err := mb.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		out = append(out, readMessage(t)(mb.Open(m)))
	}
	return out
}

// compressMessages are what the client tests sync: small ones, a large
// one (longer than the 32 KiB window and than many buffers) and one
// with 8-bit text.
func compressMessages() [][]byte {
	var msgs [][]byte
	for i := 0; i < 40; i++ {
		msgs = append(msgs, []byte(fmt.Sprintf("From: s%d@example.net\r\nSubject: message %d\r\nMessage-ID: <%d@compress.test>\r\n\r\nbody %d\r\n", i, i, i, i)))
	}
	var big bytes.Buffer
	big.WriteString("From: big@example.net\r\nSubject: big\r\nMessage-ID: <big@compress.test>\r\n\r\n")
	for i := 0; big.Len() < 1500<<10; i++ {
		fmt.Fprintf(&big, "%06d %x the quick brown fox, line of a long message\r\n", i, uint32(i)*2654435761)
	}
	msgs = append(msgs, big.Bytes())
	msgs = append(msgs, []byte("From: u@example.net\r\nSubject: =?UTF-8?Q?caf=C3=A9?=\r\nMessage-ID: <8bit@compress.test>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9e\r\n"))
	return msgs
}

func appendAll(t *testing.T, ts *testServer, user string, msgs [][]byte) {
	t.Helper()
	inbox := acctMailbox(t, ts, user)
	for _, m := range msgs {
		if _, err := inbox.Append(context.Background(), m, store.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// lf is a message with LF line ends, as Maildir tools keep it.
func lf(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }

// maildirFiles are the messages of a local Maildir folder, LF line ends,
// sorted.
func maildirFiles(t *testing.T, dir string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, sub := range []string{"cur", "new"} {
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, lf(b))
		}
	}
	return sortedBodies(out)
}

func sortedBodies(bs [][]byte) [][]byte {
	sort.Slice(bs, func(i, j int) bool { return bytes.Compare(bs[i], bs[j]) < 0 })
	return bs
}

// sameMail compares two sets of messages by content, LF line ends.
func sameMail(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	var w [][]byte
	for _, m := range want {
		w = append(w, lf(m))
	}
	w = sortedBodies(w)
	if len(got) != len(w) {
		t.Fatalf("%s: %d messages, want %d", what, len(got), len(w))
	}
	for i := range got {
		if !bytes.Equal(got[i], w[i]) {
			t.Fatalf("%s: message %d differs (%d octets, want %d):\n%.300q\nwant\n%.300q", what, i, len(got[i]), len(w[i]), got[i], w[i])
		}
	}
}

// TestIMAPCompressPython: imaplib over zlib, every command flushed with
// Z_PARTIAL_FLUSH (what mbsync, neomutt and iOS Mail send), Z_SYNC_FLUSH
// or Z_FULL_FLUSH; testdata/imaplib_compress.py has the checks.
func TestIMAPCompressPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	for _, mode := range []string{"Z_PARTIAL_FLUSH", "Z_SYNC_FLUSH", "Z_FULL_FLUSH"} {
		t.Run(mode, func(t *testing.T) {
			ts := startServer(t, t.TempDir(), nil, "ann")
			out, err := exec.Command(py, "testdata/imaplib_compress.py", ts.imap, ts.lmtp, "ann", "secret-ann", mode).CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), "ok ") {
				t.Fatalf("imaplib COMPRESS: %v\n%s", err, out)
			}
			if n := compressOKs(t, ts); n != 1 {
				t.Fatalf("%d COMPRESS commands answered OK, want 1", n)
			}
			t.Log(strings.TrimSpace(string(out)))
		})
	}
}

// TestMbsyncCompress: mbsync syncs down and up with COMPRESS=DEFLATE on
// (isync 1.4 uses it whenever the server offers it), messages byte for
// byte.
func TestMbsyncCompress(t *testing.T) {
	mbsync, err := exec.LookPath("mbsync")
	if err != nil {
		t.Skip("mbsync (Debian package isync) is not installed; make test installs it when apt-get can")
	}
	dir := t.TempDir()
	ts := startServer(t, dir, nil, "ann")
	msgs := compressMessages()
	appendAll(t, ts, "ann", msgs)
	local := filepath.Join(dir, "local")
	os.MkdirAll(local, 0o700)
	host, port, _ := strings.Cut(ts.imap, ":")
	rc := filepath.Join(dir, "mbsyncrc")
	os.WriteFile(rc, []byte(fmt.Sprintf(`IMAPAccount test
Host %s
Port %s
User ann
Pass secret-ann
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account test

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel test
Far :remote:
Near :local:
Patterns INBOX
Create Both
Expunge Both
SyncState *
`, host, port, local, local)), 0o600)
	run := func() string {
		t.Helper()
		out, err := exec.Command(mbsync, "-V", "-D", "-c", rc, "-a").CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s", err, tailOf(out))
		}
		return string(out)
	}
	// mbsync marks each message it copies with an X-TUID header line.
	tuid := regexp.MustCompile(`(?m)^X-TUID: \S+\r?\n`)
	untagged := func(bs [][]byte) [][]byte {
		for i, b := range bs {
			bs[i] = tuid.ReplaceAll(b, nil)
		}
		return sortedBodies(bs)
	}
	log := run()
	if n := compressOKs(t, ts); n < 1 {
		t.Fatalf("mbsync did not turn COMPRESS on:\n%s", tailOf([]byte(log)))
	}
	sameMail(t, "down", untagged(maildirFiles(t, filepath.Join(local, "INBOX"))), msgs)
	// Up: a large message written locally.
	var up bytes.Buffer
	up.WriteString("From: local@example.net\nSubject: written locally\nMessage-ID: <up@compress.test>\n\n")
	for i := 0; up.Len() < 600<<10; i++ {
		fmt.Fprintf(&up, "%d uploaded line %x\n", i, i*7919)
	}
	os.WriteFile(filepath.Join(local, "INBOX", "new", "1700000000.up.host"), up.Bytes(), 0o600)
	run()
	got := mailboxBodies(t, ts, "ann", "INBOX")
	var all [][]byte
	for _, m := range got {
		all = append(all, lf(m))
	}
	sameMail(t, "up", untagged(all), append(append([][]byte{}, msgs...), up.Bytes()))
	if n := compressOKs(t, ts); n < 2 {
		t.Fatalf("%d COMPRESS in two runs", n)
	}
}

// TestOfflineimapCompress: offlineimap (usecompression = yes; imaplib2,
// Z_SYNC_FLUSH) syncs down and up, messages byte for byte.
func TestOfflineimapCompress(t *testing.T) {
	offlineimap, err := exec.LookPath("offlineimap")
	if err != nil {
		t.Skip("offlineimap (Debian package offlineimap3) is not installed; make test installs it when apt-get can")
	}
	dir := t.TempDir()
	ts := startServer(t, dir, nil, "ann")
	msgs := compressMessages()
	appendAll(t, ts, "ann", msgs)
	local := filepath.Join(dir, "local")
	host, port, _ := strings.Cut(ts.imap, ":")
	rc := filepath.Join(dir, "offlineimaprc")
	os.WriteFile(rc, []byte(fmt.Sprintf(`[general]
accounts = test
metadata = %s/meta
ui = basic

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = %s

[Repository remote]
type = IMAP
remotehost = %s
remoteport = %s
remoteuser = ann
remotepass = secret-ann
ssl = no
starttls = no
usecompression = yes
folderfilter = lambda name: name == "INBOX"
`, dir, local, host, port)), 0o600)
	run := func() {
		t.Helper()
		cmd := exec.Command(offlineimap, "-c", rc, "-o", "-u", "basic")
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil || bytes.Contains(out, []byte("ERROR")) {
			t.Fatalf("offlineimap: %v\n%s", err, tailOf(out))
		}
	}
	run()
	if n := compressOKs(t, ts); n < 1 {
		t.Fatal("offlineimap did not turn COMPRESS on")
	}
	sameMail(t, "down", maildirFiles(t, filepath.Join(local, "INBOX")), msgs)
	var up bytes.Buffer
	up.WriteString("From: local@example.net\nSubject: written locally\nMessage-ID: <up@compress.test>\n\n")
	for i := 0; up.Len() < 600<<10; i++ {
		fmt.Fprintf(&up, "%d uploaded line %x\n", i, i*7919)
	}
	os.WriteFile(filepath.Join(local, "INBOX", "new", "1700000000.up.host"), up.Bytes(), 0o600)
	run()
	var all [][]byte
	for _, m := range mailboxBodies(t, ts, "ann", "INBOX") {
		all = append(all, lf(m))
	}
	// offlineimap adds its X-OfflineIMAP header to what it uploads.
	var uploaded []byte
	for i, m := range all {
		if bytes.Contains(m, []byte("Message-ID: <up@compress.test>")) {
			uploaded = m
			all = append(all[:i], all[i+1:]...)
			break
		}
	}
	sameMail(t, "kept", sortedBodies(all), msgs)
	if !bytes.HasSuffix(uploaded, up.Bytes()[bytes.Index(up.Bytes(), []byte("Subject:")):]) {
		t.Fatalf("uploaded message changed (%d octets):\n%.300q", len(uploaded), uploaded)
	}
	if n := compressOKs(t, ts); n < 2 {
		t.Fatalf("%d COMPRESS in two runs", n)
	}
}

func tailOf(b []byte) []byte {
	if len(b) > 6000 {
		return b[len(b)-6000:]
	}
	return b
}

// idleClients is a Python client holding n connections in IDLE on
// INBOX, first n plain ones, then n compressed; it prints "ready" after
// each n and waits for a line on its standard input before going on
// (and before exiting).
const idleClients = `
import socket, sys, zlib
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conns = []
def readuntil(s, z, tag):
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            raise SystemExit("closed")
        buf += z[1].decompress(d) if z else d
        if tag in buf:
            return buf
def idle(compress):
    s = socket.create_connection((host, port))
    readuntil(s, None, b"\r\n")
    s.sendall(b"a LOGIN ann secret-ann\r\n")
    readuntil(s, None, b"a OK")
    z = None
    if compress:
        s.sendall(b"b COMPRESS DEFLATE\r\n")
        readuntil(s, None, b"b OK DEFLATE active\r\n")
        z = (zlib.compressobj(6, zlib.DEFLATED, -15), zlib.decompressobj(-15))
    def send(data):
        s.sendall(z[0].compress(data) + z[0].flush(zlib.Z_PARTIAL_FLUSH) if z else data)
    send(b"c SELECT INBOX\r\n")
    readuntil(s, z, b"c OK")
    send(b"d IDLE\r\n")
    readuntil(s, z, b"+ idling")
    conns.append((s, z))
for compress in (False, True):
    for i in range(n):
        idle(compress)
    print("ready", flush=True)
    sys.stdin.readline()
`

// TestIMAPCompressIdleRSS: 200 connections in IDLE cost about the same
// memory compressed as not: an idling connection keeps only its
// inflater (the client's 32 KiB window), not its ~800 KiB deflater.
// The figures are logged; the bound is generous (the race detector's
// shadow memory, the garbage collector's slack).
func TestIMAPCompressIdleRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("400 connections")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	const n = 200
	// 200 sessions of one user from one address: past Dovecot's
	// mail_max_userip_connections default (10), which this lifts as an
	// admin would for a webmail.
	ts := startServer(t, t.TempDir(), func(c *config.Config) { c.IMAP.MaxConnectionsPerUserAddress = 0 }, "ann")
	host, port, _ := strings.Cut(ts.imap, ":")
	settled := func() int64 {
		runtime.GC()
		runtime.GC()
		debug.FreeOSMemory()
		return vmRSS(t)
	}
	// Warm up: the account open, its index mapped.
	im := ts.login(t, "ann", nil)
	if _, err := im.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	im.Close()
	cmd := exec.Command(py, "-c", idleClients, host, port, strconv.Itoa(n))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	base := settled()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	out := bufio.NewReader(stdout)
	ready := func() int64 {
		t.Helper()
		if line, err := out.ReadString('\n'); err != nil || line != "ready\n" {
			cmd.Process.Kill()
			t.Fatalf("idle clients: %q %v", line, err)
		}
		return settled()
	}
	withPlain := ready()
	stdin.Write([]byte("go\n"))
	withBoth := ready()
	plain, compressed := withPlain-base, withBoth-withPlain
	t.Logf("%d idle IMAP connections: RSS +%d KiB plain (%d KiB each), +%d KiB compressed (%d KiB each)",
		n, plain>>10, plain/n>>10, compressed>>10, compressed/n>>10)
	// Holding its deflater, each costs about 680 KiB more (measured).
	limit := int64(300 << 10)
	if raceEnabled {
		limit = 600 << 10 // about 230 KiB more under the race detector
	}
	if extra := (compressed - plain) / n; extra > limit {
		t.Fatalf("a compressed idle connection costs %d KiB more than a plain one: its deflater is not given back", extra>>10)
	}
}
