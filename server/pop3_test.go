package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/folder"
)

// rawPOP3 is a line-level POP3 client: it checks the server's exact
// bytes, which a library would smooth over.
type rawPOP3 struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dialPOP3(t testing.TB, addr string) *rawPOP3 {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawPOP3{t: t, conn: conn, r: bufio.NewReader(conn)}
	if g := c.line(); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("greeting %q", g)
	}
	return c
}

func (c *rawPOP3) line() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("line without CRLF: %q", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (c *rawPOP3) send(cmd string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(cmd + "\r\n")); err != nil {
		c.t.Fatal(err)
	}
}

// cmd sends a command and returns its status line.
func (c *rawPOP3) cmd(cmd string) string {
	c.t.Helper()
	c.send(cmd)
	return c.line()
}

// ok sends a command that must succeed.
func (c *rawPOP3) ok(cmd string) string {
	c.t.Helper()
	l := c.cmd(cmd)
	if !strings.HasPrefix(l, "+OK") {
		c.t.Fatalf("%s: %s", cmd, l)
	}
	return l
}

// multi reads a multi-line body up to its "." line, raw (still stuffed).
func (c *rawPOP3) multi() []byte {
	c.t.Helper()
	var b bytes.Buffer
	for {
		c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		l, err := c.r.ReadBytes('\n')
		if err != nil {
			c.t.Fatalf("read body: %v", err)
		}
		if string(l) == ".\r\n" {
			return b.Bytes()
		}
		b.Write(l)
	}
}

// unstuff undoes dot-stuffing.
func unstuff(b []byte) []byte {
	var out []byte
	for _, l := range bytes.SplitAfter(b, []byte("\n")) {
		out = append(out, bytes.TrimPrefix(l, []byte("."))...)
	}
	return out
}

func (c *rawPOP3) login(user string) {
	c.t.Helper()
	c.ok("USER " + user)
	c.ok("PASS secret-" + user)
}

// closed reports whether the server closed the connection.
func (c *rawPOP3) closed() bool {
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.r.ReadByte()
	return err != nil
}

// deliverMsgs delivers msgs to user over LMTP.
func deliverMsgs(t *testing.T, ts *testServer, user string, msgs ...[]byte) {
	t.Helper()
	c := ts.lmtpClient()
	defer c.Close()
	for _, m := range msgs {
		res, err := send(c, "sender@example.net", []string{user + "@example.org"}, m)
		if err != nil || res[user+"@example.org"] != nil {
			t.Fatalf("deliver: %v %v", err, res)
		}
	}
}

func testMessage(i int) []byte {
	return []byte(fmt.Sprintf("From: a@example.net\r\nTo: b@example.org\r\nSubject: m%d\r\n\r\nline one of %d\r\n.starts with a dot\r\n..two dots\r\n.\r\nlast\r\n", i, i))
}

// inboxFiles returns user's INBOX messages in canonical form, in UID
// order.
func inboxFiles(t *testing.T, ts *testServer, user string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, m := range ts.inboxInUIDOrder(t, user) {
		out = append(out, m.Bytes)
	}
	return out
}

func TestPOP3Session(t *testing.T) { eachFormat(t, testPOP3Session) }

func testPOP3Session(t *testing.T, format string) {
	dir := t.TempDir()
	ts := startServer(t, dir, withFormat(format), "ann")
	var msgs [][]byte
	for i := 1; i <= 3; i++ {
		msgs = append(msgs, testMessage(i))
	}
	msgs = append(msgs, []byte("Subject: bare LF\n\nbody\n.\n"))
	deliverMsgs(t, ts, "ann", msgs...)
	delivered := inboxFiles(t, ts, "ann")
	if len(delivered) != 4 {
		t.Fatalf("%d files", len(delivered))
	}

	c := dialPOP3(t, ts.pop3)
	c.ok("CAPA")
	capa := string(c.multi())
	for _, want := range []string{"TOP", "UIDL", "USER", "SASL PLAIN LOGIN", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER", "IMPLEMENTATION storaged"} {
		if !strings.Contains(capa, want+"\r\n") {
			t.Errorf("CAPA lacks %s:\n%s", want, capa)
		}
	}
	if l := c.cmd("STAT"); !strings.HasPrefix(l, "-ERR") {
		t.Errorf("STAT before login: %s", l)
	}
	if l := c.cmd("PASS x"); !strings.HasPrefix(l, "-ERR") {
		t.Errorf("PASS before USER: %s", l)
	}
	c.ok("USER ann")
	if l := c.cmd("PASS wrong"); !strings.HasPrefix(l, "-ERR [AUTH]") {
		t.Errorf("wrong password: %s", l)
	}
	c.login("ann")

	var total int64
	for _, m := range delivered {
		total += int64(len(m))
	}
	if l := c.ok("STAT"); l != fmt.Sprintf("+OK 4 %d", total) {
		t.Errorf("STAT: %s, want 4 %d", l, total)
	}
	c.ok("LIST")
	list := strings.Split(strings.TrimSpace(string(c.multi())), "\r\n")
	for i, l := range list {
		if l != fmt.Sprintf("%d %d", i+1, len(delivered[i])) {
			t.Errorf("LIST line %q, want size %d", l, len(delivered[i]))
		}
	}
	if l := c.ok("LIST 2"); l != fmt.Sprintf("+OK 2 %d", len(delivered[1])) {
		t.Errorf("LIST 2: %s", l)
	}
	c.ok("UIDL")
	uidls := strings.Split(strings.TrimSpace(string(c.multi())), "\r\n")
	if len(uidls) != 4 {
		t.Fatalf("UIDL: %q", uidls)
	}
	seen := map[string]bool{}
	for i, l := range uidls {
		n, u, _ := strings.Cut(l, " ")
		if n != strconv.Itoa(i+1) || len(u) != 16 || seen[u] {
			t.Errorf("UIDL line %q", l)
		}
		seen[u] = true
	}
	if l := c.ok("UIDL 3"); l != "+OK "+uidls[2] {
		t.Errorf("UIDL 3: %s, want %s", l, uidls[2])
	}

	for i, want := range delivered {
		l := c.ok(fmt.Sprintf("RETR %d", i+1))
		raw := c.multi()
		got := unstuff(raw)
		if !bytes.Equal(got, want) {
			t.Errorf("RETR %d:\n%q\nwant\n%q", i+1, got, want)
		}
		if i < 3 && !bytes.Contains(raw, []byte("\r\n..starts with a dot\r\n...two dots\r\n..\r\n")) {
			t.Errorf("RETR %d is not dot-stuffed: %q", i+1, raw)
		}
		if l != fmt.Sprintf("+OK %d octets", len(delivered[i])) {
			t.Errorf("RETR status %q", l)
		}
	}

	// TOP: the header, the blank line, then n body lines.
	c.ok("TOP 1 0")
	hdr, _, _ := bytes.Cut(delivered[0], []byte("\r\n\r\n"))
	if got := unstuff(c.multi()); string(got) != string(hdr)+"\r\n\r\n" {
		t.Errorf("TOP 1 0: %q", got)
	}
	c.ok("TOP 1 2")
	if got := unstuff(c.multi()); string(got) != string(hdr)+"\r\n\r\nline one of 1\r\n.starts with a dot\r\n" {
		t.Errorf("TOP 1 2: %q", got)
	}
	c.ok("TOP 1 100")
	if got := unstuff(c.multi()); !bytes.Equal(got, delivered[0]) {
		t.Errorf("TOP 1 100: %q", got)
	}

	// Errors: each a -ERR, the session goes on.
	for _, cmd := range []string{"RETR 0", "RETR 5", "RETR x", "RETR -1", "RETR", "LIST 9", "TOP 1", "TOP 1 -1", "DELE 99", "XYZZY", "UIDL 1 2", "USER bob"} {
		if l := c.cmd(cmd); !strings.HasPrefix(l, "-ERR ") {
			t.Errorf("%s: %s", cmd, l)
		}
	}
	c.ok("NOOP")

	c.ok("DELE 2")
	if l := c.cmd("DELE 2"); !strings.HasPrefix(l, "-ERR") {
		t.Errorf("second DELE: %s", l)
	}
	if l := c.cmd("RETR 2"); !strings.HasPrefix(l, "-ERR") {
		t.Errorf("RETR of a deleted message: %s", l)
	}
	if l := c.ok("STAT"); l != fmt.Sprintf("+OK 3 %d", total-int64(len(delivered[1]))) {
		t.Errorf("STAT after DELE: %s", l)
	}
	c.ok("LIST")
	if got := string(c.multi()); strings.Contains(got, "\r\n2 ") || strings.HasPrefix(got, "2 ") {
		t.Errorf("LIST shows a deleted message: %q", got)
	}
	c.ok("RSET")
	if l := c.ok("STAT"); l != fmt.Sprintf("+OK 4 %d", total) {
		t.Errorf("STAT after RSET: %s", l)
	}
	c.ok("DELE 1")
	c.ok("DELE 3")
	c.ok("QUIT")
	if !c.closed() {
		t.Error("QUIT did not close the connection")
	}

	// UPDATE removed 1 and 3, kept 2 and 4 (now 1 and 2) with their UIDLs.
	c = dialPOP3(t, ts.pop3)
	c.login("ann")
	c.ok("UIDL")
	if got := strings.Split(strings.TrimSpace(string(c.multi())), "\r\n"); len(got) != 2 ||
		got[0] != "1 "+strings.Fields(uidls[1])[1] || got[1] != "2 "+strings.Fields(uidls[3])[1] {
		t.Errorf("UIDL after QUIT: %q (was %q)", got, uidls)
	}
	disk := onDisk(t, ts.cfg, "ann", "INBOX")
	if len(disk) != 2 {
		t.Errorf("%d messages on disk after DELE+QUIT, want 2", len(disk))
	}
	// The retrieved messages that were kept are \Seen now, in the index
	// and in the files.
	for _, m := range disk {
		if !m.Flags.Sys.Has(folder.Seen) {
			t.Errorf("kept retrieved message %s is not \\Seen on disk", m.Name)
		}
	}
	for _, m := range ts.inboxInUIDOrder(t, "ann") {
		if !m.Flags.Sys.Has(folder.Seen) {
			t.Errorf("kept retrieved message %s is not \\Seen in the index", m.Key)
		}
	}
}

func TestPOP3SASLAndPipelining(t *testing.T) { eachFormat(t, testPOP3SASLAndPipelining) }

func testPOP3SASLAndPipelining(t *testing.T, format string) {
	ts := startServer(t, t.TempDir(), withFormat(format), "ann")
	deliverMsgs(t, ts, "ann", testMessage(1), testMessage(2))

	c := dialPOP3(t, ts.pop3)
	plain := func(authz, authc, pass string) string {
		return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + authc + "\x00" + pass))
	}
	if l := c.cmd("AUTH PLAIN " + plain("", "ann", "nope")); !strings.HasPrefix(l, "-ERR [AUTH]") {
		t.Errorf("AUTH PLAIN wrong password: %s", l)
	}
	if l := c.cmd("AUTH PLAIN " + plain("bob", "ann", "secret-ann")); !strings.HasPrefix(l, "-ERR [AUTH]") {
		t.Errorf("AUTH PLAIN as someone else: %s", l)
	}
	if l := c.cmd("AUTH CRAM-MD5"); !strings.HasPrefix(l, "-ERR") {
		t.Errorf("unknown mechanism: %s", l)
	}
	if l := c.cmd("AUTH PLAIN !!!"); !strings.HasPrefix(l, "-ERR") {
		t.Errorf("bad base64: %s", l)
	}
	if l := c.cmd("AUTH PLAIN"); l != "+ " {
		t.Fatalf("AUTH PLAIN without initial response: %q", l)
	}
	if l := c.cmd("*"); !strings.HasPrefix(l, "-ERR") {
		t.Errorf("cancelled AUTH: %s", l)
	}
	c.ok("AUTH")
	if m := string(c.multi()); m != "PLAIN\r\nLOGIN\r\n" {
		t.Errorf("AUTH mechanism list %q", m)
	}
	if l := c.cmd("AUTH PLAIN"); l != "+ " {
		t.Fatalf("AUTH PLAIN: %q", l)
	}
	c.ok(plain("ann", "ann", "secret-ann"))

	// Pipelining: many commands in one write, answered in order.
	var batch strings.Builder
	for _, cmd := range []string{"STAT", "LIST 1", "UIDL 2", "RETR 1", "NOOP", "TOP 2 0", "STAT"} {
		batch.WriteString(cmd + "\r\n")
	}
	if _, err := c.conn.Write([]byte(batch.String())); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"+OK 2 ", "+OK 1 ", "+OK 2 ", "+OK ", "+OK", "+OK", "+OK 2 "} {
		l := c.line()
		if !strings.HasPrefix(l, want) {
			t.Fatalf("pipelined answer %q, want %q", l, want)
		}
		if strings.HasSuffix(l, "octets") || strings.HasPrefix(l, "+OK top") {
			c.multi()
		}
	}
	c.ok("QUIT")
}

func TestPOP3LimitsAndDrops(t *testing.T) { eachFormat(t, testPOP3LimitsAndDrops) }

func testPOP3LimitsAndDrops(t *testing.T, format string) {
	dir := t.TempDir()
	ts := startServer(t, dir, withFormat(format, func(cfg *config.Config) {
		cfg.POP3.IdleTimeout = config.Duration(300 * time.Millisecond)
	}), "ann")
	deliverMsgs(t, ts, "ann", testMessage(1), testMessage(2))

	// A line over 255 octets ends the session.
	c := dialPOP3(t, ts.pop3)
	if l := c.cmd("USER " + strings.Repeat("a", 300)); !strings.HasPrefix(l, "-ERR") {
		t.Errorf("long line: %s", l)
	}
	if !c.closed() {
		t.Error("a 300-octet line did not close the session")
	}
	// 255 octets with CRLF is still a line.
	c = dialPOP3(t, ts.pop3)
	if l := c.cmd("NOOP" + strings.Repeat(" ", 249)); !strings.HasPrefix(l, "-ERR") || strings.Contains(l, "long") {
		t.Errorf("255-octet line: %s", l)
	}

	// An idle session is closed.
	c = dialPOP3(t, ts.pop3)
	if l := c.line(); !strings.HasPrefix(l, "-ERR") {
		t.Errorf("idle: %s", l)
	}
	if !c.closed() {
		t.Error("idle session still open")
	}

	// With lock_session, a dropped connection deletes nothing and frees
	// the maildrop: a login right after it gets the maildrop (waiting,
	// if need be, until the server has seen the drop). The holder keeps
	// the default idle timeout here, so only the drop can free it.
	ts.stop()
	ts = startServer(t, dir, withFormat(format, func(cfg *config.Config) { cfg.POP3.LockSession = true }), "ann")
	c = dialPOP3(t, ts.pop3)
	c.login("ann")
	c.ok("DELE 1")
	c.ok("DELE 2")
	in := dialPOP3(t, ts.pop3)
	in.ok("USER ann")
	if l := in.cmd("PASS secret-ann"); !strings.HasPrefix(l, "-ERR [IN-USE]") {
		t.Errorf("second session: %s", l)
	}
	c.conn.Close()
	in = dialPOP3(t, ts.pop3)
	in.ok("USER ann")
	files := inboxFiles(t, ts, "ann")
	if l := in.cmd("PASS secret-ann"); l != "+OK maildrop has 2 messages ("+strconv.Itoa(len(files[0])+len(files[1]))+" octets)" {
		t.Errorf("login right after a dropped session: %s", l)
	}
	if n := ts.stored(t, "ann", "INBOX"); n != 2 {
		t.Errorf("%d messages after a dropped session, want 2", n)
	}
}

// TestPOP3SnapshotAndIMAP: deliveries during a session do not change its
// listing, and DELE+QUIT reaches an IMAP session IDLing on INBOX.
func TestPOP3SnapshotAndIMAP(t *testing.T) { eachFormat(t, testPOP3SnapshotAndIMAP) }

func testPOP3SnapshotAndIMAP(t *testing.T, format string) {
	ts := startServer(t, t.TempDir(), withFormat(format), "ann")
	deliverMsgs(t, ts, "ann", testMessage(1), testMessage(2), testMessage(3))

	expunged := make(chan uint32, 10)
	ic, err := imapclient.DialInsecure(ts.imap, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Expunge: func(seq uint32) { expunged <- seq },
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login("ann", "secret-ann").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := ic.Idle()
	if err != nil {
		t.Fatal(err)
	}

	c := dialPOP3(t, ts.pop3)
	c.login("ann")
	before := c.ok("STAT")
	deliverMsgs(t, ts, "ann", testMessage(4))
	if l := c.ok("STAT"); l != before {
		t.Errorf("a delivery changed the session's maildrop: %s, was %s", l, before)
	}
	if l := c.cmd("RETR 4"); !strings.HasPrefix(l, "-ERR") {
		t.Errorf("RETR of a message delivered after login: %s", l)
	}
	c.ok("DELE 2")
	c.ok("QUIT")
	select {
	case seq := <-expunged:
		if seq != 2 {
			t.Errorf("IMAP got EXPUNGE %d, want 2", seq)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the IDLE session got no EXPUNGE")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := ic.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 3 {
		t.Fatalf("INBOX after POP3 QUIT: %v %v", st, err)
	}

	// A message IMAP expunges during a POP3 session answers RETR with
	// -ERR; the session goes on.
	c = dialPOP3(t, ts.pop3)
	c.login("ann")
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := ic.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := ic.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	if l := c.cmd("RETR 1"); !strings.HasPrefix(l, "-ERR") {
		t.Errorf("RETR of a message IMAP expunged: %s", l)
	}
	c.ok("RETR 2")
	c.multi()
	c.ok("QUIT")
}

// TestPOP3UIDLStable: UIDLs are the same in two sessions and after a
// restart.
func TestPOP3UIDLStable(t *testing.T) { eachFormat(t, testPOP3UIDLStable) }

func testPOP3UIDLStable(t *testing.T, format string) {
	dir := t.TempDir()
	ts := startServer(t, dir, withFormat(format), "ann")
	deliverMsgs(t, ts, "ann", testMessage(1), testMessage(2), testMessage(3))
	uidl := func(ts *testServer) string {
		c := dialPOP3(t, ts.pop3)
		c.login("ann")
		c.ok("UIDL")
		out := string(c.multi())
		c.ok("QUIT")
		return out
	}
	first := uidl(ts)
	if second := uidl(ts); second != first {
		t.Errorf("UIDL changed between sessions:\n%s\n%s", first, second)
	}
	ts.stop()
	ts = startServer(t, dir, withFormat(format), "ann")
	if again := uidl(ts); again != first {
		t.Errorf("UIDL changed across a restart:\n%s\n%s", first, again)
	}
	// A file another program drops in is synced without re-numbering the
	// others.
	ts.dropExternal(t, "ann", "INBOX", []byte("Subject: dropped\n\nx\n"))
	if again := uidl(ts); !strings.HasPrefix(again, first) || strings.Count(again, "\n") != 4 {
		t.Errorf("UIDL after an external file:\n%s\nwas\n%s", again, first)
	}
}

// TestPOP3Python runs testdata/poplib_suite.py, an independent client.
func TestPOP3Python(t *testing.T) { eachFormat(t, testPOP3Python) }

func testPOP3Python(t *testing.T, format string) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	ts := startServer(t, t.TempDir(), withFormat(format), "ann")
	out, err := exec.Command(py, "testdata/poplib_suite.py", ts.pop3, ts.lmtp, "ann", "secret-ann").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok ") {
		t.Fatalf("poplib suite: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(string(out)))
}

// TestPOP3Shutdown: a server shutdown ends sessions without deleting
// what they marked.
func TestPOP3Shutdown(t *testing.T) { eachFormat(t, testPOP3Shutdown) }

func testPOP3Shutdown(t *testing.T, format string) {
	dir := t.TempDir()
	ts := startServer(t, dir, withFormat(format), "ann")
	deliverMsgs(t, ts, "ann", testMessage(1))
	c := dialPOP3(t, ts.pop3)
	c.login("ann")
	c.ok("DELE 1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	ts.Server = nil
	if l := c.line(); !strings.HasPrefix(l, "-ERR [SYS/TEMP]") {
		t.Errorf("session at shutdown got %q", l)
	}
	if n := ts.stored(t, "ann", "INBOX"); n != 1 {
		t.Errorf("%d messages after shutdown, want 1", n)
	}
}
