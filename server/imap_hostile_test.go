package server_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// rawIMAP is a line-level IMAP client for inputs no library would send.
type rawIMAP struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	n    int
}

func (ts *testServer) raw(t *testing.T) *rawIMAP {
	t.Helper()
	conn, err := net.Dial("tcp", ts.imap)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawIMAP{t: t, conn: conn, r: bufio.NewReaderSize(conn, 1<<20)}
	c.line() // greeting
	return c
}

func (c *rawIMAP) line() string {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// cmd sends one tagged command and returns the untagged lines and the
// tagged status line.
func (c *rawIMAP) cmd(s string) ([]string, string) {
	c.t.Helper()
	c.n++
	tag := fmt.Sprintf("t%d", c.n)
	fmt.Fprintf(c.conn, "%s %s\r\n", tag, s)
	return c.until(tag)
}

func (c *rawIMAP) until(tag string) ([]string, string) {
	c.t.Helper()
	var untagged []string
	for {
		l := c.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimPrefix(l, tag+" ")
		}
		untagged = append(untagged, l)
	}
}

func TestIMAPHostileInput(t *testing.T) { eachFormat(t, testIMAPHostileInput) }

func testIMAPHostileInput(t *testing.T, format string) {
	ts := startServer(t, t.TempDir(), withFormat(format), "ann")
	c := ts.raw(t)
	if _, st := c.cmd("LOGIN ann secret-ann"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("login: %s", st)
	}
	cases := []struct{ cmd, want string }{
		{"FROBNICATE", "BAD"},
		{"SELECT ../../etc", "NO"},
		{"SELECT \"../../etc\"", "NO"},
		{"CREATE \"a\\\\b\"", "NO"},
		{"CREATE \"%\"", "NO"},
		{"CREATE \"a*b\"", "NO"},
		// 8-bit names need ENABLE UTF8=ACCEPT (RFC 6855 §3); before it
		// they are BAD; a name that is not modified UTF-7 is NO.
		{"CREATE \"\xc3\xa9t\xc3\xa9\"", "BAD"},
		{"CREATE \"\xff\xfe\"", "BAD"},
		{"CREATE &Jjo", "NO"},
		{"CREATE \"..\"", "NO"},
		{"CREATE \"/\"", "NO"},
		{"SELECT INBOX", "OK"},
		{"FETCH 1:* FLAGS", "OK"},
		{"FETCH 0 FLAGS", "BAD"},
		{"FETCH a:b FLAGS", "BAD"},
		{"FETCH 1 (FLAGS", "BAD"},
		{"UID FETCH 4294967296 FLAGS", "BAD"},
		{"STORE 1 +FLAGS (\\Bogus)", "BAD"},
		{"SEARCH NOSUCHKEY", "BAD"},
		{"SEARCH CHARSET KOI8-U TEXT x", "NO"},
		{"LIST \"\" \"*\"", "OK"},
		{"NOOP", "OK"},
	}
	for _, tc := range cases {
		_, st := c.cmd(tc.cmd)
		if !strings.HasPrefix(st, tc.want) {
			t.Errorf("%q: %s, want %s", tc.cmd, st, tc.want)
		}
	}
	// NUL in a mailbox name, as a literal.
	c.n++
	fmt.Fprintf(c.conn, "t%d CREATE {3+}\r\na\x00b\r\n", c.n)
	if _, st := c.until(fmt.Sprintf("t%d", c.n)); strings.HasPrefix(st, "OK") {
		t.Errorf("NUL name: %s", st)
	}
	// A literal announcing 10 GB is refused before any of it is sent,
	// NO [TOOBIG] (RFC 7889), and the connection goes on in step.
	c.n++
	fmt.Fprintf(c.conn, "t%d APPEND INBOX {10737418240}\r\n", c.n)
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if l, err := c.r.ReadString('\n'); err != nil || !strings.HasPrefix(l, fmt.Sprintf("t%d NO [TOOBIG]", c.n)) {
		t.Fatalf("10 GB literal: %q, %v", l, err)
	}
	if _, st := c.cmd("NOOP"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("NOOP after a refused literal: %s", st)
	}
	c2 := ts.raw(t)
	long := "LOGIN " + strings.Repeat("a", 100<<10) + " x"
	c2.n++
	fmt.Fprintf(c2.conn, "t%d %s\r\n", c2.n, long)
	c2.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, _ := c2.r.ReadString('\n')
	if strings.Contains(resp, "OK") {
		t.Errorf("100 KB command line: %q", resp)
	}
	// The server keeps serving.
	c3 := ts.raw(t)
	if _, st := c3.cmd("LOGIN ann secret-ann"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("login after abuse: %s", st)
	}
	if _, st := c3.cmd("SELECT INBOX"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("select after abuse: %s", st)
	}
	// A client that drops mid-literal leaves nothing half-written.
	c4 := ts.raw(t)
	c4.cmd("LOGIN ann secret-ann")
	fmt.Fprintf(c4.conn, "t9 APPEND INBOX {1000+}\r\nSubject: half\r\n")
	c4.conn.Close()
	if _, st := c3.cmd("STATUS INBOX (MESSAGES)"); !strings.Contains(st, "OK") {
		t.Fatalf("status: %s", st)
	}
	untagged, _ := c3.cmd("STATUS INBOX (MESSAGES)")
	if len(untagged) != 1 || !strings.Contains(untagged[0], "MESSAGES 0") {
		t.Fatalf("half APPEND left something: %v", untagged)
	}
}
