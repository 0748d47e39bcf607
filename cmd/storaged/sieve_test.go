package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSieveCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "storaged.toml")
	os.WriteFile(cfg, []byte("data_dir = \""+dir+"\"\n"), 0o600)
	runIt := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"-config", cfg}, args...), strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	bad := filepath.Join(dir, "bad.sieve")
	os.WriteFile(bad, []byte("keep;\nif true {\n"), 0o600)
	if code, _, e := runIt("", "sieve", "check", bad); code != exDataErr || !strings.Contains(e, bad+":2:9: ") {
		t.Fatalf("check: %d %q", code, e)
	}
	good := filepath.Join(dir, "good.sieve")
	os.WriteFile(good, []byte("keep;\n"), 0o600)
	if code, out, e := runIt("", "sieve", "check", good); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("check good: %d %q %q", code, out, e)
	}
	if code, _, e := runIt("pw\n", "user", "add", "-password-stdin", "ann"); code != 0 {
		t.Fatalf("user add: %s", e)
	}
	if code, _, e := runIt("discard;\n", "sieve", "put", "ann", "-activate", "main"); code != 0 {
		t.Fatalf("put: %d %s", code, e)
	}
	if code, _, e := runIt("kepp;\n", "sieve", "put", "ann", "other"); code != exDataErr || !strings.Contains(e, "other:1:1: ") {
		t.Fatalf("put bad: %d %q", code, e)
	}
	if code, out, _ := runIt("", "sieve", "list", "ann"); code != 0 || !strings.Contains(out, "main") || !strings.Contains(out, "yes") {
		t.Fatalf("list: %q", out)
	}
	if code, out, _ := runIt("", "sieve", "get", "ann", "main"); code != 0 || out != "discard;\n" {
		t.Fatalf("get: %q", out)
	}
	if code, _, e := runIt("", "sieve", "delete", "ann", "main"); code != exDataErr || !strings.Contains(e, "active") {
		t.Fatalf("delete active: %d %q", code, e)
	}
	if code, _, _ := runIt("", "sieve", "deactivate", "ann"); code != 0 {
		t.Fatal("deactivate")
	}
	if code, _, e := runIt("", "sieve", "delete", "ann", "main"); code != 0 {
		t.Fatalf("delete: %q", e)
	}
	if code, _, _ := runIt("", "sieve", "list", "nobody"); code != exNoUser {
		t.Fatal("unknown user")
	}
}
