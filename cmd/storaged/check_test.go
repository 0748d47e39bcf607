package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// check lists each way the files and the index disagree, changes
// nothing without -repair (exit 1), and with it repairs them all.
func TestCheckReportsThenRepairs(t *testing.T) {
	e := newEnv(t, "ann")
	for i := 0; i < 3; i++ {
		if out, code := e.run("Subject: c\n\nbody\n", "deliver", "-f", "a@example.org", "-a", "ann@example.org"); code != 0 {
			t.Fatalf("deliver: %d %s", code, out)
		}
	}
	if out, code := e.run("", "check", "ann"); code != 0 || !strings.Contains(out, "ann: ok (") {
		t.Fatalf("check of a sound store: %d %s", code, out)
	}
	maildir := filepath.Join(e.dir, "mail", "ann")
	files, _ := filepath.Glob(filepath.Join(maildir, "new", "*"))
	if len(files) != 3 {
		t.Fatalf("files %v", files)
	}
	// One file gone, one flagged by another program, one grown, and one
	// dropped in.
	os.Remove(files[0])
	os.Rename(files[1], filepath.Join(maildir, "cur", filepath.Base(files[1])+":2,F"))
	f, _ := os.OpenFile(files[2], os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("more\n")
	f.Close()
	os.WriteFile(filepath.Join(maildir, "new", "1700000000.M1P1.elsewhere"), []byte("Subject: x\n\ny\n"), 0o600)
	tree0 := tree(t, e.dir)

	out, code := e.run("", "check", "ann")
	if code != 1 || !strings.Contains(out, "ann: 4 differences") {
		t.Fatalf("check: %d %s", code, out)
	}
	for _, want := range []string{"unindexed", "missing", "flags", "size", `index has no flags, the file (\Flagged)`, "1700000000.M1P1.elsewhere"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if got := tree(t, e.dir); strings.Join(got, "\n") != strings.Join(tree0, "\n") {
		t.Errorf("check without -repair changed files:\n%s", strings.Join(got, "\n"))
	}
	if out, code := e.run("", "check", "ann"); code != 1 || !strings.Contains(out, "4 differences") {
		t.Fatalf("second check repaired something: %d %s", code, out)
	}
	if out, code := e.run("", "check", "-repair", "ann"); code != 0 || !strings.Contains(out, "4 differences, repaired") {
		t.Fatalf("check -repair: %d %s", code, out)
	}
	if out, code := e.run("", "check", "ann"); code != 0 || !strings.Contains(out, "ann: ok (") || !strings.Contains(out, " 3 messages)") {
		t.Fatalf("check after repair: %d %s", code, out)
	}
}
