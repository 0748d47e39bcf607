package safefs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// The victim's ids: another user with a store of their own.
const victimUID, victimGID = 4244, 4345

// credsFixture is a store of testUID's beside a victim's 0700 store and
// root's files, in a tree everyone may traverse (so that only the
// permissions of the stores and files themselves stand in the way), with
// links planted in the user's store pointing at each.
type credsFixture struct {
	root, victim, out string
	secret, target    string // the victim's 0600 message; root's 0644 file
	rootOnly          string // root's 0600 file
}

func newCredsFixture(t *testing.T) *credsFixture {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("switching to another uid needs root")
	}
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	fx := &credsFixture{root: filepath.Join(base, "user"), victim: filepath.Join(base, "victim"), out: filepath.Join(base, "out")}
	fx.secret = filepath.Join(fx.victim, "cur", "1.msg")
	fx.target, fx.rootOnly = filepath.Join(fx.out, "target"), filepath.Join(fx.out, "root-only")
	for _, d := range []string{fx.root, filepath.Join(fx.victim, "cur")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(fx.out, 0o755); err != nil {
		t.Fatal(err)
	}
	for p, c := range map[string]string{fx.secret: "VICTIM\n", fx.target: "UNTOUCHED\n", fx.rootOnly: "ROOT\n"} {
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(fx.target, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fx.victim, filepath.Join(fx.victim, "cur"), fx.secret} {
		if err := os.Chown(p, victimUID, victimGID); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(fx.root, testUID, testGID); err != nil {
		t.Fatal(err)
	}
	for name, to := range map[string]string{
		"victim": fx.victim, "victim-msg": fx.secret, "root-only": fx.rootOnly,
		"target": fx.target, "out": fx.out,
	} {
		if err := os.Symlink(to, filepath.Join(fx.root, name)); err != nil {
			t.Fatal(err)
		}
	}
	return fx
}

// untouched: the victim's store and root's files are as they were.
func (fx *credsFixture) untouched(t *testing.T) {
	t.Helper()
	for p, c := range map[string]string{fx.secret: "VICTIM\n", fx.target: "UNTOUCHED\n", fx.rootOnly: "ROOT\n"} {
		if b, err := os.ReadFile(p); err != nil || string(b) != c {
			t.Errorf("%s: %q, %v", p, b, err)
		}
	}
	for _, d := range []string{fx.out, filepath.Join(fx.victim, "cur")} {
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			if n := e.Name(); n != "target" && n != "root-only" && n != "1.msg" {
				t.Errorf("%s now holds %s", d, n)
			}
		}
	}
}

// linkAttacks are what a link planted in a store would be used for, each
// reporting the error the Dir answered (nil: the attack worked).
var linkAttacks = []struct {
	name string
	try  func(d *Dir) error
}{
	{"read the victim's message", func(d *Dir) error { _, err := d.ReadFile("victim-msg", 0); return err }},
	{"read through the victim's folder", func(d *Dir) error { _, err := d.ReadFile("victim/cur/1.msg", 0); return err }},
	{"list the victim's folder", func(d *Dir) error { _, err := d.ReadDir("victim/cur"); return err }},
	{"read root's file", func(d *Dir) error { _, err := d.ReadFile("root-only", 0); return err }},
	{"write root's file in place", func(d *Dir) error {
		f, err := d.OpenFile("target", os.O_WRONLY, 0, 0)
		if err == nil {
			_, err = f.WriteString("OWNED\n")
			f.Close()
		}
		return err
	}},
	{"create in the victim's folder", func(d *Dir) error {
		f, err := d.Create("victim/cur/2.msg", 0o600)
		if err == nil {
			f.Close()
		}
		return err
	}},
	{"create outside", func(d *Dir) error {
		f, err := d.Create("out/planted", 0o600)
		if err == nil {
			f.Close()
		}
		return err
	}},
	{"rename into the victim's folder", func(d *Dir) error {
		if err := d.WriteFile("mine", []byte("x"), 0o600); err != nil {
			return nil // the attack could not start: the test fails
		}
		return d.Rename("mine", "victim/cur/3.msg")
	}},
	{"remove the victim's message", func(d *Dir) error { return d.Remove("victim/cur/1.msg") }},
	{"remove root's file", func(d *Dir) error { return d.Remove("out/target") }},
	{"mkdir outside", func(d *Dir) error { return d.MkdirAll("out/dir/sub", 0o700) }},
	{"stat in the victim's folder", func(d *Dir) error { _, err := d.Lstat("victim/cur/1.msg"); return err }},
}

// With the resolution rules turned off, every link attack still fails,
// with EACCES, because a Dir with an owner works as that owner; run as
// root without one, the same attacks succeed (so the table can fail).
func TestCredsStopLinksThatSlipThrough(t *testing.T) {
	fx := newCredsFixture(t)
	defer UnsafeFollowLinks()()
	d, err := OpenDirOwned(fx.root, &Owner{UID: testUID, GID: testGID})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.cred == nil {
		t.Fatal("a Dir given to another uid, run as root, has no credentials")
	}
	for _, a := range linkAttacks {
		err := a.try(d)
		if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("%s: %v, want EACCES", a.name, err)
		} else if !strings.Contains(err.Error(), "as uid 4242") {
			t.Errorf("%s: %v does not say whose permission it was", a.name, err)
		}
	}
	fx.untouched(t)

	// The control: the same Dir as root.
	asRoot, err := OpenDir(fx.root)
	if err != nil {
		t.Fatal(err)
	}
	defer asRoot.Close()
	for _, a := range linkAttacks[:4] {
		if err := a.try(asRoot); err != nil {
			t.Errorf("as root with the rules off, %s failed (%v): the attacks above prove nothing", a.name, err)
		}
	}
}

// With the rules on, the same links are refused before the kernel's
// permissions are asked: ErrLink.
func TestCredsRulesStillFirst(t *testing.T) {
	fx := newCredsFixture(t)
	d, err := OpenDirOwned(fx.root, &Owner{UID: testUID, GID: testGID})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, a := range linkAttacks {
		if err := a.try(d); err == nil {
			t.Errorf("%s succeeded", a.name)
		} else if a.name != "rename into the victim's folder" && !errors.Is(err, ErrLink) {
			t.Errorf("%s: %v, want ErrLink", a.name, err)
		}
	}
	fx.untouched(t)
}

// What the user owns works as before, files come out theirs without a
// chown, and a store root that is not theirs is refused at open with
// what to do.
func TestCredsOwnStore(t *testing.T) {
	fx := newCredsFixture(t)
	d, err := OpenDirOwned(fx.root, &Owner{UID: testUID, GID: testGID})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.MkdirAll("a/b/c", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFile("a/b/c/f", []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Rename("a/b/c/f", "a/g"); err != nil {
		t.Fatal(err)
	}
	if b, err := d.ReadFile("a/g", 0); err != nil || string(b) != "data" {
		t.Fatalf("read back: %q, %v", b, err)
	}
	if err := d.Link("a/g", "a/h"); err != nil {
		t.Fatal(err)
	}
	ents, err := d.ReadDir("a")
	if err != nil || len(ents) != 3 {
		t.Fatalf("ReadDir: %v, %v", ents, err)
	}
	for _, n := range []string{"a", "a/b", "a/b/c", "a/g"} {
		if u, g := ownerOf(t, filepath.Join(fx.root, n)); u != testUID || g != testGID {
			t.Errorf("%s: %d:%d, want %d:%d", n, u, g, testUID, testGID)
		}
	}
	if err := d.RemoveAll("a"); err != nil {
		t.Fatal(err)
	}

	_, err = OpenDirOwned(fx.victim, &Owner{UID: testUID, GID: testGID})
	if err == nil || !strings.Contains(err.Error(), "chown -R 4242:4343 "+fx.victim) {
		t.Errorf("a store root of uid %d opened for uid %d: %v", victimUID, testUID, err)
	}
}

// No other goroutine ever runs with a user's credentials: while many
// goroutines work in an owned Dir, others read a root-only file (which a
// thread left with the user's fsuid would refuse); afterwards every
// thread of the process is back to root's ids and groups.
func TestCredsNeverLeak(t *testing.T) {
	fx := newCredsFixture(t)
	d, err := OpenDirOwned(fx.root, &Owner{UID: testUID, GID: testGID})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 200 {
				f, name, err := d.CreateTemp("", "t-", 0o600)
				if err != nil {
					errs <- err
					return
				}
				f.Close()
				if err := d.Remove(name); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 200 {
				if _, err := os.ReadFile(fx.rootOnly); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	b, err := base()
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		st, err := os.ReadFile(filepath.Join("/proc/self/task", task.Name(), "status"))
		if err != nil {
			continue // the thread ended
		}
		for _, line := range strings.Split(string(st), "\n") {
			k, v, _ := strings.Cut(line, ":")
			f := strings.Fields(v)
			switch k {
			case "Uid", "Gid":
				// real, effective, saved, file system
				want := b.uid
				if k == "Gid" {
					want = b.gid
				}
				for _, id := range f {
					if id != strconv.Itoa(want) {
						t.Errorf("thread %s: %s %v", task.Name(), k, f)
						break
					}
				}
			case "Groups":
				var got []int
				for _, g := range f {
					n, _ := strconv.Atoi(g)
					got = append(got, n)
				}
				slices.Sort(got)
				want := slices.Clone(b.groups)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("thread %s: groups %v, want %v", task.Name(), got, want)
				}
			}
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(fx.root, &st); err != nil || st.Uid != testUID {
		t.Errorf("the store root: %v %d", err, st.Uid)
	}
}
