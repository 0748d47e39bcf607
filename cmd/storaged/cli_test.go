package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// runIn runs the CLI in this process with a config file cfg.
func runIn(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// Every verb answers -h, -help and --help, and "help VERB", with its
// usage and examples on standard output, exit 0, even when the config
// cannot be read.
func TestHelpOnEveryVerb(t *testing.T) {
	broken := filepath.Join(t.TempDir(), "broken.toml")
	os.WriteFile(broken, []byte("[imap\n"), 0o600)
	verbs := []string{"serve", "deliver", "user", "quota", "sieve", "cert", "import", "config", "check", "index", "version"}
	for _, v := range verbs {
		forms := [][]string{{v, "--help"}, {v, "-h"}, {v, "-help"}, {"help", v}, {"-config", broken, v, "--help"}, {v, "--help", "-config", broken}}
		switch v {
		case "user":
			forms = append(forms, []string{"user", "add", "bob", "-h"})
		case "quota":
			forms = append(forms, []string{"quota", "get", "-A", "--help"})
		case "sieve":
			forms = append(forms, []string{"sieve", "put", "ann", "-h"})
		case "deliver":
			forms = append(forms, []string{"deliver", "-a", "ann", "--help"})
		}
		for _, args := range forms {
			code, out, errs := runIn(t, "", args...)
			if code != 0 || !strings.HasPrefix(out, "usage: storaged") || !strings.Contains(out, "Example") || !strings.Contains(out, v) {
				t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, out, errs)
			}
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		if code, out, _ := runIn(t, "", args...); code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%q: exit %d, %q", args, code, out)
		}
	}
	// After "--" a "-h" is an argument, not a request for help.
	if code, _, _ := runIn(t, "", "-config", broken, "sieve", "check", "--", "-h"); code == 0 {
		t.Error(`"sieve check -- -h" printed help`)
	}
	if code, _, errs := runIn(t, "", "help", "nonsense"); code != exUsage || !strings.Contains(errs, "deliver") {
		t.Errorf("help nonsense: %d %q", code, errs)
	}
}

// Flags and arguments are taken before or after the verb, or refused:
// never ignored.
func TestFlagsTakenOrRefused(t *testing.T) {
	e := newEnv(t, "ann")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "now"}, `serve takes no arguments, not "now"`},
		{[]string{"config", "imap"}, `config takes no arguments`},
		{[]string{"version", "--short"}, `version takes no arguments`},
		{[]string{"user", "list", "-format", "mbox"}, "user list takes no -format"},
		{[]string{"user", "list", "ann"}, `user list takes no arguments, not "ann"`},
		{[]string{"user", "passwd", "ann", "-format", "mbox"}, "user passwd takes no -format"},
		{[]string{"user", "frobnicate"}, `unknown user command "frobnicate"`},
		{[]string{"sieve", "put", "ann", "main", "-activat"}, "unknown flag -activat"},
		{[]string{"-config", e.cfg + ".other", "config"}, "-config: given twice"},
		{[]string{"config", "-config", e.cfg + ".other"}, "-config given twice"},
	} {
		out, code := e.run("", tc.args...)
		if code != exUsage || !strings.Contains(out, tc.want) {
			t.Errorf("%q: exit %d (want %d): %q (want …%s…)", tc.args, code, exUsage, out, tc.want)
		}
	}
	code, _, errs := runIn(t, "", "-x", "version")
	if code != exUsage || !strings.Contains(errs, "flag provided but not defined: -x") {
		t.Errorf("-x before the verb: %d %q", code, errs)
	}

	// Flags after the arguments count.
	if out, code := e.run("keep;\n", "sieve", "put", "ann", "main", "-activate"); code != 0 {
		t.Fatalf("sieve put NAME -activate: %d %s", code, out)
	}
	if out, _ := e.run("", "sieve", "list", "ann"); !strings.Contains(out, "yes") {
		t.Errorf("-activate after the name was ignored:\n%s", out)
	}
	cert, key := filepath.Join(e.dir, "c.pem"), filepath.Join(e.dir, "k.pem")
	if out, code := e.run("", "cert", "selfsigned", "localhost", "-cert", cert, "-key", key, "-days", "2"); code != 0 || !strings.Contains(out, cert) {
		t.Fatalf("cert flags after HOST: %d %s", code, out)
	}
	if _, err := os.Stat(cert); err != nil {
		t.Errorf("-cert after HOST was ignored: %v", err)
	}
	mbox := filepath.Join(e.dir, "old.mbox")
	os.WriteFile(mbox, []byte("From a@example.net Mon Jan  1 00:00:00 2024\nSubject: old\n\nbody\n"), 0o600)
	if out, code := e.run("", "import", "ann", mbox, "-dry-run"); code != 0 || !strings.Contains(out, "WOULD ADD") {
		t.Fatalf("import SOURCE -dry-run: %d %s", code, out)
	}
	if n := e.inboxCount("ann"); n != 0 {
		t.Errorf("-dry-run after the source was ignored: %d messages imported", n)
	}
}

// tree lists every path under dir with its mode and size.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		fi, err := d.Info()
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel+" "+fi.Mode().String()+" "+strconv.FormatInt(fi.Size(), 10))
		return nil
	})
	sort.Strings(out)
	return out
}

// Read-only verbs create nothing: an empty data directory stays empty,
// and a user without a store gets none.
func TestReadOnlyVerbsCreateNothing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "storaged.toml")
	os.WriteFile(cfg, []byte("data_dir = \""+data+"\"\nlocal_domains = [\"example.org\"]\n"), 0o600)
	script := filepath.Join(t.TempDir(), "s.sieve")
	os.WriteFile(script, []byte("keep;\n"), 0o600)
	readOnly := []struct {
		args []string
		code int
	}{
		{[]string{"version"}, 0},
		{[]string{"config"}, 0},
		{[]string{"user", "list"}, 0},
		{[]string{"quota", "get", "-A"}, 0},
		{[]string{"quota", "get", "ann"}, exNoUser},
		{[]string{"quota", "recalc", "-A"}, 0},
		{[]string{"check", "-A"}, 0},
		{[]string{"check", "ann"}, exNoUser},
		{[]string{"sieve", "list", "ann"}, exNoUser},
		{[]string{"sieve", "check", script}, 0},
		{[]string{"deliver", "--help"}, 0},
	}
	runAll := func(want []string) {
		t.Helper()
		for _, tc := range readOnly {
			code, out, errs := runIn(t, "", append([]string{"-config", cfg}, tc.args...)...)
			if code != tc.code {
				t.Errorf("%q: exit %d, want %d: %s %s", tc.args, code, tc.code, out, errs)
			}
			if got := tree(t, data); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("%q changed the data directory:\n%s\nwas\n%s", tc.args, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
	}
	empty := tree(t, data)
	if len(empty) != 1 {
		t.Fatalf("not empty: %q", empty)
	}
	runAll(empty)

	// A user in the file but without a store: listed, reported, not
	// created.
	if code, _, errs := runIn(t, "pw\n", "-config", cfg, "user", "add", "ann", "-password-stdin"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	readOnly = append(readOnly, []struct {
		args []string
		code int
	}{
		{[]string{"quota", "get", "ann"}, 0},
		{[]string{"quota", "recalc", "ann"}, 0},
		{[]string{"check", "ann"}, 0},
		{[]string{"sieve", "list", "ann"}, 0},
	}...)
	for i := range readOnly {
		if readOnly[i].code == exNoUser {
			readOnly[i].code = 0
		}
	}
	snapshot := tree(t, data)
	runAll(snapshot)
	code, out, _ := runIn(t, "", "-config", cfg, "quota", "get", "ann")
	if code != 0 || !strings.Contains(out, "ann") || !strings.Contains(out, "STORAGE") {
		t.Errorf("quota get of a user without a store: %d %q", code, out)
	}
	if _, out, _ := runIn(t, "", "-config", cfg, "check", "ann"); !strings.Contains(out, "ann: no store yet") {
		t.Errorf("check of a user without a store: %q", out)
	}
}

// Rewriting the users file keeps its mode, and (as root) its owner and
// group: a 0640 root:mail file Dovecot reads stays 0640 root:mail after
// user passwd, user add, quota set and user del.
func TestUsersFileKeepsModeAndOwner(t *testing.T) {
	e := newEnv(t, "ann")
	users := filepath.Join(e.dir, "users")
	uid, gid := os.Getuid(), os.Getgid()
	if os.Geteuid() == 0 {
		g, err := user.LookupGroup("mail")
		if err != nil {
			t.Fatalf("group mail: %v", err)
		}
		gid, _ = strconv.Atoi(g.Gid)
		if gid == 0 {
			t.Fatal("group mail is gid 0: the test could not tell")
		}
		if err := os.Chown(users, 0, gid); err != nil {
			t.Fatal(err)
		}
		uid = 0
	} else {
		t.Log("not root: checking the mode only")
	}
	if err := os.Chmod(users, 0o640); err != nil {
		t.Fatal(err)
	}
	check := func(after string) {
		t.Helper()
		fi, err := os.Stat(users)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != 0o640 || int(st.Uid) != uid || int(st.Gid) != gid {
			t.Fatalf("after %s: %v %d:%d, want -rw-r----- %d:%d", after, fi.Mode().Perm(), st.Uid, st.Gid, uid, gid)
		}
	}
	for _, step := range []struct {
		stdin string
		args  []string
	}{
		{"new-pw\n", []string{"user", "passwd", "ann", "-password-stdin"}},
		{"", []string{"user", "add", "bob"}},
		{"", []string{"quota", "set", "ann", "storage=1G"}},
		{"", []string{"user", "del", "bob"}},
	} {
		if out, code := e.run(step.stdin, step.args...); code != 0 {
			t.Fatalf("%q: %d %s", step.args, code, out)
		}
		check(strings.Join(step.args, " "))
	}
	// A new users file is private.
	fresh := filepath.Join(t.TempDir(), "users")
	code, _, errs := runIn(t, "pw\n", "-config", writeConfig(t, fresh), "user", "add", "ann", "-password-stdin")
	if code != 0 {
		t.Fatalf("user add into a new file: %s", errs)
	}
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new users file: %v %v, want 0600", fi.Mode(), err)
	}
}

// writeConfig is a config whose users file is at users.
func writeConfig(t *testing.T, users string) string {
	dir := t.TempDir()
	p := filepath.Join(dir, "storaged.toml")
	os.WriteFile(p, []byte("data_dir = \""+dir+"\"\n[users]\nfile = \""+users+"\"\n"), 0o600)
	return p
}
