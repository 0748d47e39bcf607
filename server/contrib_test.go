package server_test

import (
	"context"
	"errors"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/config"
)

// contrib/postfix/main.cf works as written: Postfix's lmtp client,
// chrooted in the queue as Debian runs it, delivers through
// private/storaged-lmtp (a socket of group postfix, mode 0660, as
// contrib/storaged.toml sets it), and the policy line refuses an unknown
// recipient at RCPT. Only the paths and the policy port are the test's.
func TestContribPostfix(t *testing.T) {
	pf := postfixDir(t)
	// The sample loads as it is (names, types, addresses, the postfix
	// group); the test then takes its LMTP socket settings.
	sample, err := config.Load("../contrib/storaged.toml")
	if err != nil {
		t.Fatalf("contrib/storaged.toml: %v", err)
	}
	sock := strings.Replace(sample.LMTP.Listen[0], "/var/spool/postfix", pf.spool, 1)
	ts := startServer(t, t.TempDir(), func(c *config.Config) {
		c.LMTP.Listen = []string{sock}
		c.LMTP.SocketMode = sample.LMTP.SocketMode
		c.LMTP.SocketGroup = sample.LMTP.SocketGroup
		c.Quota.PolicyListen = "127.0.0.1:0"
	}, "ann")
	fi, err := os.Stat(strings.TrimPrefix(sock, "unix:"))
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket %v %v", fi, err)
	}
	main, err := os.ReadFile("../contrib/postfix/main.cf")
	if err != nil {
		t.Fatal(err)
	}
	cf := strings.Replace(string(main), "inet:127.0.0.1:12340", "inet:"+ts.Addrs("policy")[0].String(), 1)
	if cf == string(main) {
		t.Fatal("the sample's policy line moved")
	}
	startPostfixIn(t, pf, "mydestination = localhost\n"+cf, true)

	acct, err := ts.Accounts.Open(context.Background(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := acct.Mailbox("INBOX")
	sub := acct.Hub().Subscribe(inbox.ID())
	defer sub.Close()
	c := pf.client(t)
	if err := c.Mail("a@example.net"); err != nil {
		t.Fatal(err)
	}
	var te *textproto.Error
	if err := c.Rcpt("nobody@example.org"); !errors.As(err, &te) || te.Code/100 != 5 || !strings.Contains(te.Msg, "Unknown user") {
		t.Fatalf("RCPT of an unknown user: %v\n%s", err, pf.maillog())
	}
	if err := c.Rcpt("ann@example.org"); err != nil {
		t.Fatalf("RCPT ann: %v\n%s", err, pf.maillog())
	}
	pf.data(t, c, "From: a@example.net\r\nTo: ann@example.org\r\nSubject: through the sample\r\n\r\nhello\r\n")
	select {
	case <-sub.C:
	case <-time.After(60 * time.Second):
		t.Fatalf("Postfix did not deliver through the chrooted socket\n%s", pf.maillog())
	}
	if n := ts.stored(t, "ann", "INBOX"); n != 1 {
		t.Fatalf("ann has %d messages", n)
	}
}

// The systemd unit passes systemd-analyze verify (with ExecStart pointed
// at a real binary), and the logrotate snippet parses.
func TestContribUnitAndLogrotate(t *testing.T) {
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		unit, err := os.ReadFile("../contrib/systemd/storaged.service")
		if err != nil {
			t.Fatal(err)
		}
		bin, _ := os.Executable()
		dir := t.TempDir()
		path := filepath.Join(dir, "storaged.service")
		os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/storaged", bin)), 0o644)
		out, err := exec.Command(sa, "verify", "--man=no", path).CombinedOutput()
		// Offline, verify cannot reach a manager for the units ours
		// orders against; what it says of our own file must be nothing.
		for _, line := range strings.Split(string(out), "\n") {
			if strings.Contains(line, "storaged.service") {
				t.Errorf("systemd-analyze verify: %s", line)
			}
		}
		if err != nil && strings.Contains(string(out), "storaged.service") {
			t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
		}
	} else {
		t.Log("systemd-analyze not installed; unit not verified")
	}
	lr, err := exec.LookPath("logrotate")
	if err != nil {
		t.Skip("logrotate not installed (make test-deps installs it)")
	}
	// The vmail user is the installation's; root stands in for it here.
	snippet, err := os.ReadFile("../contrib/logrotate/storaged")
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(t.TempDir(), "storaged")
	os.WriteFile(conf, []byte(strings.ReplaceAll(string(snippet), "vmail adm", "root root")), 0o644)
	out, err := exec.Command(lr, "--debug", "--state", filepath.Join(t.TempDir(), "state"), conf).CombinedOutput()
	if err != nil || strings.Contains(string(out), "error") {
		t.Fatalf("logrotate --debug: %v\n%s", err, out)
	}
}
