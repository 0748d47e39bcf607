package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func (e *env) deliver(from, rcpt, msg string) (int, string) {
	e.t.Helper()
	cmd := exec.Command(binary(e.t), "-config", e.cfg, "deliver", "-f", from, "-a", rcpt)
	cmd.Stdin = strings.NewReader(msg)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return 0, string(out)
}

func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		n += len(ents)
	}
	return n
}

// deliver works with and without a running server and speaks sysexits.
func TestDeliverCommand(t *testing.T) {
	e := newEnv(t, "ann")
	msg := "Subject: piped\nMessage-ID: <p1@test>\n\nhello from a pipe\n"
	inbox := filepath.Join(e.dir, "mail", "ann")

	// No server: the store is opened directly.
	if code, out := e.deliver("s@example.net", "ann@example.org", msg); code != 0 {
		t.Fatalf("direct delivery: exit %d: %s", code, out)
	}
	if code, _ := e.deliver("s@example.net", "nobody@example.org", msg); code != exNoUser {
		t.Fatalf("unknown user: exit %d, want %d", code, exNoUser)
	}
	if n := countFiles(t, inbox); n != 1 {
		t.Fatalf("%d files after direct delivery", n)
	}

	// With a server: through its LMTP socket (the index has one owner).
	p := e.start()
	if code, out := e.deliver("s@example.net", "ANN@example.org", msg); code != 0 {
		t.Fatalf("delivery via server: exit %d: %s", code, out)
	}
	if code, _ := e.deliver("s@example.net", "nobody@example.org", msg); code != exNoUser {
		t.Fatalf("unknown user via server: exit %d, want %d", code, exNoUser)
	}
	// A store that cannot be written is a temporary failure.
	tmp := filepath.Join(inbox, "tmp")
	os.RemoveAll(tmp)
	os.WriteFile(tmp, nil, 0o600)
	if code, _ := e.deliver("s@example.net", "ann@example.org", msg); code != exTempFail {
		t.Fatalf("broken store: exit %d, want %d", code, exTempFail)
	}
	os.Remove(tmp)
	os.Mkdir(tmp, 0o700)
	if code, _ := e.deliver("", "ann@example.org", msg); code != 0 {
		t.Fatalf("null sender: exit %d", code)
	}
	p.term(t)
	if n := countFiles(t, inbox); n != 3 {
		t.Fatalf("%d files, want 3", n)
	}
	_, _, keys := e.state("ann")
	if len(keys) != 3 {
		t.Fatalf("%d indexed, want 3", len(keys))
	}
	if code, _ := e.deliver("s@example.net", "", msg); code != exUsage {
		t.Fatalf("no recipient: exit %d, want %d", code, exUsage)
	}
}

func TestConfigAndUserCommands(t *testing.T) {
	e := newEnv(t, "ann")
	out, err := exec.Command(binary(t), "-config", e.cfg, "config").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `data_dir = "`+e.dir+`"`) || !strings.Contains(string(out), "max_message_size") {
		t.Fatalf("config: %v\n%s", err, out)
	}
	bad := filepath.Join(e.dir, "bad.toml")
	os.WriteFile(bad, []byte("[lmtp]\nlisten_addr = 1\n"), 0o600)
	out, err = exec.Command(binary(t), "-config", bad, "serve").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exConfig || !strings.Contains(string(out), "lmtp.listen_addr") {
		t.Fatalf("bad config: %v\n%s", err, out)
	}
	out, err = exec.Command(binary(t), "-config", e.cfg, "user", "add", "bob").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "bob: password ") {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	out, _ = exec.Command(binary(t), "-config", e.cfg, "user", "list").CombinedOutput()
	if !strings.Contains(string(out), "ann") || !strings.Contains(string(out), "bob") || !strings.Contains(string(out), "ARGON2ID") {
		t.Fatalf("user list:\n%s", out)
	}
	if out, err := exec.Command(binary(t), "-config", e.cfg, "user", "add", "bob").CombinedOutput(); err == nil {
		t.Fatalf("second add succeeded: %s", out)
	}
	if out, err := exec.Command(binary(t), "-config", e.cfg, "user", "add", "../evil").CombinedOutput(); err == nil {
		t.Fatalf("hostile name accepted: %s", out)
	}
	if out, err := exec.Command(binary(t), "-config", e.cfg, "user", "del", "bob").CombinedOutput(); err != nil {
		t.Fatalf("user del: %v %s", err, out)
	}
	out, _ = exec.Command(binary(t), "-config", e.cfg, "user", "list").CombinedOutput()
	if strings.Contains(string(out), "bob") {
		t.Fatalf("deleted user listed:\n%s", out)
	}
}

// A fresh data directory gets a demo user, printed once, on loopback.
func TestFirstStartDemoUser(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "lmtp.sock")
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte("data_dir = \""+dir+"\"\n[lmtp]\nlisten = [\"unix:"+sock+"\"]\n[imap]\nlisten = [\"127.0.0.1:0\"]\n"), 0o600)
	e := &env{t: t, dir: dir, cfg: cfg, sock: sock}
	p := e.start()
	p.term(t)
	users, err := os.ReadFile(filepath.Join(dir, "users"))
	if err != nil || !strings.HasPrefix(string(users), "demo:{ARGON2ID}") {
		t.Fatalf("users file: %q %v", users, err)
	}
}
