package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
)

// dialText opens a line-oriented session (POP3, ManageSieve) and reads
// its greeting, up to a line that starts with until.
func dialText(t *testing.T, addr, until string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := bufio.NewReader(c)
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("greeting from %s: %v", addr, err)
		}
		if strings.HasPrefix(l, until) {
			return c, r
		}
	}
}

func say(t *testing.T, c net.Conn, r *bufio.Reader, line, want string) {
	t.Helper()
	fmt.Fprintf(c, "%s\r\n", line)
	l, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(l, want) {
		t.Fatalf("%q: %q %v", line, l, err)
	}
}

// who lists the sessions of every protocol while they are connected:
// IMAP, POP3 and ManageSieve, logged in or not, in the table and as JSON.
func TestWhoEveryProtocol(t *testing.T) {
	e := newEnv(t, "ann", "bob")
	imapAddr, popAddr, sieveAddr := freePort(t), freePort(t), freePort(t)
	conf, _ := os.ReadFile(e.cfg)
	s := strings.Replace(string(conf), "[imap]\nlisten = [\"127.0.0.1:0\"]", fmt.Sprintf("[imap]\nlisten = [%q]", imapAddr), 1)
	s = strings.Replace(s, "[pop3]\nlisten = [\"127.0.0.1:0\"]", fmt.Sprintf("[pop3]\nlisten = [%q]", popAddr), 1)
	s += fmt.Sprintf("[managesieve]\nlisten = [%q]\n", sieveAddr)
	os.WriteFile(e.cfg, []byte(s), 0o600)
	if out, code := e.run("Subject: w\n\nx\n", "deliver", "-a", "bob@example.org"); code != 0 {
		t.Fatalf("deliver: %d %s", code, out)
	}
	p := e.start()
	defer p.term(t)

	im, err := imapclient.DialInsecure(imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	if err := im.Login("ann", "pw-ann").Wait(); err != nil {
		t.Fatal(err)
	}
	pc, pr := dialText(t, popAddr, "+OK")
	say(t, pc, pr, "USER bob", "+OK")
	say(t, pc, pr, "PASS pw-bob", "+OK")
	dialText(t, popAddr, "+OK") // connected, not logged in
	mc, mr := dialText(t, sieveAddr, "OK")
	say(t, mc, mr, `AUTHENTICATE "PLAIN" "`+base64.StdEncoding.EncodeToString([]byte("\x00ann\x00pw-ann"))+`"`, "OK")

	out, code := e.run("", "who", "--json")
	var ss []struct{ Proto, User, ID, Remote string }
	if code != 0 || json.Unmarshal([]byte(out), &ss) != nil {
		t.Fatalf("who --json: %d %s", code, out)
	}
	var got []string
	for _, x := range ss {
		if x.ID == "" || !strings.HasPrefix(x.Remote, "127.0.0.1:") {
			t.Errorf("session without id or remote: %+v", x)
		}
		got = append(got, x.Proto+":"+x.User)
	}
	sort.Strings(got)
	if want := "imap:ann managesieve:ann pop3: pop3:bob"; strings.Join(got, " ") != want {
		t.Fatalf("who --json: %v, want %s\n%s", got, want, out)
	}
	out, code = e.run("", "who")
	if code != 0 || !strings.Contains(out, "USER             PROTO") {
		t.Fatalf("who: %d\n%s", code, out)
	}
	for _, want := range []string{"ann              managesieve", "bob              pop3", "(not logged in)  pop3"} {
		if !strings.Contains(out, want) {
			t.Errorf("who lacks %q:\n%s", want, out)
		}
	}

	// A session that ends leaves the table.
	say(t, pc, pr, "QUIT", "+OK")
	pr.ReadString('\n') // the close
	out, _ = e.run("", "who", "--json")
	if strings.Contains(out, `"bob"`) {
		t.Fatalf("bob's ended POP3 session still listed:\n%s", out)
	}
}
