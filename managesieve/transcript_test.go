package managesieve

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/internal/testnet"
	"github.com/storaged/storaged/sievestore"
)

// harness is a server on a pipe listener with one user, ann/secret.
type harness struct {
	t       *testing.T
	srv     *Server
	l       *testnet.PipeListener
	scripts *sievestore.Store
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, nil)
}

// newHarnessWith is newHarness with the server's Config changed by mut.
func newHarnessWith(t *testing.T, mut func(*Config)) *harness {
	t.Helper()
	dir := t.TempDir()
	users, err := auth.Open(filepath.Join(dir, "users"), nil)
	if err != nil {
		t.Fatal(err)
	}
	users.SetHashParams(auth.HashParams{Memory: 1024, Time: 1, Threads: 1})
	if err := users.Add("ann", "secret", nil); err != nil {
		t.Fatal(err)
	}
	st := sievestore.New(sievestore.Options{Dir: filepath.Join(dir, "sieve"), MaxScriptSize: 2048, MaxScripts: 3})
	cfg := Config{AuthFailDelay: time.Millisecond, MaxRedirects: 4}
	if mut != nil {
		mut(&cfg)
	}
	srv := New(cfg, users, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	l := testnet.NewPipeListener()
	go srv.Serve(l)
	t.Cleanup(srv.Shutdown)
	return &harness{t: t, srv: srv, l: l, scripts: st}
}

type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (h *harness) dial() *client {
	c := &client{t: h.t, c: h.l.Dial()}
	c.r = bufio.NewReader(c.c)
	c.c.SetDeadline(time.Now().Add(10 * time.Second))
	c.until(`OK "storaged ManageSieve ready."`)
	return c
}

// until reads lines up to and including last and returns them.
func (c *client) until(last string) []string {
	c.t.Helper()
	var lines []string
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("after %q: %v", lines, err)
		}
		l = strings.TrimSuffix(l, "\r\n")
		lines = append(lines, l)
		if l == last || strings.HasPrefix(l, "OK") || strings.HasPrefix(l, "NO") || strings.HasPrefix(l, "BYE") {
			return lines
		}
	}
}

// do sends a command (raw, CRLF added) and checks the exact lines that
// come back, up to the OK/NO/BYE.
func (c *client) do(cmd string, want ...string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, cmd+"\r\n"); err != nil {
		c.t.Fatal(err)
	}
	got := c.until(want[len(want)-1])
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		c.t.Errorf("%q:\n got %q\nwant %q", cmd, got, want)
	}
}

func (c *client) login() {
	c.t.Helper()
	// base64("\x00ann\x00secret")
	c.do(`AUTHENTICATE "PLAIN" "AGFubgBzZWNyZXQ="`, `OK "Logged in."`)
}

var capLines = []string{
	`"IMPLEMENTATION" "storaged"`,
	`"SASL" "PLAIN LOGIN"`,
	`"SIEVE" "fileinto envelope encoded-character imap4flags copy subaddress variables relational body vacation vacation-seconds reject ereject mailbox include date index editheader duplicate regex environment spamtest spamtestplus virustest comparator-i;octet comparator-i;ascii-casemap comparator-i;ascii-numeric comparator-i;unicode-casemap"`,
	`"MAXREDIRECTS" "4"`,
}

func TestCapabilityAndAuth(t *testing.T) {
	h := newHarness(t)
	c := h.dial()
	c.do("CAPABILITY", append(append([]string{}, capLines...), `"UNAUTHENTICATE"`, `"VERSION" "1.0"`, `OK "Capability completed."`)...)
	c.do("LISTSCRIPTS", `NO "Authenticate first."`)
	c.do(`AUTHENTICATE "PLAIN" "AGFubgB3cm9uZw=="`, `NO "Authentication failed."`)
	c.do(`AUTHENTICATE "CRAM-MD5"`, `NO "Unsupported SASL mechanism CRAM-MD5 (PLAIN and LOGIN are)."`)
	c.do(`AUTHENTICATE "PLAIN"`, `""`)
	c.do(`"*"`, `NO "Authentication aborted."`)
	c.do(`AUTHENTICATE "PLAIN"`, `""`)
	c.do(`{16+}`+"\r\n"+"AGFubgBzZWNyZXQ=", `OK "Logged in."`)
	c.do("CAPABILITY", append(append([]string{}, capLines...), `"OWNER" "ann"`, `"UNAUTHENTICATE"`, `"VERSION" "1.0"`, `OK "Capability completed."`)...)
	c.do(`AUTHENTICATE "PLAIN" "AGFubgBzZWNyZXQ="`, `NO "Already authenticated."`)
	c.do("UNAUTHENTICATE", `OK "Unauthenticate completed."`)
	c.do("LISTSCRIPTS", `NO "Authenticate first."`)
	// LOGIN: "Username:" and "Password:" challenges.
	c.do(`AUTHENTICATE "LOGIN"`, `"VXNlcm5hbWU6"`)
	c.do(`"YW5u"`, `"UGFzc3dvcmQ6"`)
	c.do(`"c2VjcmV0"`, `OK "Logged in."`)
	c.do("LOGOUT", `OK "Logout completed."`)
}

func TestScripts(t *testing.T) {
	h := newHarness(t)
	c := h.dial()
	c.login()
	c.do("LISTSCRIPTS", `OK "Listscripts completed."`)
	c.do(`PUTSCRIPT "a" {6+}`+"\r\nkeep;\n", `OK "Putscript completed."`)
	c.do(`PUTSCRIPT "b" "discard;"`, `OK "Putscript completed."`)
	// Synchronising literals are taken without a continuation.
	c.do(`PUTSCRIPT {1}`+"\r\nc {5}\r\nstop;", `OK "Putscript completed."`)
	c.do(`PUTSCRIPT "d" "keep;"`, `NO (QUOTA/MAXSCRIPTS) "Too many scripts: the limit is 3."`)
	c.do(`PUTSCRIPT "a" "fileinto \"x\";"`, `NO "line 1, column 1: the command 'fileinto' needs require \"fileinto\"; at the top of the script"`)
	c.do(`PUTSCRIPT "a" "if true {"`, `NO "line 1, column 9: block opened here is never closed with '}'"`)
	c.do(`PUTSCRIPT "../x" "keep;"`, `NO "Invalid script name: starts with '.'."`)
	c.do(`PUTSCRIPT "a/b" "keep;"`, `NO "Invalid script name: '/' is not allowed."`)
	c.do(`SETACTIVE "a"`, `OK "Setactive completed."`)
	c.do(`SETACTIVE "zz"`, `NO (NONEXISTENT) "There is no script by that name."`)
	c.do("LISTSCRIPTS", `"a" ACTIVE`, `"b"`, `"c"`, `OK "Listscripts completed."`)
	c.do(`GETSCRIPT "a"`, `{6}`, "keep;\n", ``, `OK "Getscript completed."`)
	c.do(`GETSCRIPT "zz"`, `NO (NONEXISTENT) "There is no script by that name."`)
	c.do(`DELETESCRIPT "a"`, `NO (ACTIVE) "The active script cannot be deleted."`)
	c.do(`DELETESCRIPT "b"`, `OK "Deletescript completed."`)
	c.do(`DELETESCRIPT "b"`, `NO (NONEXISTENT) "There is no script by that name."`)
	c.do(`RENAMESCRIPT "a" "c"`, `NO (ALREADYEXISTS) "A script by that name exists."`)
	c.do(`RENAMESCRIPT "a" "main"`, `OK "Renamescript completed."`)
	c.do(`RENAMESCRIPT "nope" "x"`, `NO (NONEXISTENT) "There is no script by that name."`)
	c.do("LISTSCRIPTS", `"c"`, `"main" ACTIVE`, `OK "Listscripts completed."`)
	c.do(`SETACTIVE ""`, `OK "Setactive completed."`)
	c.do("LISTSCRIPTS", `"c"`, `"main"`, `OK "Listscripts completed."`)
	c.do(`CHECKSCRIPT "keep;"`, `OK "Script is valid."`)
	c.do(`CHECKSCRIPT "kepp;"`, `NO "line 1, column 1: unknown command 'kepp'"`)
	c.do(`HAVESPACE "x" 100`, `OK "Putscript would succeed."`)
	c.do(`HAVESPACE "x" 100000`, `NO (QUOTA/MAXSIZE) "Script too large: 100000 octets, the limit is 2048."`)
	c.do(`HAVESPACE "main" 100`, `OK "Putscript would succeed."`)
	c.do(`NOOP`, `OK "Done."`)
	c.do(`NOOP "tag1"`, `OK (TAG "tag1") "Done."`)
	c.do(`STARTTLS`, `NO "STARTTLS is not available."`)
	c.do(`FROB`, `NO "Unknown command \"FROB\"."`)
	c.do(`PUTSCRIPT "x"`, `NO "Usage: PUTSCRIPT name script."`)
	c.do(`PUTSCRIPT x "keep;"`, `NO "Usage: PUTSCRIPT name script (names and scripts are quoted strings or literals)."`)
	c.do("LOGOUT", `OK "Logout completed."`)
}

// A literal over its limit is read and dropped, so its octets never run
// as commands, and the session goes on.
func TestLimits(t *testing.T) {
	h := newHarness(t)
	c := h.dial()
	c.login()
	big := strings.Repeat("LOGOUT\r\n", 400) // 3200 octets > 2048
	c.do(`PUTSCRIPT "a" {3200+}`+"\r\n"+big, `NO (QUOTA/MAXSIZE) "Literal too large: 3200 octets, the limit is 2048."`)
	c.do(`GETSCRIPT {2000+}`+"\r\n"+strings.Repeat("x", 2000), `NO (QUOTA/MAXSIZE) "Literal too large: 2000 octets, the limit is 1024."`)
	c.do(`"unterminated`, `NO "Syntax error: line ends inside a quoted string."`)
	c.do(`NOOP`, `OK "Done."`)
	c.do(strings.Repeat("A", MaxLine+10), `BYE "line too long"`)
}

func TestTooManyErrors(t *testing.T) {
	h := newHarness(t)
	c := h.dial()
	for i := 0; i < 9; i++ {
		c.do("BOGUS", `NO "Unknown command \"BOGUS\"."`)
	}
	c.do("BOGUS", `BYE "Too many invalid commands."`)
}
