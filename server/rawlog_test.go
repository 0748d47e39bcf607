package server_test

import (
	"bufio"
	"compress/flate"
	"encoding/base64"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/config"
)

// The per-user protocol trace ([log] rawlog_users, Dovecot's rawlog),
// over real sockets: what a listed user's sessions read and write after
// login lands in rawlog_dir/<user>/<proto>-…-<session>.in and .out;
// the login itself, its password and anything of another user never do.

// traceIMAP is an IMAP client of raw lines, so the test knows every octet
// the server was sent; after COMPRESS it speaks DEFLATE.
type traceIMAP struct {
	t  *testing.T
	c  net.Conn
	r  *bufio.Reader
	w  io.Writer
	zw *flate.Writer // once COMPRESS is on
}

func dialTraceIMAP(t *testing.T, addr string) *traceIMAP {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	m := &traceIMAP{t: t, c: c, r: bufio.NewReader(c), w: c}
	m.line() // greeting
	return m
}

func (m *traceIMAP) line() string {
	m.t.Helper()
	l, err := m.r.ReadString('\n')
	if err != nil {
		m.t.Fatalf("read: %v (after %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// send writes raw octets (one or more command lines, pipelined).
func (m *traceIMAP) send(s string) {
	m.t.Helper()
	if _, err := io.WriteString(m.w, s); err != nil {
		m.t.Fatal(err)
	}
	if m.zw != nil {
		if err := m.zw.Flush(); err != nil {
			m.t.Fatal(err)
		}
	}
}

// wait reads up to the tagged response of tag and returns it.
func (m *traceIMAP) wait(tag string) string {
	m.t.Helper()
	for {
		if l := m.line(); strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				m.t.Fatalf("%s: %s", tag, l)
			}
			return l
		}
	}
}

func (m *traceIMAP) cmd(tag, line string) string {
	m.t.Helper()
	m.send(tag + " " + line + "\r\n")
	return m.wait(tag)
}

// compress turns COMPRESS=DEFLATE on (RFC 4978) both ways.
func (m *traceIMAP) compress(tag string) {
	m.t.Helper()
	m.cmd(tag, "COMPRESS DEFLATE")
	zw, err := flate.NewWriter(m.c, flate.DefaultCompression)
	if err != nil {
		m.t.Fatal(err)
	}
	m.zw, m.w = zw, zw
	m.r = bufio.NewReader(flate.NewReader(m.r))
}

// traceFiles lists the files of user's traces whose names start with
// proto, with each file's contents.
func traceFiles(t *testing.T, dir, user, proto string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, user))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), proto+"-") {
			continue
		}
		p := filepath.Join(dir, user, e.Name())
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != 0o600 {
			t.Errorf("%s: mode %v, want -rw-------", p, st.Mode())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

// pairs groups trace files into sessions: name without suffix → [in, out].
func pairs(t *testing.T, files map[string]string) map[string][2]string {
	t.Helper()
	out := map[string][2]string{}
	for name, body := range files {
		stem, suffix := strings.TrimSuffix(name, filepath.Ext(name)), filepath.Ext(name)
		p := out[stem]
		switch suffix {
		case ".in":
			p[0] = body
		case ".out":
			p[1] = body
		default:
			t.Errorf("unexpected trace file %s", name)
		}
		out[stem] = p
	}
	for stem := range out {
		for _, suffix := range []string{".in", ".out"} {
			if _, ok := files[stem+suffix]; !ok {
				t.Errorf("%s%s missing", stem, suffix)
			}
		}
	}
	return out
}

// sessionWith returns the one traced session whose input contains s.
func sessionWith(t *testing.T, sessions map[string][2]string, s string) [2]string {
	t.Helper()
	var found []string
	for stem, p := range sessions {
		if strings.Contains(p[0], s) {
			found = append(found, stem)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d traced sessions read %q, want 1: %v", len(found), s, slices.Collect(maps.Keys(sessions)))
	}
	return sessions[found[0]]
}

func mustContain(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

func mustNotContain(t *testing.T, what, got string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(got, b) {
			t.Errorf("%s holds %q, which it must not:\n%s", what, b, got)
		}
	}
}

// printable: a trace of the plaintext protocol has no compressed or
// encrypted octets in it.
func printable(t *testing.T, what, s string) {
	t.Helper()
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 || c > 0x7e) && c != '\r' && c != '\n' {
			t.Errorf("%s: octet %#02x at %d: not the plaintext protocol:\n%q", what, c, i, s)
			return
		}
	}
}

func TestRawlog(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, func(c *config.Config) { c.Log.RawlogUsers = []string{"alice"} }, "alice", "bob")
	rawlogDir := ts.cfg.Log.RawlogDir
	if rawlogDir != filepath.Join(dir, "rawlog") {
		t.Fatalf("rawlog_dir %q, want data_dir/rawlog", rawlogDir)
	}
	plain := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00secret-alice"))

	// IMAP LOGIN with a command pipelined behind it: what the server
	// read ahead with the login is recorded, the login is not.
	m := dialTraceIMAP(t, ts.imap)
	m.send("a1 LOGIN alice secret-alice\r\na2 SELECT INBOX\r\n")
	m.wait("a1")
	m.wait("a2")
	m.cmd("a3", "NOOP")
	m.cmd("a4", "LOGOUT")

	// IMAP AUTHENTICATE PLAIN (SASL-IR), then COMPRESS: the trace goes
	// on in plaintext.
	m = dialTraceIMAP(t, ts.imap)
	m.cmd("b1", "AUTHENTICATE PLAIN "+plain)
	m.cmd("b2", "LIST \"\" *")
	m.compress("b3")
	m.cmd("b4", "SELECT INBOX")
	m.cmd("b5", "LOGOUT")

	// UNAUTHENTICATE (RFC 8437) with bob's login pipelined behind it:
	// alice's trace ends, and never holds bob's password.
	m = dialTraceIMAP(t, ts.imap)
	m.cmd("c1", "LOGIN alice secret-alice")
	m.cmd("c2", "STATUS INBOX (MESSAGES)")
	m.send("c3 UNAUTHENTICATE\r\nc4 LOGIN bob secret-bob\r\n")
	m.wait("c3")
	m.wait("c4")
	m.cmd("c5", "SELECT INBOX")
	m.cmd("c6", "LOGOUT")

	// bob is not listed: no trace at all.
	m = dialTraceIMAP(t, ts.imap)
	m.cmd("d1", "LOGIN bob secret-bob")
	m.cmd("d2", "SELECT INBOX")
	m.cmd("d3", "LOGOUT")

	// POP3 USER/PASS and AUTH PLAIN.
	for _, login := range [][]string{{"USER alice", "PASS secret-alice"}, {"AUTH PLAIN " + plain}} {
		p := dialTracePOP3(t, ts.pop3)
		for _, l := range login {
			p.cmd(l)
		}
		p.cmd("STAT")
		p.cmd("UIDL")
		p.cmd("QUIT")
	}
	p := dialTracePOP3(t, ts.pop3)
	p.cmd("USER bob")
	p.cmd("PASS secret-bob")
	p.cmd("QUIT")

	// ManageSieve AUTHENTICATE PLAIN, then UNAUTHENTICATE.
	s := ts.manageSieve(t)
	s.cmd(`AUTHENTICATE "PLAIN" "` + plain + `"`)
	s.cmd("LISTSCRIPTS")
	s.cmd(`HAVESPACE "x" 100`)
	s.cmd("UNAUTHENTICATE")
	s.cmd("LOGOUT")
	s = ts.manageSieve(t)
	s.cmd(`AUTHENTICATE "PLAIN" "` + base64.StdEncoding.EncodeToString([]byte("\x00bob\x00secret-bob")) + `"`)
	s.cmd("LISTSCRIPTS")
	s.cmd("LOGOUT")

	// Shutdown waits for every session to end, and a session's end
	// closes its trace: the files are complete now.
	ts.stop()

	st, err := os.Stat(filepath.Join(rawlogDir, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("alice's trace directory: mode %v, want 0700", st.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(rawlogDir, "bob")); !os.IsNotExist(err) {
		t.Errorf("bob is not listed, yet rawlog/bob: %v", err)
	}
	// (Exact contents are compared below; this catches the rest.)
	secrets := []string{"secret-alice", "secret-bob", plain, "LOGIN", "AUTHENTICATE PLAIN"}

	imapTraces := pairs(t, traceFiles(t, rawlogDir, "alice", "imap"))
	if len(imapTraces) != 3 {
		t.Fatalf("%d IMAP traces, want 3: %v", len(imapTraces), slices.Collect(maps.Keys(imapTraces)))
	}
	for stem, p := range imapTraces {
		mustNotContain(t, stem+".in", p[0], secrets...)
		printable(t, stem+".in", p[0])
		printable(t, stem+".out", p[1])
	}
	tr := sessionWith(t, imapTraces, "a2 SELECT INBOX")
	if want := "a2 SELECT INBOX\r\na3 NOOP\r\na4 LOGOUT\r\n"; tr[0] != want {
		t.Errorf("LOGIN session .in = %q, want %q", tr[0], want)
	}
	mustContain(t, "LOGIN session .out", tr[1], "* FLAGS (", "a2 OK [READ-WRITE]", "a3 OK", "* BYE", "a4 OK")
	mustNotContain(t, "LOGIN session .out", tr[1], "a1 ")

	tr = sessionWith(t, imapTraces, "b4 SELECT INBOX")
	if want := "b2 LIST \"\" *\r\nb3 COMPRESS DEFLATE\r\nb4 SELECT INBOX\r\nb5 LOGOUT\r\n"; tr[0] != want {
		t.Errorf("COMPRESS session .in = %q, want %q", tr[0], want)
	}
	mustContain(t, "COMPRESS session .out", tr[1], `* LIST (`, "b3 OK DEFLATE active", "* FLAGS (", "b4 OK", "b5 OK")
	mustNotContain(t, "COMPRESS session .out", tr[1], "b1 ")

	tr = sessionWith(t, imapTraces, "c2 STATUS")
	if want := "c2 STATUS INBOX (MESSAGES)\r\nc3 UNAUTHENTICATE\r\n"; tr[0] != want {
		t.Errorf("UNAUTHENTICATE session .in = %q, want %q", tr[0], want)
	}
	mustContain(t, "UNAUTHENTICATE session .out", tr[1], "* STATUS INBOX (MESSAGES 0)", "c3 OK")
	mustNotContain(t, "UNAUTHENTICATE session .out", tr[1], "c4 ", "c5 ")

	popTraces := pairs(t, traceFiles(t, rawlogDir, "alice", "pop3"))
	if len(popTraces) != 2 {
		t.Fatalf("%d POP3 traces, want 2", len(popTraces))
	}
	for stem, p := range popTraces {
		if want := "STAT\r\nUIDL\r\nQUIT\r\n"; p[0] != want {
			t.Errorf("%s.in = %q, want %q", stem, p[0], want)
		}
		if want := "+OK 0 0\r\n+OK\r\n.\r\n+OK storaged signing off (0 messages left)\r\n"; p[1] != want {
			t.Errorf("%s.out = %q, want %q", stem, p[1], want)
		}
	}

	sieveTraces := pairs(t, traceFiles(t, rawlogDir, "alice", "managesieve"))
	if len(sieveTraces) != 1 {
		t.Fatalf("%d ManageSieve traces, want 1", len(sieveTraces))
	}
	for stem, p := range sieveTraces {
		if want := "LISTSCRIPTS\r\nHAVESPACE \"x\" 100\r\nUNAUTHENTICATE\r\n"; p[0] != want {
			t.Errorf("%s.in = %q, want %q", stem, p[0], want)
		}
		mustContain(t, stem+".out", p[1], `OK "Listscripts completed."`, `OK "Unauthenticate completed."`)
		mustNotContain(t, stem+".out", p[1], "Logged in", "Logout")
	}
}

// A reload (SIGHUP) applies a new rawlog_users to the sessions that log
// in afterwards.
func TestRawlogReload(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, nil, "alice")
	ts.LoadConfig = func() (*config.Config, error) {
		// The same configuration, alice now listed.
		next := *ts.cfg
		next.Log.RawlogUsers = []string{"alice"}
		return &next, nil
	}
	m := dialTraceIMAP(t, ts.imap)
	m.cmd("a1", "LOGIN alice secret-alice")
	m.cmd("a2", "NOOP")
	m.cmd("a3", "LOGOUT")
	if _, err := ts.Reload(); err != nil {
		t.Fatal(err)
	}
	m = dialTraceIMAP(t, ts.imap)
	m.cmd("b1", "LOGIN alice secret-alice")
	m.cmd("b2", "NOOP")
	m.cmd("b3", "LOGOUT")
	ts.stop()
	traces := pairs(t, traceFiles(t, ts.cfg.Log.RawlogDir, "alice", "imap"))
	if len(traces) != 1 {
		t.Fatalf("%d traces, want 1 (the session after the reload)", len(traces))
	}
	sessionWith(t, traces, "b2 NOOP")
}

// tracePOP3 is a POP3 client of raw lines.
type tracePOP3 struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialTracePOP3(t *testing.T, addr string) *tracePOP3 {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	p := &tracePOP3{t: t, c: c, r: bufio.NewReader(c)}
	p.status()
	return p
}

func (p *tracePOP3) status() string {
	p.t.Helper()
	l, err := p.r.ReadString('\n')
	if err != nil {
		p.t.Fatal(err)
	}
	if !strings.HasPrefix(l, "+OK") {
		p.t.Fatalf("POP3: %q", l)
	}
	return l
}

// cmd sends a line and reads its answer; the multi-line answers of the
// commands the test sends (UIDL) are read to their dot.
func (p *tracePOP3) cmd(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.c, line+"\r\n"); err != nil {
		p.t.Fatal(err)
	}
	p.status()
	if line == "UIDL" {
		for {
			l, err := p.r.ReadString('\n')
			if err != nil {
				p.t.Fatal(err)
			}
			if l == ".\r\n" {
				return
			}
		}
	}
}
