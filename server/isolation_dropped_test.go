package server_test

// The isolation table as the dropped user (issue 13, point 6: "run as
// root and as the dropped user").
//
// The in-process server cannot drop privileges without dropping the test
// process with it, so the run is a second process: this test binary run
// again with -test.run '^TestIsolation$' and isoDropEnv naming a uid and
// gid made for the run. TestIsolation, seeing it, drops the whole process
// (setgroups, setgid, setuid, as serve with [server] user does) before it
// makes any temporary directory or server: every store, socket, index and
// script of the run is then that user's, and so is every file the
// attacker plants (the attacker's setup is the same as in the root run).
//
// What differs from the root run:
//   - The files outside every store (secret, target) are the dropped
//     user's own: the kernel would let the server read and write them, so
//     only the server's own refusals (safefs) keep them out; the table's
//     checks are the root run's, unchanged.
//   - The hard-link premise (kernelRefusesLink) is checked for the
//     dropped user against a root-only file the parent makes: a process
//     that is not root cannot become nobody to try it as the root run
//     does.
//   - The CLI is a binary the parent built (the dropped user has no Go
//     cache to build with), run as the dropped user.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// isoDropEnv names "uid:gid" for TestIsolation to drop to.
	isoDropEnv = "STORAGED_ISO_DROP"
	// isoBinEnv is a storaged binary the dropped user can run.
	isoBinEnv = "STORAGED_ISO_BIN"
	// isoRootFileEnv is a root-only file, on the temporary directory's
	// file system, the dropped user must not be able to link.
	isoRootFileEnv = "STORAGED_ISO_ROOTFILE"
)

// isoDropped reports whether this process is a dropped isolation run.
func isoDropped() bool { return os.Getenv(isoDropEnv) != "" }

// dropForIsolation drops the whole process to the uid and gid isoDropEnv
// names, when it is set: see the top of the file. It must run before
// anything is made on disk.
func dropForIsolation(t *testing.T) {
	t.Helper()
	v := os.Getenv(isoDropEnv)
	if v == "" {
		return
	}
	us, gs, ok := strings.Cut(v, ":")
	uid, err1 := strconv.Atoi(us)
	gid, err2 := strconv.Atoi(gs)
	if !ok || err1 != nil || err2 != nil || uid <= 0 || gid <= 0 {
		t.Fatalf("%s=%q: want uid:gid, neither 0", isoDropEnv, v)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("%s is set but this process is uid %d, not root: it cannot drop to %d:%d", isoDropEnv, os.Geteuid(), uid, gid)
	}
	// The order of privileges.go: after setgid/setuid, setgroups is no
	// longer permitted. Each applies to every thread of the process.
	if err := syscall.Setgroups([]int{gid}); err != nil {
		t.Fatalf("setgroups(%d): %v", gid, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		t.Fatalf("setgid(%d): %v", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		t.Fatalf("setuid(%d): %v", uid, err)
	}
	if err := syscall.Setuid(0); err == nil {
		t.Fatal("after the drop, setuid(0) succeeded")
	}
	groups, _ := syscall.Getgroups()
	if os.Getuid() != uid || os.Geteuid() != uid || os.Getgid() != gid || os.Getegid() != gid || !slices.Equal(groups, []int{gid}) {
		t.Fatalf("after the drop: uid %d/%d gid %d/%d groups %v, want %d:%d", os.Getuid(), os.Geteuid(), os.Getgid(), os.Getegid(), groups, uid, gid)
	}
	// Where t.TempDir makes its directories, from now on as this user.
	probe, err := os.MkdirTemp("", "storaged-iso-probe")
	if err != nil {
		t.Fatalf("the dropped user cannot make a directory in %s: %v", os.TempDir(), err)
	}
	os.Remove(probe)
	t.Logf("isolation run dropped to uid %d gid %d (TMPDIR %s)", uid, gid, os.TempDir())
}

// kernelRefusesLinkDropped is kernelRefusesLink as the dropped user: it
// can hard-link a file of its own, and not the root-only file the parent
// made on the same file system (fs.protected_hardlinks), nor read it.
func (a *attacker) kernelRefusesLinkDropped() {
	a.t.Helper()
	rootFile := os.Getenv(isoRootFileEnv)
	if rootFile == "" {
		a.t.Fatalf("%s is not set", isoRootFileEnv)
	}
	dir, err := os.MkdirTemp("", "storaged-iso-link")
	if err != nil {
		a.t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	own := filepath.Join(dir, "own")
	plant(a.t, own, "the dropped user's\n")
	if err := os.Link(own, filepath.Join(dir, "own-link")); err != nil {
		a.t.Fatalf("as uid %d, ln of its own file failed (%v): the check below would prove nothing", os.Geteuid(), err)
	}
	if err := os.Link(rootFile, filepath.Join(dir, "stolen")); err == nil {
		a.t.Errorf("as uid %d, ln of a root-owned 0600 file succeeded", os.Geteuid())
	} else if !errors.Is(err, syscall.EPERM) {
		a.t.Errorf("as uid %d, ln of a root-owned 0600 file: %v, want EPERM", os.Geteuid(), err)
	}
	if _, err := os.ReadFile(rootFile); !errors.Is(err, os.ErrPermission) {
		a.t.Errorf("as uid %d, reading a root-owned 0600 file: %v, want EACCES", os.Geteuid(), err)
	}
}

var isoTableRe = regexp.MustCompile(`isolation table: (\d+) attacks, (\d+) runs over the formats`)

// TestIsolationAsDroppedUser runs TestIsolation again in a child process
// that drops to an unprivileged user made for it.
func TestIsolationAsDroppedUser(t *testing.T) {
	if isoDropped() {
		t.Skip("inside a dropped isolation run")
	}
	if testing.Short() {
		t.Skip("runs the whole isolation table a second time")
	}
	vm := newSysUser(t) // skips when not root or without useradd
	base := reachableDir(t)
	for p := filepath.Dir(base); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			t.Skipf("%s (%v) is not searchable by others: uid %d could not reach %s", p, fi.Mode().Perm(), vm.uid, base)
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	// The child's temporary directories, made after the drop, in a
	// directory the user owns.
	tmp := filepath.Join(base, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, vm.uid, vm.gid); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "storaged")
	if out, err := exec.Command("cp", storagedBinary(t), bin).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	const rootContent = "root's own, 0600\n"
	rootFile := filepath.Join(base, "root-only")
	if err := os.WriteFile(rootFile, []byte(rootContent), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^TestIsolation$", "-test.v", "-test.count=1", "-test.timeout=19m")
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("%s=%d:%d", isoDropEnv, vm.uid, vm.gid),
		isoBinEnv+"="+bin,
		isoRootFileEnv+"="+rootFile,
		"TMPDIR="+tmp,
		"HOME="+tmp,
	)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the isolation table as uid %d (%s): %v\n%s", vm.uid, vm.name, err, out)
	}
	text := string(out)
	if want := fmt.Sprintf("isolation run dropped to uid %d gid %d", vm.uid, vm.gid); !strings.Contains(text, want) {
		t.Fatalf("the child did not say %q:\n%s", want, text)
	}
	m := isoTableRe.FindStringSubmatch(text)
	if m == nil || !strings.Contains(text, "--- PASS: TestIsolation ") || strings.Contains(text, "--- FAIL") {
		t.Fatalf("the child did not pass the whole table:\n%s", text)
	}
	if n, _ := strconv.Atoi(m[1]); n < 40 {
		t.Errorf("the dropped run had %d attacks, want at least 40", n)
	}
	for _, f := range storeFormats {
		if !strings.Contains(text, "--- PASS: TestIsolation/"+f+" ") {
			t.Errorf("the dropped run did not pass on %s", f)
		}
	}
	// The child's table, row by row: attack, protocol, formats passed.
	rows := text[strings.Index(text, m[0])+len(m[0]):]
	if i := strings.Index(rows, "--- "); i >= 0 {
		rows = rows[:i]
	}
	t.Logf("as uid %d gid %d, in %v: %s%s", vm.uid, vm.gid, time.Since(start).Round(time.Second), m[0], strings.TrimRight(rows, " \n"))
	// Nothing of the run is left, and root's file is as it was.
	if ents, err := os.ReadDir(tmp); err != nil || len(ents) != 0 {
		names := []string{}
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("the child left %v in %s (%v)", names, tmp, err)
	}
	if b, err := os.ReadFile(rootFile); err != nil || string(b) != rootContent {
		t.Errorf("the root-only file: %q, %v", b, err)
	}
}
