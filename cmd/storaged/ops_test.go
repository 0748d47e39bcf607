package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The global -config may follow the command ("storaged serve -config
// FILE"): it is read, not ignored.
func TestConfigFlagAfterCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte("data_dir = \""+dir+"\"\nhostname = \"after.example.org\"\n"), 0o600)
	for _, args := range [][]string{{"config", "-config", cfg}, {"config", "--config=" + cfg}, {"-config", cfg, "config"}} {
		var out, errb bytes.Buffer
		if code := run(args, nil, &out, &errb); code != 0 || !strings.Contains(out.String(), `hostname = "after.example.org"`) {
			t.Errorf("%v: exit %d, %s %s", args, code, out.String(), errb.String())
		}
	}
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, nil, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "storaged ") || !strings.Contains(out.String(), "go1.") {
		t.Fatalf("version: %d %q %q", code, out.String(), errb.String())
	}
}

// A second serve on the same data directory is refused with the first's
// pid; a users file missing where stores exist (a mistyped users.file)
// stops serve instead of making a new user database.
func TestServeRefusals(t *testing.T) {
	e := newEnv(t, "ann")
	p := e.start()
	out, code := e.run("", "serve")
	if code != exTempFail || !strings.Contains(out, "another storaged (pid ") {
		t.Fatalf("second serve: %d %s", code, out)
	}
	p.term(t)

	os.MkdirAll(filepath.Join(e.dir, "mail", "ann"), 0o700)
	conf, _ := os.ReadFile(e.cfg)
	os.WriteFile(e.cfg, append(conf, []byte("[users]\nfile = \"userz\"\n")...), 0o600)
	out, code = e.run("", "serve")
	if code != exConfig || !strings.Contains(out, "is users.file mistyped?") {
		t.Fatalf("mistyped users.file: %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "userz")); err == nil {
		t.Fatal("a users file was made for the mistyped name")
	}
}

// storaged check repairs a damaged index from the files.
func TestCheckCommand(t *testing.T) {
	e := newEnv(t, "ann")
	msg := "Subject: c\n\nbody\n"
	for i := 0; i < 2; i++ {
		if out, code := e.run(msg, "deliver", "-f", "a@example.org", "-a", "ann@example.org"); code != 0 {
			t.Fatalf("deliver: %d %s", code, out)
		}
	}
	if out, code := e.run("", "check", "ann"); code != 0 || !strings.HasPrefix(out, "ann: ok (") || !strings.Contains(out, "2 messages") {
		t.Fatalf("check: %d %s", code, out)
	}
	idx := filepath.Join(e.dir, "index", "ann", "index.db")
	st, _ := os.Stat(idx)
	f, _ := os.OpenFile(idx, os.O_WRONLY, 0)
	junk := bytes.Repeat([]byte{0x5a}, 4096)
	for off := int64(2 * 4096); off < st.Size(); off += 4096 {
		f.WriteAt(junk, off)
	}
	f.Close()
	out, code := e.run("", "check", "-A")
	if code != 0 || !strings.Contains(out, "2 messages") {
		t.Fatalf("check after damage: %d %s", code, out)
	}
	if aside, _ := filepath.Glob(idx + ".broken-*"); len(aside) != 1 {
		t.Fatalf("damaged index not kept aside: %v\n%s", aside, out)
	}
}
