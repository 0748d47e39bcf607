package server_test

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

type msClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (ts *testServer) manageSieve(t *testing.T) *msClient {
	t.Helper()
	addrs := ts.Addrs("managesieve")
	if len(addrs) == 0 {
		t.Fatal("no managesieve listener")
	}
	c, err := net.Dial("tcp", addrs[0].String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	m := &msClient{t: t, c: c, r: bufio.NewReader(c)}
	m.read()
	return m
}

// read returns the lines of one response, the OK/NO/BYE line last.
func (m *msClient) read() []string {
	m.t.Helper()
	var out []string
	for {
		l, err := m.r.ReadString('\n')
		if err != nil {
			m.t.Fatalf("read after %q: %v", out, err)
		}
		l = strings.TrimRight(l, "\r\n")
		out = append(out, l)
		for _, p := range []string{"OK", "NO", "BYE"} {
			if l == p || strings.HasPrefix(l, p+" ") {
				return out
			}
		}
	}
}

func (m *msClient) cmd(line string) []string {
	m.t.Helper()
	if _, err := io.WriteString(m.c, line+"\r\n"); err != nil {
		m.t.Fatal(err)
	}
	return m.read()
}

func (m *msClient) expect(line string, want ...string) {
	m.t.Helper()
	got := m.cmd(line)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		m.t.Errorf("%s:\n got %q\nwant %q", line, got, want)
	}
}

// One session over a real socket through every command; the script it
// activates then filters an LMTP delivery.
func TestManageSieveSession(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil, "ann")
	m := ts.manageSieve(t)
	capa := m.cmd("CAPABILITY")
	if !strings.Contains(strings.Join(capa, "\n"), `"SIEVE" "fileinto `) || strings.Contains(strings.Join(capa, "\n"), "STARTTLS") {
		t.Fatalf("capability %q", capa)
	}
	m.expect(`AUTHENTICATE "PLAIN" "`+base64.StdEncoding.EncodeToString([]byte("\x00ann\x00wrong"))+`"`, `NO "Authentication failed."`)
	m.expect(`AUTHENTICATE "PLAIN" "`+base64.StdEncoding.EncodeToString([]byte("\x00ann\x00secret-ann"))+`"`, `OK "Logged in."`)
	m.expect("NOOP", `OK "Done."`)
	m.expect(`HAVESPACE "filters" 500`, `OK "Putscript would succeed."`)
	m.expect(`CHECKSCRIPT "require \"fileinto\"; fileinto \"x\";"`, `OK "Script is valid."`)
	bad := "require \"fileinto\";\r\nif header :contains \"subject\" \"x\" {\r\n  fileinto \"A\"\r\n}\r\n"
	m.expect(fmt.Sprintf("PUTSCRIPT \"filters\" {%d+}\r\n%s", len(bad), bad), `NO "line 4, column 1: expected ';' or '{' after the arguments of 'fileinto', found '}'"`)
	good := "require [\"fileinto\", \"mailbox\"];\r\nif header :contains \"subject\" \"list\" {\r\n  fileinto :create \"Lists\";\r\n}\r\n"
	m.expect(fmt.Sprintf("PUTSCRIPT \"filters\" {%d+}\r\n%s", len(good), good), `OK "Putscript completed."`)
	m.expect(`PUTSCRIPT "other" "keep;"`, `OK "Putscript completed."`)
	m.expect(`SETACTIVE "filters"`, `OK "Setactive completed."`)
	m.expect("LISTSCRIPTS", `"filters" ACTIVE`, `"other"`, `OK "Listscripts completed."`)
	m.expect(`GETSCRIPT "filters"`, fmt.Sprintf("{%d}", len(good)), `require ["fileinto", "mailbox"];`, `if header :contains "subject" "list" {`,
		`  fileinto :create "Lists";`, `}`, ``, `OK "Getscript completed."`)
	m.expect(`RENAMESCRIPT "other" "spare"`, `OK "Renamescript completed."`)
	m.expect(`DELETESCRIPT "filters"`, `NO (ACTIVE) "The active script cannot be deleted."`)
	m.expect(`DELETESCRIPT "spare"`, `OK "Deletescript completed."`)
	m.expect("UNAUTHENTICATE", `OK "Unauthenticate completed."`)
	m.expect("LISTSCRIPTS", `NO "Authenticate first."`)
	m.expect("LOGOUT", `OK "Logout completed."`)

	c := ts.lmtpClient()
	defer c.Close()
	msg := "From: a@example.net\r\nTo: ann@example.org\r\nSubject: a list post\r\n\r\nhi\r\n"
	if res, err := send(c, "a@example.net", []string{"ann@example.org"}, []byte(msg)); err != nil || res["ann@example.org"] != nil {
		t.Fatalf("deliver: %v %v", res, err)
	}
	if got := layout(ts.contents(t, "ann")); got != "Lists=" {
		t.Fatalf("after delivery: %q", got)
	}
}

// sieve-connect (Debian's ManageSieve client) uploads, lists, activates
// and downloads a script; skipped where it is not installed.
func TestManageSieveSieveConnect(t *testing.T) {
	bin, err := exec.LookPath("sieve-connect")
	if err != nil {
		t.Skip("sieve-connect not installed")
	}
	dir := t.TempDir()
	ts := startServer(t, dir, nil, "ann")
	host, port, _ := net.SplitHostPort(ts.Addrs("managesieve")[0].String())
	script := dir + "/vac.sieve"
	writeFile(t, script, "require \"vacation\";\nvacation :days 3 \"Away\";\n")
	run := func(args ...string) string {
		t.Helper()
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		pw.WriteString("secret-ann\n")
		pw.Close()
		cmd := exec.Command(bin, append([]string{"-s", host, "-p", port, "-u", "ann", "--authmech", "PLAIN", "--passwordfd", "3", "--clearchan"}, args...)...)
		cmd.ExtraFiles = []*os.File{pr}
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		pr.Close()
		if err != nil {
			t.Fatalf("sieve-connect %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("--upload", "--localsieve", script, "--remotesieve", "vac")
	run("--activate", "--remotesieve", "vac")
	if out := run("--list"); !strings.Contains(out, "vac") {
		t.Fatalf("list: %s", out)
	}
	run("--download", "--remotesieve", "vac", "--localsieve", dir+"/back.sieve")
	back, err := os.ReadFile(dir + "/back.sieve")
	if err != nil || !strings.Contains(string(back), "vacation :days 3") {
		t.Fatalf("downloaded %q %v", back, err)
	}
	list, err := ts.Sieve.List("ann")
	if err != nil || len(list) != 1 || !list[0].Active {
		t.Fatalf("store: %+v %v", list, err)
	}
}
