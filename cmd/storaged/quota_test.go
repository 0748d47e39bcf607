package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func (e *env) run(stdin string, args ...string) (string, int) {
	e.t.Helper()
	cmd := exec.Command(binary(e.t), append([]string{"-config", e.cfg}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return string(out), 0
}

// quota set writes Dovecot's field into the passwd-file, deliver honours
// it (EX_CANTCREAT when full), quota get prints the table, and recalc
// finds a size that changed on disk.
func TestQuotaCommands(t *testing.T) {
	e := newEnv(t, "ann")
	if out, code := e.run("", "quota", "set", "ann", "storage=2K", "messages=5"); code != 0 || out != "ann: userdb_quota_rule=*:storage=2k:messages=5\n" {
		t.Fatalf("quota set: %d %q", code, out)
	}
	users, _ := os.ReadFile(filepath.Join(e.dir, "users"))
	if !strings.Contains(string(users), "userdb_quota_rule=*:storage=2k:messages=5") {
		t.Fatalf("users file: %s", users)
	}
	msg := "Subject: q\n\n" + strings.Repeat("x", 600) + "\n"
	for i := 0; i < 2; i++ {
		if out, code := e.run(msg, "deliver", "-f", "a@example.org", "-a", "ann@example.org"); code != 0 {
			t.Fatalf("deliver %d: %d %s", i, code, out)
		}
	}
	out, code := e.run(msg, "deliver", "-f", "a@example.org", "-a", "ann@example.org")
	if code != exCantCreat || !strings.Contains(out, "Mailbox full") {
		t.Fatalf("deliver over quota: %d %s", code, out)
	}
	out, code = e.run("", "quota", "get", "ann")
	if code != 0 {
		t.Fatalf("quota get: %d %s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || strings.Fields(lines[0])[0] != "USER" ||
		strings.Join(strings.Fields(lines[2]), " ") != "ann MESSAGE 2 5 40" || !strings.HasPrefix(strings.Join(strings.Fields(lines[1]), " "), "ann STORAGE 1.") {
		t.Fatalf("quota get:\n%s", out)
	}
	if out, code := e.run("", "quota", "recalc", "ann"); code != 0 || !strings.Contains(out, "the index was right") {
		t.Fatalf("recalc: %d %s", code, out)
	}
	files, _ := filepath.Glob(filepath.Join(e.dir, "mail", "ann", "new", "*"))
	if len(files) != 2 {
		t.Fatalf("files %v", files)
	}
	f, err := os.OpenFile(files[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("grown\n")
	f.Close()
	if out, code := e.run("", "quota", "recalc", "-A"); code != 0 || !strings.Contains(out, "1 sizes corrected") {
		t.Fatalf("recalc after a change: %d %s", code, out)
	}
	if out, code := e.run("", "quota", "set", "ann", "storage=none"); code != 0 || out != "ann: userdb_quota_rule=*:storage=0:messages=5\n" {
		t.Fatalf("quota set none: %d %q", code, out)
	}
	if out, code := e.run(msg, "deliver", "-f", "a@example.org", "-a", "ann@example.org"); code != 0 {
		t.Fatalf("deliver after lifting the limit: %d %s", code, out)
	}
	if _, code := e.run("", "quota", "set", "ann", "colour=red"); code != exUsage {
		t.Fatalf("bad resource: %d", code)
	}
	if _, code := e.run("", "quota", "get", "nobody"); code != exNoUser {
		t.Fatalf("unknown user: %d", code)
	}
}
