package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/config"
)

// A real Postfix (Debian's, started by the test with a configuration of
// its own, as root) asks storaged's policy service at RCPT and refuses an
// over-quota recipient before it accepts the message, while the other
// recipient's copy goes through Postfix's queue and LMTP into the store.
func TestQuotaPostfixPolicy(t *testing.T) {
	postfix, err := exec.LookPath("postfix")
	if err != nil {
		t.Skip("postfix not installed (make test-deps installs it)")
	}
	if os.Geteuid() != 0 {
		t.Skip("starting a Postfix instance needs root")
	}
	ts := startServer(t, t.TempDir(), func(c *config.Config) { c.Quota.PolicyListen = "127.0.0.1:0" }, "ann", "bob")
	// bob is full: one message of one allowed.
	ts.setRule(t, "bob", "userdb_quota_rule", "*:messages=1")
	lc := ts.lmtpClient()
	if res, err := send(lc, "a@example.net", []string{"bob@example.org"}, quotaMsg(200)); err != nil || res["bob@example.org"] != nil {
		t.Fatalf("bob's first message: %v %v", res, err)
	}
	lc.Close()
	policyAddr := ts.Addrs("policy")[0].String()

	dir := t.TempDir()
	// Postfix's daemons run as the postfix user and chdir into the queue.
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	etc, spool, data := filepath.Join(dir, "etc"), filepath.Join(dir, "spool"), filepath.Join(dir, "data")
	for _, d := range []string{etc, spool, data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("chown", "postfix", data).CombinedOutput(); err != nil {
		t.Skipf("no postfix user: %v %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	smtpAddr := l.Addr().String()
	l.Close()
	mainCF := fmt.Sprintf(`compatibility_level = 3.6
queue_directory = %s
data_directory = %s
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.example.org
mydestination = example.org
local_recipient_maps =
local_transport = lmtp:inet:%s
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = check_policy_service inet:%s, permit_mynetworks, reject
maillog_file = %s
maillog_file_prefixes = %s
smtputf8_enable = no
`, spool, data, ts.lmtp, policyAddr, filepath.Join(dir, "maillog"), dir)
	masterCF := smtpAddr + ` inet n - n - - smtpd
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
lmtp unix - - n - - lmtp
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
`
	if err := os.WriteFile(filepath.Join(etc, "main.cf"), []byte(mainCF), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "master.cf"), []byte(masterCF), 0o644); err != nil {
		t.Fatal(err)
	}
	maillog := func() string { b, _ := os.ReadFile(filepath.Join(dir, "maillog")); return string(b) }
	for _, verb := range []string{"check", "start"} {
		if out, err := exec.Command(postfix, "-c", etc, verb).CombinedOutput(); err != nil {
			t.Fatalf("postfix %s: %v %s\n%s", verb, err, out, maillog())
		}
	}
	t.Cleanup(func() { exec.Command(postfix, "-c", etc, "abort").Run() })

	acct, err := ts.Accounts.Open(context.Background(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := acct.Mailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	sub := acct.Hub().Subscribe(inbox.ID())
	defer sub.Close()

	var c *smtp.Client
	for deadline := time.Now().Add(20 * time.Second); ; {
		if c, err = smtp.Dial(smtpAddr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // master binds its listener after start returns
	}
	if err != nil {
		t.Fatalf("Postfix's smtpd: %v\n%s", err, maillog())
	}
	defer c.Close()
	if err := c.Hello("client.example.net"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("a@example.net"); err != nil {
		t.Fatal(err)
	}
	err = c.Rcpt("bob@example.org")
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 552 || !strings.HasPrefix(te.Msg, "5.2.2 ") || !strings.Contains(te.Msg, "Mailbox full") {
		t.Fatalf("RCPT of a full mailbox: %v, want 552 5.2.2 ... Mailbox full\n%s", err, maillog())
	}
	if err := c.Rcpt("ann@example.org"); err != nil {
		t.Fatalf("RCPT ann: %v\n%s", err, maillog())
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "From: a@example.net\r\nTo: ann@example.org, bob@example.org\r\nSubject: through postfix\r\n\r\nhello\r\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	// Postfix delivers from its queue over LMTP: wait for the store to
	// tell of the new message.
	select {
	case <-sub.C:
	case <-time.After(60 * time.Second):
		t.Fatalf("Postfix did not deliver to ann\n%s", maillog())
	}
	if n := ts.stored(t, "ann", "INBOX"); n != 1 {
		t.Fatalf("ann has %d messages", n)
	}
	if n := ts.stored(t, "bob", "INBOX"); n != 1 {
		t.Fatalf("bob has %d messages, want his first only", n)
	}
}
