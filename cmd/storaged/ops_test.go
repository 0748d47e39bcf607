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
