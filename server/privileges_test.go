package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	imap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/storaged/storaged/config"
)

// sysUser is an unprivileged account made for one test, removed after.
type sysUser struct {
	name     string
	uid, gid int
}

func newSysUser(t *testing.T) sysUser {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("privilege tests need root")
	}
	name := fmt.Sprintf("storaged-test-%d", rand.IntN(1_000_000))
	out, err := exec.Command("useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name).CombinedOutput()
	if err != nil {
		t.Skipf("useradd: %v: %s", err, out)
	}
	t.Cleanup(func() {
		exec.Command("userdel", name).Run()
		exec.Command("groupdel", name).Run() // when userdel left it
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return sysUser{name: name, uid: uid, gid: gid}
}

// reachableDir is a directory outside t.TempDir (whose top is 0700
// root's) that the dropped user can enter.
func reachableDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "storaged-priv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func owner(t *testing.T, p string) (uid, gid int, mode fs.FileMode) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid), fi.Mode()
}

// ownedBy checks that root and everything beneath it belong to uid:gid,
// and that there is something there.
func ownedBy(t *testing.T, root string, uid, gid int) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		n++
		if u, g, _ := owner(t, p); u != uid || g != gid {
			t.Errorf("%s: owned by %d:%d, want %d:%d", p, u, g, uid, gid)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// procIDs reads the Uid, Gid and Groups lines of /proc/PID/status.
func procIDs(t *testing.T, pid int) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && (k == "Uid" || k == "Gid" || k == "Groups") {
			out[k] = strings.Fields(v)
		}
	}
	return out
}

// served is a storaged serve process.
type served struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	log   []string
	done  chan struct{}
	addrs map[string]string // proto → TCP address, from the log
}

func (p *served) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.log, "\n")
}

var listeningRe = regexp.MustCompile(`msg=listening proto=(\w+) addr=(\S+)`)

// serveBinary runs the built storaged serve and waits for the end of its
// start-up repair in its log.
func serveBinary(t *testing.T, cfgPath string) *served {
	t.Helper()
	cmd := exec.Command(storagedBinary(t), "-config", cfgPath, "serve")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &served{cmd: cmd, done: make(chan struct{}), addrs: map[string]string{}}
	ready := make(chan struct{})
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		once := sync.OnceFunc(func() { close(ready) })
		defer once()
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log = append(p.log, line)
			if m := listeningRe.FindStringSubmatch(line); m != nil && !strings.HasPrefix(m[2], "/") {
				p.addrs[m[1]] = m[2]
			}
			p.mu.Unlock()
			if strings.Contains(line, "startup repair finished") {
				once()
			}
		}
		io.Copy(io.Discard, stderr)
		cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case <-ready:
	case <-p.done:
	}
	select {
	case <-p.done:
		t.Fatalf("serve exited at start:\n%s", p.logText())
	default:
	}
	return p
}

func lmtpDeliver(t *testing.T, network, addr, rcpt string, msg []byte) *smtp.SMTPError {
	t.Helper()
	conn, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("mx.example.org"); err != nil {
		t.Fatal(err)
	}
	replies, err := send(c, "s@example.net", []string{rcpt}, msg)
	if err != nil {
		t.Fatalf("LMTP over %s: %v", network, err)
	}
	c.Quit()
	return replies[rcpt]
}

func privMessage(n int) []byte {
	return fmt.Appendf(nil, "From: s@example.net\r\nTo: vm@example.org\r\nSubject: dropped %d\r\nMessage-ID: <priv%d@test>\r\n\r\nbody %d\r\n", n, n, n)
}

// serve started as root with [server] user binds its ports and sockets,
// drops to that user for good, and everything it writes is that user's;
// a passwd-file line naming another uid is refused, not written as the
// wrong owner.
func TestPrivilegeDrop(t *testing.T) {
	vm := newSysUser(t)
	other := newSysUser(t)
	base := reachableDir(t)
	data := filepath.Join(base, "data")
	sock := filepath.Join(base, "lmtp.sock")
	cfgPath := filepath.Join(base, "storaged.toml")
	conf := fmt.Sprintf(`data_dir = %q
hostname = "mx.example.org"
local_domains = ["example.org"]
[server]
user = %q
access_groups = [%q]
[log]
level = "debug"
[lmtp]
listen = ["127.0.0.1:0", "unix:%s"]
socket_user = "nobody"
socket_group = %q
socket_mode = "0640"
[imap]
listen = ["127.0.0.1:0"]
[pop3]
listen = ["127.0.0.1:0"]
[managesieve]
listen = ["127.0.0.1:0"]
`, data, vm.name, other.name, sock, other.name)
	if err := os.WriteFile(cfgPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// The data directory and users file are made by root, as an admin
	// would before the first start.
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(data, vm.uid, vm.gid); err != nil {
		t.Fatal(err)
	}
	users := fmt.Sprintf("vm:{PLAIN}pw-vm:::::\nsame:{PLAIN}pw-same:%d:%d::::\nforeign:{PLAIN}pw-foreign:%d:%d::::\n", vm.uid, vm.gid, other.uid, other.gid)
	if err := os.WriteFile(filepath.Join(data, "users"), []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	p := serveBinary(t, cfgPath)
	if !strings.Contains(p.logText(), "dropped privileges") {
		t.Errorf("no log line about the drop:\n%s", p.logText())
	}

	// The kernel's view: real, effective, saved and file-system ids,
	// and no supplementary group of root's left.
	ids := procIDs(t, p.cmd.Process.Pid)
	for _, k := range []string{"Uid", "Gid"} {
		want := strconv.Itoa(vm.uid)
		if k == "Gid" {
			want = strconv.Itoa(vm.gid)
		}
		if len(ids[k]) != 4 || strings.Count(strings.Join(ids[k], " "), want) != 4 {
			t.Errorf("/proc status %s: %v, want %s four times", k, ids[k], want)
		}
	}
	// server.access_groups is kept beside the group; root's are not.
	if g := ids["Groups"]; len(g) != 2 || !slices.Contains(g, strconv.Itoa(vm.gid)) || !slices.Contains(g, strconv.Itoa(other.gid)) {
		t.Errorf("/proc status Groups: %v, want %d and %d (server.access_groups)", g, vm.gid, other.gid)
	}

	// The LMTP socket has the configured owner, group and mode.
	if u, g, mode := owner(t, sock); u != 65534 || g != other.gid || mode.Perm() != 0o640 || mode&fs.ModeSocket == 0 {
		t.Errorf("LMTP socket: %d:%d %v, want 65534:%d 0640 socket", u, g, mode, other.gid)
	}

	if e := lmtpDeliver(t, "unix", sock, "vm@example.org", privMessage(1)); e != nil {
		t.Fatalf("LMTP over the socket: %v", e)
	}
	p.mu.Lock()
	tcp, imapAddr := p.addrs["lmtp"], p.addrs["imap"]
	p.mu.Unlock()
	if tcp == "" || imapAddr == "" {
		t.Fatalf("no TCP addresses in the log:\n%s", p.logText())
	}
	if e := lmtpDeliver(t, "tcp", tcp, "vm@example.org", privMessage(2)); e != nil {
		t.Fatalf("LMTP over TCP: %v", e)
	}
	if e := lmtpDeliver(t, "tcp", tcp, "same@example.org", privMessage(3)); e != nil {
		t.Fatalf("LMTP to a user whose uid/gid fields are server.user's: %v", e)
	}
	// Another uid than the process's: refused, retried by the MTA.
	if e := lmtpDeliver(t, "tcp", tcp, "foreign@example.org", privMessage(4)); e == nil || e.Code != 451 || e.EnhancedCode != (smtp.EnhancedCode{4, 3, 0}) {
		t.Errorf("LMTP to a user of another uid: %v, want 451 4.3.0", e)
	}
	if _, err := os.Lstat(filepath.Join(data, "mail", "foreign")); err == nil {
		t.Error("a store was made for the user whose uid cannot be honoured")
	}

	// IMAP reads what was delivered.
	c, err := imapclient.DialInsecure(imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("vm", "pw-vm").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("IMAP: %d messages, want 2", len(msgs))
	}
	for i, m := range msgs {
		if body := m.FindBodySection(&imap.FetchItemBodySection{Peek: true}); !bytes.Contains(body, privMessage(i + 1)[len("From: s@example.net\r\n"):]) {
			t.Errorf("IMAP message %d: %q", i+1, body)
		}
	}
	c2, err := imapclient.DialInsecure(imapAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Login("foreign", "pw-foreign").Wait(); imapCode(err) != imap.ResponseCodeUnavailable {
		t.Errorf("IMAP login of a user of another uid: %v, want NO [UNAVAILABLE]", err)
	}
	if !strings.Contains(p.logText(), "foreign") {
		t.Errorf("the refusal of foreign is not logged:\n%s", p.logText())
	}

	// Everything written is server.user's: the stores (message files,
	// Maildir directories), the indexes, the lock file, the admin
	// socket, and the users file root wrote before the start.
	for _, u := range []string{"vm", "same"} {
		if n := ownedBy(t, filepath.Join(data, "mail", u), vm.uid, vm.gid); n < 4 {
			t.Errorf("mail/%s: only %d entries", u, n)
		}
		ownedBy(t, filepath.Join(data, "index", u), vm.uid, vm.gid)
		if _, err := os.Stat(filepath.Join(data, "index", u, "index.db")); err != nil {
			t.Error(err)
		}
	}
	news, _ := filepath.Glob(filepath.Join(data, "mail", "vm", "new", "*"))
	if len(news) != 2 {
		t.Errorf("mail/vm/new holds %d files, want 2", len(news))
	}
	for _, f := range []string{"", ".storaged.lock", "admin.sock", "users", "mail", "index"} {
		if u, g, _ := owner(t, filepath.Join(data, f)); u != vm.uid || g != vm.gid {
			t.Errorf("data/%s: owned by %d:%d, want %d:%d", f, u, g, vm.uid, vm.gid)
		}
	}

	// A reload that adds a port below 1024 cannot bind it any more: it
	// says so and why, and the server goes on serving.
	reloaded := strings.Replace(conf, "[pop3]\nlisten = [\"127.0.0.1:0\"]", "[pop3]\nlisten = [\"127.0.0.1:0\", \"127.0.0.1:987\"]", 1)
	if reloaded == conf {
		t.Fatal("test config has no [pop3] listen line to extend")
	}
	if err := os.WriteFile(cfgPath, []byte(reloaded), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("ports below 1024 need root, and storaged runs as uid %d now: restart it", vm.uid)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.logText(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("reload adding 127.0.0.1:987: no %q in the log:\n%s", want, p.logText())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if e := lmtpDeliver(t, "tcp", tcp, "vm@example.org", privMessage(5)); e != nil {
		t.Errorf("LMTP after the reload: %v", e)
	}
}

// serve started as root without [server] user stays root, and gives each
// user's files to the uid/gid of the user's passwd-file line (Dovecot's
// per-user uid/gid fields), in every format; a line without them keeps
// the process's.
func TestPerUserOwners(t *testing.T) {
	a, b := newSysUser(t), newSysUser(t)
	eachFormat(t, func(t *testing.T, format string) {
		dir := t.TempDir()
		users := fmt.Sprintf("alice:{PLAIN}secret-alice:%d:%d::::\nbob:{PLAIN}secret-bob:%s:%s::::\nroot0:{PLAIN}secret-root0:::::\n", a.uid, a.gid, b.name, b.name)
		if err := os.WriteFile(filepath.Join(dir, "users"), []byte(users), 0o600); err != nil {
			t.Fatal(err)
		}
		ts := startServer(t, dir, withFormat(format, func(c *config.Config) { c.Sieve.Enabled = true }))
		c := ts.lmtpClient()
		replies, err := send(c, "s@example.net", []string{"alice@example.org", "bob@example.org", "root0@example.org"}, privMessage(1))
		if err != nil {
			t.Fatal(err)
		}
		for r, e := range replies {
			if e != nil {
				t.Fatalf("%s: %v", r, e)
			}
		}
		// An IMAP CREATE and APPEND make directories and files too.
		ic := ts.login(t, "alice", nil)
		if err := ic.Create("Lists/Go", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		appendMsg(t, ic, "Lists/Go", privMessage(2), nil)
		if err := ts.Sieve.Put("bob", "main", []byte("keep;\n")); err != nil {
			t.Fatal(err)
		}
		if err := ts.Sieve.SetActive("bob", "main"); err != nil {
			t.Fatal(err)
		}
		mail := ts.cfg.Mail.Dir
		if n := ownedBy(t, filepath.Join(mail, "alice"), a.uid, a.gid); n < 3 {
			t.Errorf("alice's store: %d entries", n)
		}
		ownedBy(t, filepath.Join(mail, "bob"), b.uid, b.gid)
		for u, id := range map[string]sysUser{"alice": a, "bob": b} {
			if uid, gid, _ := owner(t, filepath.Join(ts.cfg.Mail.IndexDir, u, "index.db")); uid != id.uid || gid != id.gid {
				t.Errorf("%s's index: %d:%d, want %d:%d", u, uid, gid, id.uid, id.gid)
			}
			// The index directory stays the server's: what it keeps
			// there (the mbox journal) is trusted.
			if uid, _, _ := owner(t, filepath.Join(ts.cfg.Mail.IndexDir, u)); uid != 0 {
				t.Errorf("%s's index directory given to %d", u, uid)
			}
		}
		ownedBy(t, filepath.Join(ts.cfg.Sieve.Dir, "bob"), b.uid, b.gid)
		if uid, gid, _ := owner(t, filepath.Join(ts.cfg.Sieve.Dir, "bob.sieve")); uid != b.uid || gid != b.gid {
			t.Errorf("bob's active link: %d:%d", uid, gid)
		}
		ownedBy(t, filepath.Join(mail, "root0"), 0, 0)
		if got := ts.stored(t, "alice", "INBOX"); got != 1 {
			t.Errorf("alice's INBOX holds %d", got)
		}
	})
}

// What start-up says: a data directory server.user cannot write is an
// error naming both; started as server.user itself, serve runs as it
// is; started as a third user, it refuses rather than run as that one.
func TestPrivilegeStartChecks(t *testing.T) {
	vm := newSysUser(t)
	base := reachableDir(t)
	data := filepath.Join(base, "data")
	cfgPath := filepath.Join(base, "storaged.toml")
	conf := fmt.Sprintf("data_dir = %q\nlocal_domains = [\"example.org\"]\n[server]\nuser = %q\n[lmtp]\nlisten = [\"unix:%s\"]\n[imap]\nlisten = [\"127.0.0.1:0\"]\n[pop3]\nlisten = [\"127.0.0.1:0\"]\n[managesieve]\nlisten = [\"127.0.0.1:0\"]\n",
		data, vm.name, filepath.Join(data, "lmtp.sock"))
	if err := os.WriteFile(cfgPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "users"), []byte("vm:{PLAIN}pw:::::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A copy of the binary the unprivileged users may run.
	bin := filepath.Join(base, "storaged")
	if out, err := exec.Command("cp", storagedBinary(t), bin).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	run := func(cred *syscall.Credential) (string, error) {
		cmd := exec.Command(bin, "-config", cfgPath, "serve")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Dir = "/"
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
			}
		}()
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// root's data directory: refused, with the directory and the user.
	out, err := run(nil)
	if err == nil || !strings.Contains(out, data) || !strings.Contains(out, vm.name) || !strings.Contains(out, "not writable") {
		t.Errorf("serve on a data directory server.user cannot write: %v\n%s", err, out)
	}
	// A third user cannot become server.user.
	out, err = run(&syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}})
	if err == nil || !strings.Contains(out, "cannot switch") {
		t.Errorf("serve as nobody with server.user set: %v\n%s", err, out)
	}

	// Started as server.user on its own data directory: it serves.
	if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", vm.uid, vm.gid), data).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v %s", err, out)
	}
	cmd := exec.Command(bin, "-config", cfgPath, "serve")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(vm.uid), Gid: uint32(vm.gid), Groups: []uint32{}}}
	cmd.Dir = "/"
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var logText strings.Builder // written by the reader until scanned is closed
	ready := make(chan bool, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			logText.WriteString(sc.Text() + "\n")
			if !sent && strings.Contains(sc.Text(), "startup repair finished") {
				ready <- true
				sent = true
			}
		}
		if !sent {
			ready <- false
		}
	}()
	ok := <-ready
	if !ok {
		<-scanned
		cmd.Wait()
		t.Fatalf("serve as server.user did not start:\n%s", logText.String())
	}
	if e := lmtpDeliver(t, "unix", filepath.Join(data, "lmtp.sock"), "vm@example.org", privMessage(1)); e != nil {
		t.Errorf("LMTP to serve started as server.user: %v", e)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	<-scanned
	cmd.Wait()
	if !strings.Contains(logText.String(), "running as server.user") {
		t.Errorf("no log line saying it runs as server.user:\n%s", logText.String())
	}
	ownedBy(t, filepath.Join(data, "mail", "vm"), vm.uid, vm.gid)
}
