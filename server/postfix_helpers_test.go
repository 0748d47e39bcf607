package server_test

import (
	"fmt"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// postfix is a Postfix instance of Debian's package, started by a test
// with a configuration and queue of its own (as root).
type postfix struct {
	dir, etc, spool string
	smtp            string // smtpd's host:port
	maillog         func() string
}

// postfixDir makes the instance's directories; a test that needs to
// place a socket in the queue (private/) before Postfix starts calls it
// first and passes the result to startPostfixIn.
func postfixDir(t *testing.T) *postfix {
	t.Helper()
	if _, err := exec.LookPath("postfix"); err != nil {
		t.Skip("postfix not installed (make test-deps installs it)")
	}
	if os.Geteuid() != 0 {
		t.Skip("starting a Postfix instance needs root")
	}
	dir := t.TempDir()
	// Postfix's daemons run as the postfix user and chdir into the queue.
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	pf := &postfix{dir: dir, etc: filepath.Join(dir, "etc"), spool: filepath.Join(dir, "spool")}
	data := filepath.Join(dir, "data")
	private := filepath.Join(pf.spool, "private")
	for _, d := range []string{pf.etc, pf.spool, data, private} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// As Postfix makes them: private/ is the postfix user's, 0700.
	os.Chmod(private, 0o700)
	if out, err := exec.Command("chown", "postfix", data, private).CombinedOutput(); err != nil {
		t.Skipf("no postfix user: %v %s", err, out)
	}
	pf.maillog = func() string { b, _ := os.ReadFile(filepath.Join(dir, "maillog")); return string(b) }
	return pf
}

// startPostfix starts an instance: main is added to a base main.cf (no
// mydestination of its own), chrootLMTP runs the lmtp client chrooted
// in the queue as Debian's master.cf does.
func startPostfix(t *testing.T, main string, chrootLMTP bool) *postfix {
	return startPostfixIn(t, postfixDir(t), main, chrootLMTP)
}

func startPostfixIn(t *testing.T, pf *postfix, main string, chrootLMTP bool) *postfix {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pf.smtp = l.Addr().String()
	l.Close()
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %s
data_directory = %s
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.example.org
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
maillog_file = %s
maillog_file_prefixes = %s
smtputf8_enable = no
`, pf.spool, filepath.Join(pf.dir, "data"), filepath.Join(pf.dir, "maillog"), pf.dir) + main
	chroot := "n"
	if chrootLMTP {
		chroot = "y"
	}
	masterCF := pf.smtp + ` inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
virtual unix - n n - - virtual
lmtp unix - - ` + chroot + ` - - lmtp
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
`
	if err := os.WriteFile(filepath.Join(pf.etc, "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pf.etc, "master.cf"), []byte(masterCF), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"check", "start"} {
		if out, err := exec.Command("postfix", "-c", pf.etc, verb).CombinedOutput(); err != nil {
			t.Fatalf("postfix %s: %v %s\n%s", verb, err, out, pf.maillog())
		}
	}
	t.Cleanup(func() { exec.Command("postfix", "-c", pf.etc, "abort").Run() })
	return pf
}

// client is an SMTP session with the instance's smtpd, after EHLO.
func (pf *postfix) client(t *testing.T) *smtp.Client {
	t.Helper()
	var c *smtp.Client
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; {
		if c, err = smtp.Dial(pf.smtp); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // master binds its listener after start returns
	}
	if err != nil {
		t.Fatalf("Postfix's smtpd: %v\n%s", err, pf.maillog())
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example.net"); err != nil {
		t.Fatal(err)
	}
	return c
}

// data sends msg as the transaction's DATA and ends the session.
func (pf *postfix) data(t *testing.T, c *smtp.Client, msg string) {
	t.Helper()
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v\n%s", err, pf.maillog())
	}
	fmt.Fprint(w, msg)
	if err := w.Close(); err != nil {
		t.Fatalf("end of DATA: %v\n%s", err, pf.maillog())
	}
	c.Quit()
}
