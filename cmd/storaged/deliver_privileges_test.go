package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// nobody is the uid Postfix's local(8) runs a mailbox_command as when
// the recipient is not a local account (default_privs).
const nobodyID = 65534

// deliverAs runs deliver as uid:gid with a copy of the binary and of the
// config each other user may read (the data directory stays the test's,
// 0700: no one else may enter it).
func (e *env) deliverAs(uid, gid uint32, cfg, rcpt, msg string) (int, string) {
	e.t.Helper()
	cmd := exec.Command(publicBinary(e.t), "-config", cfg, "deliver", "-a", rcpt)
	cmd.Stdin = strings.NewReader(msg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}}}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return 0, string(out)
}

// publicDir is a directory every user may read and enter, removed after
// the test.
func publicDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "storaged-public")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func publicBinary(t testing.TB) string {
	t.Helper()
	dst := filepath.Join(publicDir(t), "storaged")
	src, err := os.Open(binary(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, src); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// deliver run by the MTA as a user that may not reach the data
// directory, the server's socket or the config says so, naming the path
// and the uid, and exits 75 (EX_TEMPFAIL): the mail waits in the queue
// with a reason, it is neither bounced nor deferred without a word.
func TestDeliverWithoutPermission(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running deliver as another user needs root")
	}
	e := newEnv(t, "ann")
	conf, err := os.ReadFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	readable := filepath.Join(publicDir(t), "storaged.toml")
	if err := os.WriteFile(readable, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	msg := "Subject: s\n\nbody\n"
	check := func(what string, code int, out string, names ...string) {
		t.Helper()
		if code != exTempFail {
			t.Errorf("%s: exit %d, want %d (EX_TEMPFAIL):\n%s", what, code, exTempFail, out)
		}
		for _, n := range append(names, "uid 65534") {
			if !strings.Contains(out, n) {
				t.Errorf("%s: the message does not name %q:\n%s", what, n, out)
			}
		}
	}

	code, out := e.deliverAs(nobodyID, nobodyID, e.cfg, "ann@example.org", msg)
	check("config unreadable", code, out, e.cfg)

	code, out = e.deliverAs(nobodyID, nobodyID, readable, "ann@example.org", msg)
	check("data directory unreachable, no server", code, out, e.dir, "permission denied")

	p := e.start()
	code, out = e.deliverAs(nobodyID, nobodyID, readable, "ann@example.org", msg)
	check("LMTP socket unreachable", code, out, e.sock, "permission denied")
	p.term(t)
	if _, err := os.Stat(filepath.Join(e.dir, "mail", "ann", "new")); err == nil {
		if n := countFiles(t, filepath.Join(e.dir, "mail", "ann")); n != 0 {
			t.Errorf("%d messages stored by deliveries that failed", n)
		}
	}
	t.Logf("last message: %s", out)
}
