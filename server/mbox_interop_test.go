package server_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/storaged/storaged/config"
)

// mboxMessages are delivered to an mbox INBOX: body lines that an mbox
// writer must quote, and one without a final line break.
var mboxMessages = [][]byte{
	[]byte("From: a@example.net\r\nSubject: mbox one\r\n\r\nFrom me, at the start of a line\r\n>From you, quoted by the author\r\n"),
	[]byte("From: b@example.net\r\nSubject: mbox two\r\nStatus: its own\r\n\r\nbody two\r\n"),
	[]byte("From: c@example.net\r\nSubject: mbox three\r\n\r\nthe last\r\n"),
}

// TestMboxInterop: what storaged writes, formail splits into the same
// messages and neomutt reads with the right subjects. Skips without the
// tools (make test installs procmail and neomutt when apt-get can).
func TestMboxInterop(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, withFormat("mbox"), "ann")
	deliverMsgs(t, ts, "ann", mboxMessages...)
	// A flag change rewrites the file with Status fields.
	c := ts.login(t, "ann", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen, imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "mail", "ann", "INBOX")
	b, _ := os.ReadFile(file)
	if !bytes.Contains(b, []byte("\n>From me, at the start of a line\n>>From you")) || !bytes.Contains(b, []byte("Status: RO\nX-Status: F\n")) {
		t.Fatalf("mbox file:\n%s", b)
	}

	t.Run("formail", func(t *testing.T) {
		formail, err := exec.LookPath("formail")
		if err != nil {
			t.Skip("formail (procmail) is not installed; make test installs it when apt-get can")
		}
		cmd := exec.Command(formail, "-s", "sh", "-c", "grep '^Subject:'")
		cmd.Stdin = bytes.NewReader(b)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(out)); got != "Subject: mbox one\nSubject: mbox two\nSubject: mbox three" {
			t.Fatalf("formail split:\n%s", got)
		}
	})

	t.Run("neomutt", func(t *testing.T) {
		neomutt, err := exec.LookPath("neomutt")
		script, serr := exec.LookPath("script")
		if err != nil || serr != nil {
			t.Skip("neomutt (and script, for its terminal) not installed; make test installs neomutt when apt-get can")
		}
		tmp := t.TempDir()
		piped := filepath.Join(tmp, "piped")
		rc := filepath.Join(tmp, "muttrc")
		os.WriteFile(rc, []byte("set folder="+tmp+"\nset pipe_split=yes\nset pipe_sep=\"=====SEP=====\\n\"\nset wait_key=no\nset mbox_type=mbox\n"), 0o600)
		// Read-only: neomutt reads the mailbox and pipes every message.
		push := `push "<tag-pattern>~A<enter><tag-prefix><pipe-message>cat >> ` + piped + `<enter><quit>"`
		cmd := exec.Command(script, "-qec", neomutt+" -n -F "+rc+" -R -f "+file+" -e '"+push+"'", "/dev/null")
		cmd.Env = append(os.Environ(), "TERM=xterm", "HOME="+tmp)
		var screen bytes.Buffer
		cmd.Stdout, cmd.Stderr = &screen, &screen
		done := make(chan error, 1)
		go func() { done <- cmd.Run() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("neomutt: %v", err)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatal("neomutt did not finish")
		}
		out, _ := os.ReadFile(piped)
		if n := bytes.Count(out, []byte("=====SEP=====")); n != 3 {
			t.Fatalf("neomutt saw %d messages:\n%s\nscreen:\n%q", n, out, screen.Bytes())
		}
		for _, s := range []string{"Subject: mbox one", "Subject: mbox two", "Subject: mbox three", "body two"} {
			if !bytes.Contains(out, []byte(s)) {
				t.Errorf("neomutt output lacks %q", s)
			}
		}
	})

	// IMAP still serves every message byte for byte after the rewrite,
	// its own Status field included.
	for i, m := range ts.inboxInUIDOrder(t, "ann") {
		if !bytes.HasSuffix(m.Bytes, mboxMessages[i]) {
			t.Errorf("message %d after the rewrite:\n%q", i+1, m.Bytes)
		}
	}
}

// TestMboxLockContention: while another program holds the dotlock an
// LMTP delivery waits, then gets 451 4.2.0 and the file is untouched;
// once the lock goes, delivery works.
func TestMboxLockContention(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, withFormat("mbox", func(c *config.Config) {
		c.Mail.LockWait = config.Duration(300 * time.Millisecond)
	}), "ann")
	deliverMsgs(t, ts, "ann", mboxMessages[0])
	file := filepath.Join(dir, "mail", "ann", "INBOX")
	before, _ := os.ReadFile(file)
	// pid 1 runs: the lock is not stale.
	if err := os.WriteFile(file+".lock", []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := ts.lmtpClient()
	defer c.Close()
	start := time.Now()
	res, err := send(c, "s@example.net", []string{"ann@example.org"}, mboxMessages[1])
	if err != nil {
		t.Fatal(err)
	}
	se := res["ann@example.org"]
	if se == nil || se.Code != 451 || se.EnhancedCode[0] != 4 || se.EnhancedCode[1] != 2 || se.EnhancedCode[2] != 0 {
		t.Fatalf("delivery under a foreign lock: %+v", se)
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Error("the delivery did not wait for the lock")
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(after, before) {
		t.Fatal("the mbox changed under a foreign lock")
	}
	// IMAP writes under the foreign lock: NO [INUSE] (RFC 5530).
	ic := ts.login(t, "ann", nil)
	cmd := ic.Append("INBOX", int64(len(mboxMessages[2])), nil)
	cmd.Write(mboxMessages[2])
	cmd.Close()
	if _, err := cmd.Wait(); imapCode(err) != imap.ResponseCodeInUse {
		t.Errorf("APPEND under a foreign lock: %v, want NO [INUSE]", err)
	}
	os.Remove(file + ".lock")
	res, err = send(c, "s@example.net", []string{"ann@example.org"}, mboxMessages[1])
	if err != nil || res["ann@example.org"] != nil {
		t.Fatalf("delivery after the lock went: %v %v", res, err)
	}
	if n := ts.stored(t, "ann", "INBOX"); n != 2 {
		t.Fatalf("%d messages, want 2", n)
	}
}
