package server_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/internal/safefs"
)

// The isolation table (issue 13, point 6): one user can never read, list
// or write another's mail or any file outside their store, whatever the
// name, user, address or path trick, and whatever a local user who can
// write into their own store plants there (symbolic links, hard links, a
// folder swapped for a link between check and use, forged lock files).
//
// Each attack runs on every storage format it applies to, against a
// server started for the format, over real sockets (IMAP, POP3, LMTP,
// ManageSieve) or the storaged binary (the CLI), by an attacker of its
// own (a fresh user, so that one attack's debris cannot hide another's
// effect). After each, over the protocol: nothing secret in any answer,
// no [SERVERBUG]; and on disk: the victim's store byte for byte as it
// was, the files outside every store unchanged, no file or directory
// created outside the attacker's store, and the attack's own checks.
//
// The table runs as root (TestIsolation on its own), and as the dropped
// user: TestIsolationAsDroppedUser (isolation_dropped_test.go) runs this
// test binary again with isoDropEnv set, and TestIsolation then drops the
// whole process to that uid and gid before it makes anything, as serve
// with [server] user runs; every store, socket and index is that user's.
// TestIsolationPerUserIDs runs it a third time as root for users who each
// have a uid of their own (passwd-file uid/gid fields), so that every
// operation in a store runs as its user (safefs creds.go) and what an
// attacker plants is theirs.

// Markers no answer may ever carry.
const (
	secretMark = "TOPSECRET"
	bobMark    = "BOB-PRIVATE"
)

// secretContent is a file outside every store that parses as an mbox, a
// message and a dovecot-keywords file, so that a format reading it
// through a link would take something from it.
const secretContent = "From root@localhost Mon Jan  2 15:04:05 2006\nSubject: " + secretMark + "\n\n0 " + secretMark + "\nroot:x:0:0:" + secretMark + ":/root:/bin/sh\n"

const targetContent = "UNTOUCHED system file\n"

// isoEnv is one format's server and everything around it.
type isoEnv struct {
	t      *testing.T
	ts     *testServer
	format string
	data   string            // the data directory
	out    string            // a directory outside the data directory
	secret string            // out/secret
	target string            // out/target: a file attacks try to overwrite
	bob    map[string]string // the victim's files before the attack
	outs   map[string]string // the files outside, before the attack
	users  []string
}

// isoAttack is one row of the table.
type isoAttack struct {
	name    string
	proto   string   // IMAP, POP3, LMTP, ManageSieve, CLI
	formats []string // nil: every format
	// before runs before the attacker's account is first opened; setup
	// after (the attacker logged in once). Both plant on disk.
	before, setup func(a *attacker)
	// try attacks over the protocol and checks the answers and the disk;
	// every answer it records (a.saw) is also checked for leaks.
	try func(a *attacker)
}

// attacker is a row's run: its user and what it saw.
type attacker struct {
	*isoEnv
	t    *testing.T
	user string
	seen []string
}

func (a *attacker) saw(s ...string) { a.seen = append(a.seen, s...) }

var isoResults struct {
	sync.Mutex
	rows map[string][]string // attack → formats it passed on
}

func TestIsolation(t *testing.T) {
	dropForIsolation(t)
	isoResults.rows = map[string][]string{}
	eachFormat(t, testIsolation)
	var names []string
	for _, a := range isoAttacks {
		names = append(names, a.name)
	}
	runs := 0
	isoResults.Lock()
	for _, n := range names {
		runs += len(isoResults.rows[n])
	}
	t.Logf("isolation table: %d attacks, %d runs over the formats", len(isoAttacks), runs)
	for _, a := range isoAttacks {
		t.Logf("  %-34s %-11s %s", a.name, a.proto, strings.Join(isoResults.rows[a.name], " "))
	}
	isoResults.Unlock()
	if len(isoAttacks) < 40 {
		t.Errorf("the table has %d attacks; the issue asks for at least 40", len(isoAttacks))
	}
}

// isoUIDs makes the table's users (victim and attackers) users with uids
// of their own, served by a server run as root: every operation in a
// store then runs as its user (safefs creds.go), and what an attacker
// plants in their store is theirs, as a local user's files are.
var isoUIDs bool

// isoUID is the uid (and gid) of the table's user i (-1: the victim) in
// an isoUIDs run: numbers no account of the host has.
func isoUID(i int) int { return 50000 + i }

// TestIsolationPerUserIDs is the table again, run as root for users who
// each have a uid of their own.
func TestIsolationPerUserIDs(t *testing.T) {
	if os.Geteuid() != 0 || isoDropped() {
		t.Skip("per-user uids need a server run as root")
	}
	isoUIDs = true
	defer func() { isoUIDs = false }()
	TestIsolation(t)
}

// giveStore gives what the test planted as root in the attacker's store
// to the attacker, as a local user's own files would be; a file with
// several links (another's file linked in) or someone else's is left as
// it is, and links are changed, never followed.
func (a *attacker) giveStore() {
	if !isoUIDs {
		return
	}
	id := isoUID(slices.Index(a.users, a.user))
	filepath.WalkDir(a.storeOf(a.user), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil || st.Uid != 0 || (st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink > 1) {
			return nil
		}
		os.Lchown(p, id, id)
		return nil
	})
}

func testIsolation(t *testing.T, format string) {
	e := newIsoEnv(t, format)
	for i, atk := range isoAttacks {
		if atk.formats != nil && !slices.Contains(atk.formats, format) {
			continue
		}
		t.Run(atk.name, func(t *testing.T) {
			// Against the state before this attack, so that one row's
			// damage is not blamed on the rows after it.
			e.bob, e.outs = e.snapshot(t)
			a := &attacker{isoEnv: e, t: t, user: e.users[i]}
			if atk.before != nil {
				atk.before(a)
				a.giveStore()
			}
			if atk.proto != "CLI" {
				a.imapLogin().cmd("LOGOUT")
			}
			if atk.setup != nil {
				atk.setup(a)
				a.giveStore()
			}
			atk.try(a)
			a.checkAnswers()
			e.checkUntouched(t)
			if !t.Failed() {
				isoResults.Lock()
				isoResults.rows[atk.name] = append(isoResults.rows[atk.name], format)
				isoResults.Unlock()
			}
		})
	}
}

func newIsoEnv(t *testing.T, format string) *isoEnv {
	base := t.TempDir()
	e := &isoEnv{t: t, format: format, data: filepath.Join(base, "data"), out: filepath.Join(base, "outside")}
	e.secret, e.target = filepath.Join(e.out, "secret"), filepath.Join(e.out, "target")
	os.MkdirAll(e.out, 0o700)
	plant(t, e.secret, secretContent)
	plant(t, e.target, targetContent)
	for i := range isoAttacks {
		e.users = append(e.users, fmt.Sprintf("eve%02d", i))
	}
	// The attacks make dozens of failed logins from loopback: the login
	// throttle (tested on its own) would only slow them down.
	noThrottle := func(c *config.Config) {
		c.Auth.MaxFailuresPerAddress, c.Auth.MaxFailuresPerUserAddress, c.Auth.MaxFailuresPerUser = 0, 0, 0
		c.Auth.FailDelayMax = 0
	}
	if isoUIDs {
		lines := fmt.Sprintf("bob:{PLAIN}secret-bob:%d:%d::::\n", isoUID(-1), isoUID(-1))
		for i, u := range e.users {
			lines += fmt.Sprintf("%s:{PLAIN}secret-%s:%d:%d::::\n", u, u, isoUID(i), isoUID(i))
		}
		os.MkdirAll(e.data, 0o700)
		if err := os.WriteFile(filepath.Join(e.data, "users"), []byte(lines), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.ts = startServer(t, e.data, withFormat(format, noThrottle), append([]string{"bob"}, e.users...)...)
	// The victim: mail in INBOX and Sent, a Sieve script.
	deliverMsgs(t, e.ts, "bob", bobMessage(1), bobMessage(2))
	c := e.ts.raw(t)
	c.cmd("LOGIN bob secret-bob")
	msg := string(bobMessage(3))
	if _, st := c.cmd(fmt.Sprintf("APPEND Sent {%d+}\r\n%s", len(msg), msg)); !strings.HasPrefix(st, "OK") {
		t.Fatalf("bob's APPEND: %s", st)
	}
	c.cmd("LOGOUT")
	m := e.ts.manageSieve(t)
	m.cmd(`AUTHENTICATE "PLAIN" "` + base64.StdEncoding.EncodeToString([]byte("\x00bob\x00secret-bob")) + `"`)
	script := "# " + bobMark + " script\r\nkeep;\r\n"
	if st := m.cmd(fmt.Sprintf("PUTSCRIPT \"mine\" {%d+}\r\n%s", len(script), script)); !strings.HasPrefix(st[len(st)-1], "OK") {
		t.Fatalf("bob's PUTSCRIPT: %q", st)
	}
	m.cmd(`SETACTIVE "mine"`)
	if isoUIDs {
		if n := ownedBy(t, e.bobRoot(), isoUID(-1), isoUID(-1)); n < 3 {
			t.Fatalf("bob's store: %d entries", n)
		}
	}
	if isoDropped() {
		// The server's files, from the data directory down (stores,
		// indexes, scripts, the LMTP socket), are the dropped user's,
		// as serve with [server] user leaves them.
		ownedBy(t, e.data, os.Geteuid(), os.Getegid())
	}
	return e
}

// snapshot describes the victim's files (store and scripts) and the
// files outside.
func (e *isoEnv) snapshot(t *testing.T) (victim, outside map[string]string) {
	victim = fingerprint(t, e.bobRoot())
	for k, v := range fingerprint(t, e.ts.cfg.Sieve.Dir) {
		if strings.HasPrefix(k, "bob") {
			victim["sieve:"+k] = v
		}
	}
	return victim, fingerprint(t, e.out)
}

func bobMessage(i int) []byte {
	return []byte(fmt.Sprintf("From: bob@example.org\r\nTo: bob@example.org\r\nSubject: %s-%d\r\n\r\n%s body %d\r\n", bobMark, i, bobMark, i))
}

// plant writes a file, making its directory first.
func plant(t *testing.T, p, s string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(p), 0o700)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// fingerprint describes a tree without following links: type, content
// digest, link targets.
func fingerprint(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out[rel] = "link " + target
		case d.IsDir():
			out[rel] = "dir"
		case d.Type().IsRegular():
			b, _ := os.ReadFile(p)
			sum := sha256.Sum256(b)
			out[rel] = "file " + hex.EncodeToString(sum[:8])
		default:
			out[rel] = d.Type().String()
		}
		return nil
	})
	return out
}

func diff(was, now map[string]string) []string {
	var d []string
	for k, v := range was {
		if now[k] != v {
			d = append(d, fmt.Sprintf("%s: %q → %q", k, v, now[k]))
		}
	}
	for k, v := range now {
		if _, ok := was[k]; !ok {
			d = append(d, fmt.Sprintf("%s: new %q", k, v))
		}
	}
	sort.Strings(d)
	return d
}

// checkUntouched: the victim's store and scripts, the files outside, and
// the top of the data directory are as they were.
func (e *isoEnv) checkUntouched(t *testing.T) {
	t.Helper()
	now, outside := e.snapshot(t)
	if d := diff(e.bob, now); len(d) > 0 {
		t.Errorf("the victim's files changed:\n  %s", strings.Join(d, "\n  "))
	}
	if d := diff(e.outs, outside); len(d) > 0 {
		t.Errorf("files outside every store changed:\n  %s", strings.Join(d, "\n  "))
	}
	for _, dir := range []string{e.ts.cfg.Mail.Dir, e.ts.cfg.Mail.IndexDir} {
		ents, _ := os.ReadDir(dir)
		for _, en := range ents {
			if n := en.Name(); n != "bob" && !slices.Contains(e.users, n) {
				t.Errorf("%s now holds %q", dir, n)
			}
		}
	}
}

// checkAnswers: nothing secret in anything the attacker was answered,
// and no SERVERBUG.
func (a *attacker) checkAnswers() {
	a.t.Helper()
	all := strings.Join(a.seen, "\n")
	for _, mark := range []string{secretMark, bobMark} {
		if strings.Contains(all, mark) {
			a.t.Errorf("an answer carries %s:\n%s", mark, all)
		}
	}
	if strings.Contains(all, "SERVERBUG") {
		a.t.Errorf("an answer says SERVERBUG:\n%s", all)
	}
}

// Paths.

func (e *isoEnv) storeOf(user string) string { return filepath.Join(e.ts.cfg.Mail.Dir, user) }
func (e *isoEnv) bobRoot() string            { return e.storeOf("bob") }

// folderPath is where a mailbox of user lives: a directory (Maildir, MH)
// or a file (mbox).
func (e *isoEnv) folderPath(user, mailbox string) string {
	root := e.storeOf(user)
	switch {
	case e.format == "maildir" && mailbox == "INBOX":
		return root
	case e.format == "maildir":
		return filepath.Join(root, "."+strings.ReplaceAll(mailbox, "/", "."))
	case e.format == "mh" && mailbox == "INBOX":
		return filepath.Join(root, "inbox")
	}
	return filepath.Join(root, strings.ReplaceAll(mailbox, "/", ".sbd/"))
}

// messageFile is the path of one message file of user's mailbox
// (Maildir, MH), or the mailbox file (mbox).
func (e *isoEnv) messageFile(t *testing.T, user, mailbox string) string {
	t.Helper()
	dir := e.folderPath(user, mailbox)
	switch e.format {
	case "maildir":
		for _, sub := range []string{"new", "cur"} {
			ents, _ := os.ReadDir(filepath.Join(dir, sub))
			for _, en := range ents {
				if en.Type().IsRegular() {
					return filepath.Join(dir, sub, en.Name())
				}
			}
		}
	case "mh":
		ents, _ := os.ReadDir(dir)
		for _, en := range ents {
			if _, err := strconv.Atoi(en.Name()); err == nil && en.Type().IsRegular() {
				return filepath.Join(dir, en.Name())
			}
		}
	default:
		return dir
	}
	t.Fatalf("no message file in %s", dir)
	return ""
}

// plantMessage puts at a message's place in user's INBOX what make
// creates (a link): a new file name in cur/ (Maildir), the number 100
// (MH); for mbox the INBOX file itself is replaced (the old one kept
// aside).
func (a *attacker) plantMessage(make func(oldname, newname string) error, target string) {
	a.t.Helper()
	var p string
	switch a.format {
	case "maildir":
		p = filepath.Join(a.storeOf(a.user), "cur", "1700000000.M1P1.evil:2,")
	case "mh":
		p = filepath.Join(a.storeOf(a.user), "inbox", "100")
	default:
		p = filepath.Join(a.storeOf(a.user), "INBOX")
		os.Rename(p, p+"-aside")
	}
	if err := make(target, p); err != nil {
		a.t.Fatal(err)
	}
}

// swapFolder replaces user's mailbox by a link to target, keeping the
// old one aside.
func (a *attacker) swapFolder(mailbox, target string) {
	a.t.Helper()
	p := a.folderPath(a.user, mailbox)
	if a.format == "maildir" && mailbox == "INBOX" {
		// INBOX is the root: its cur/ and new/ go instead.
		for _, sub := range []string{"cur", "new"} {
			os.Rename(filepath.Join(p, sub), filepath.Join(p, sub+"-aside"))
			if err := os.Symlink(filepath.Join(target, sub), filepath.Join(p, sub)); err != nil {
				a.t.Fatal(err)
			}
		}
		return
	}
	if err := os.Rename(p, p+"-aside"); err != nil {
		a.t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		a.t.Fatal(err)
	}
}

// Protocol helpers: every line read is recorded.

func (a *attacker) imapLogin() *isoIMAP {
	a.t.Helper()
	c := &isoIMAP{a: a, c: a.ts.raw(a.t)}
	if st := c.cmd("LOGIN " + a.user + " secret-" + a.user); !strings.HasPrefix(st, "OK") {
		a.t.Fatalf("login %s: %s", a.user, st)
	}
	return c
}

type isoIMAP struct {
	a *attacker
	c *rawIMAP
}

// cmd runs one command and returns its tagged status.
func (c *isoIMAP) cmd(s string) string {
	c.a.t.Helper()
	untagged, st := c.c.cmd(s)
	c.a.saw(untagged...)
	c.a.saw(st)
	return st
}

// all runs a command and returns everything it was answered.
func (c *isoIMAP) all(s string) string {
	c.a.t.Helper()
	untagged, st := c.c.cmd(s)
	c.a.saw(untagged...)
	c.a.saw(st)
	return strings.Join(append(untagged, st), "\n")
}

// refused: every command must end NO or BAD.
func (c *isoIMAP) refused(cmds ...string) {
	c.a.t.Helper()
	for _, s := range cmds {
		if st := c.cmd(s); strings.HasPrefix(st, "OK") {
			c.a.t.Errorf("%s: %s, want NO or BAD", s, st)
		}
	}
}

func (c *isoIMAP) appendMsg(mailbox, msg string) string {
	c.a.t.Helper()
	return c.cmd(fmt.Sprintf("APPEND %s {%d+}\r\n%s", mailbox, len(msg), msg))
}

// fetchAll selects the mailbox and fetches every body and header.
func (c *isoIMAP) fetchAll(mailbox string) string {
	c.a.t.Helper()
	out := c.all("SELECT " + mailbox)
	out += c.all("FETCH 1:* (FLAGS BODY.PEEK[] BODY.PEEK[HEADER] BINARY.PEEK[1] ENVELOPE RFC822.SIZE)")
	out += c.all("SEARCH TEXT " + bobMark)
	out += c.all("SEARCH TEXT " + secretMark)
	return out
}

// destroy flags every message deleted and expunges, in the mailbox.
func (c *isoIMAP) destroy(mailbox string) {
	c.a.t.Helper()
	c.all("SELECT " + mailbox)
	c.all("STORE 1:* +FLAGS (\\Deleted \\Seen $Stolen)")
	c.all("EXPUNGE")
	c.all("CLOSE")
}

func (a *attacker) pop3() *isoPOP3 {
	a.t.Helper()
	return &isoPOP3{a: a, c: dialPOP3(a.t, a.ts.pop3)}
}

type isoPOP3 struct {
	a *attacker
	c *rawPOP3
}

func (p *isoPOP3) cmd(s string) string {
	p.a.t.Helper()
	l := p.c.cmd(s)
	p.a.saw(l)
	return l
}

// multi runs a command whose answer may be multi-line.
func (p *isoPOP3) multi(s string) {
	p.a.t.Helper()
	if l := p.cmd(s); strings.HasPrefix(l, "+OK") {
		p.a.saw(string(p.c.multi()))
	}
}

func (p *isoPOP3) login() bool {
	p.a.t.Helper()
	p.cmd("USER " + p.a.user)
	return strings.HasPrefix(p.cmd("PASS secret-"+p.a.user), "+OK")
}

// readAll lists, reads and tops every message.
func (p *isoPOP3) readAll() {
	p.a.t.Helper()
	p.multi("LIST")
	p.multi("UIDL")
	for i := 1; i <= 3; i++ {
		p.multi(fmt.Sprintf("TOP %d 5", i))
		p.multi(fmt.Sprintf("RETR %d", i))
	}
}

// destroy deletes every message and commits.
func (p *isoPOP3) destroy() {
	p.a.t.Helper()
	for i := 1; i <= 3; i++ {
		p.cmd(fmt.Sprintf("DELE %d", i))
	}
	p.cmd("QUIT")
}

// deliver sends one message over LMTP to rcpt and returns the reply
// (nil for 250) or the error of a command before DATA.
func (a *attacker) deliver(rcpt, msg string) (string, bool) {
	a.t.Helper()
	c := a.ts.lmtpClient()
	defer c.Close()
	res, err := send(c, "x@example.net", []string{rcpt}, []byte(msg))
	if err != nil {
		a.saw(err.Error())
		return err.Error(), false
	}
	if r := res[rcpt]; r != nil {
		a.saw(r.Error())
		return r.Error(), false
	}
	return "250", true
}

func (a *attacker) sieve() *isoSieve {
	a.t.Helper()
	return &isoSieve{a: a, m: a.ts.manageSieve(a.t)}
}

type isoSieve struct {
	a *attacker
	m *msClient
}

func (s *isoSieve) cmd(line string) string {
	s.a.t.Helper()
	got := s.m.cmd(line)
	s.a.saw(got...)
	return got[len(got)-1]
}

func (s *isoSieve) auth(authz, user, pass string) bool {
	s.a.t.Helper()
	return strings.HasPrefix(s.cmd(`AUTHENTICATE "PLAIN" "`+base64.StdEncoding.EncodeToString([]byte(authz+"\x00"+user+"\x00"+pass))+`"`), "OK")
}

// storeHas tells whether any file of user's store holds s.
func (e *isoEnv) storeHas(user, s string) bool {
	found := false
	filepath.WalkDir(e.storeOf(user), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), s) {
				found = true
			}
		}
		return nil
	})
	return found
}

// messages counts the message files of user's INBOX on disk (for mbox,
// the From_ lines of the file).
func (e *isoEnv) messages(user string) int {
	dir := e.folderPath(user, "INBOX")
	n := 0
	switch e.format {
	case "maildir":
		for _, sub := range []string{"new", "cur"} {
			ents, _ := os.ReadDir(filepath.Join(dir, sub))
			for _, en := range ents {
				if en.Type().IsRegular() {
					n++
				}
			}
		}
	case "mh":
		ents, _ := os.ReadDir(dir)
		for _, en := range ents {
			if _, err := strconv.Atoi(en.Name()); err == nil && en.Type().IsRegular() {
				n++
			}
		}
	default:
		b, _ := os.ReadFile(dir)
		n = strings.Count("\n"+string(b), "\nFrom ")
	}
	return n
}

// The CLI.

var (
	cliOnce sync.Once
	cliBin  string
	cliErr  error
)

// storagedBinary builds cmd/storaged once.
func storagedBinary(t *testing.T) string {
	t.Helper()
	cliOnce.Do(func() {
		if bin := os.Getenv(isoBinEnv); bin != "" {
			// Built by the parent of a dropped run: the dropped user
			// has no Go cache or module cache to build with.
			cliBin = bin
			return
		}
		dir, err := os.MkdirTemp("", "storaged-iso")
		if err != nil {
			cliErr = err
			return
		}
		cliBin = filepath.Join(dir, "storaged")
		out, err := exec.Command("go", "build", "-o", cliBin, "../cmd/storaged").CombinedOutput()
		if err != nil {
			cliErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if cliErr != nil {
		t.Fatal(cliErr)
	}
	return cliBin
}

// cli runs storaged against the server's data directory (the verbs that
// need the index are run on users the server has not opened).
func (a *attacker) cli(stdin string, args ...string) (string, int) {
	a.t.Helper()
	cmd := exec.Command(storagedBinary(a.t), args...)
	cmd.Env = append(os.Environ(), "STORAGED_DATA="+a.data)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	a.saw(string(out))
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		a.t.Fatal(err)
	}
	return string(out), code
}

// cliRefused: every run must fail.
func (a *attacker) cliRefused(runs ...[]string) {
	a.t.Helper()
	for _, args := range runs {
		if out, code := a.cli("pw\n", args...); code == 0 {
			a.t.Errorf("storaged %s: exit 0, want a refusal\n%s", strings.Join(args, " "), out)
		}
	}
}

// A hard link to another user's message can be made only where the
// kernel lets anyone link any file: as nobody, linking a root-owned 0600
// file (as the server writes messages) must fail, while linking a file
// of nobody's own, beside it, works (so the refusal is the kernel's
// rule, not a path nobody cannot reach).
func (a *attacker) kernelRefusesLink(src string) {
	a.t.Helper()
	if !safefs.LinksProtected() {
		a.t.Logf("fs.protected_hardlinks is off: the server's own checks are all there is")
		return
	}
	if isoDropped() {
		a.kernelRefusesLinkDropped()
		return
	}
	dir, err := os.MkdirTemp("", "storaged-iso-link")
	if err != nil {
		a.t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	b, _ := os.ReadFile(src)
	victim, own, drop := filepath.Join(dir, "victim"), filepath.Join(dir, "own"), filepath.Join(dir, "drop")
	plant(a.t, victim, string(b))
	plant(a.t, own, "nobody's\n")
	os.Chown(own, 65534, 65534)
	os.Mkdir(drop, 0o777)
	os.Chmod(drop, 0o777)
	ln := func(from, to string) error {
		cmd := exec.Command("ln", from, to)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		return cmd.Run()
	}
	if err := ln(own, filepath.Join(drop, "own")); err != nil {
		a.t.Fatalf("as nobody, ln of nobody's own file failed (%v): the check below would prove nothing", err)
	}
	if err := ln(victim, filepath.Join(drop, "stolen")); err == nil {
		a.t.Error("as nobody, ln of a root-owned 0600 message succeeded")
	}
}

// The table.

var (
	linkOnly  = []string{"maildir", "mh"} // formats with a file per message
	mboxOnly  = []string{"mbox"}
	maildirOn = []string{"maildir"}
	mhOnly    = []string{"mh"}
)

const plainMsg = "From: eve@example.org\r\nSubject: mine\r\n\r\nmy own\r\n"

var isoAttacks = []isoAttack{
	// Names over IMAP: refused before any path is built.
	{name: "imap name ..", proto: "IMAP", try: func(a *attacker) {
		c := a.imapLogin()
		c.refused(`CREATE "../bob/INBOX"`, `SELECT "../bob"`, `SELECT "../../../../etc"`, `STATUS "../bob" (MESSAGES)`,
			`CREATE "INBOX/../../bob"`, `DELETE "../bob/Sent"`)
	}},
	{name: "imap name with misplaced slashes", proto: "IMAP", try: func(a *attacker) {
		c := a.imapLogin()
		c.refused(`CREATE "/etc"`, `CREATE "a//b"`, `SELECT "/"`, `CREATE "//bob"`, `CREATE "/"`, `RENAME Sent "/Sent"`)
		// RFC 9051 §6.3.4: a trailing separator declares a parent; the
		// mailbox made is "a", in the attacker's store.
		if st := c.cmd(`CREATE "a/"`); strings.HasPrefix(st, "OK") && !strings.Contains(c.all(`LIST "" "a"`), `"a"`) && !strings.Contains(c.all(`LIST "" "a"`), " a") {
			a.t.Errorf(`CREATE "a/" made no mailbox "a"`)
		}
	}},
	{name: "imap name ~", proto: "IMAP", try: func(a *attacker) {
		c := a.imapLogin()
		c.refused(`CREATE "~bob"`, `SELECT "~bob/INBOX"`, `CREATE "Work/~root"`, `RENAME Sent "~bob"`)
	}},
	{name: "imap name %2e", proto: "IMAP", try: func(a *attacker) {
		c := a.imapLogin()
		c.refused(`CREATE "%2e%2e/bob"`, `SELECT "%2e%2e/bob/INBOX"`, `CREATE "a%2fb"`)
	}},
	{name: "imap name NUL", proto: "IMAP", try: func(a *attacker) {
		c := a.imapLogin()
		c.refused("CREATE {7+}\r\nab\x00../x", "SELECT {4+}\r\n\x00bob", `CREATE "&AAA-bob"`)
	}},
	{name: "imap name backslash", proto: "IMAP", try: func(a *attacker) {
		c := a.imapLogin()
		c.refused(`CREATE "..\\bob"`, `CREATE "a\\b"`, `SELECT "..\\..\\bob"`)
	}},
	{name: "imap name mUTF-7 to ../", proto: "IMAP", try: func(a *attacker) {
		c := a.imapLogin()
		c.refused(`CREATE "&AC4ALgAv-bob"`, `SELECT "&AC4ALgAv-bob&AC8-INBOX"`, `RENAME Sent "&AC4ALgAv-x"`,
			`CREATE "&AC8-etc"`, `CREATE "&AFw-bob"`, `APPEND "&AC4ALgAv-bob&AC8-INBOX" {3+}`+"\r\nx\r\n")
	}},
	{name: "imap name UTF8=ACCEPT ../", proto: "IMAP", try: func(a *attacker) {
		c := a.imapLogin()
		c.cmd("ENABLE UTF8=ACCEPT")
		c.refused(`CREATE "../bob"`, `SELECT "../bob/INBOX"`, `CREATE "a/../../bob"`)
	}},
	{name: "imap name too long for a file name", proto: "IMAP", try: func(a *attacker) {
		c := a.imapLogin()
		long := strings.Repeat("n", 300)
		c.refused(`CREATE "`+long+`"`, `RENAME Sent "`+long+`"`, `SELECT "`+long+`"`,
			fmt.Sprintf("APPEND \"%s\" {%d+}\r\n%s", long, len(plainMsg), plainMsg))
		// Levels that fit alone, but not as one Maildir++ folder: made
		// or refused, never a server error (checkAnswers).
		c.cmd(`CREATE "` + strings.TrimSuffix(strings.Repeat(strings.Repeat("l", 60)+"/", 5), "/") + `"`)
	}},
	{name: "imap rename and delete out", proto: "IMAP", try: func(a *attacker) {
		c := a.imapLogin()
		c.refused(`RENAME Sent "../../x"`, `RENAME "../bob/Sent" Mine`, `RENAME INBOX "../bob/INBOX"`, `DELETE "../../bob"`)
		if !strings.Contains(c.all(`LIST "" "*"`), "Sent") {
			a.t.Error("Sent is gone after refused renames")
		}
	}},
	{name: "imap list patterns out", proto: "IMAP", try: func(a *attacker) {
		c := a.imapLogin()
		for _, l := range []string{`LIST "" "../*"`, `LIST "../bob/" "*"`, `LIST "../" "%"`, `LIST "/" "*"`, `LIST "~bob/" "*"`, `LSUB "../bob/" "*"`} {
			out := c.all(l)
			if strings.Contains(out, "bob") {
				a.t.Errorf("%s lists another user's mailboxes:\n%s", l, out)
			}
		}
	}},
	{name: "imap append/copy/move out", proto: "IMAP", try: func(a *attacker) {
		c := a.imapLogin()
		if st := c.appendMsg("INBOX", plainMsg); !strings.HasPrefix(st, "OK") {
			a.t.Fatalf("append: %s", st)
		}
		c.cmd("SELECT INBOX")
		c.refused(fmt.Sprintf("APPEND \"../bob/INBOX\" {%d+}\r\n%s", len(plainMsg), plainMsg),
			`COPY 1 "../bob/INBOX"`, `MOVE 1 "../bob/Sent"`, `COPY 1 "~bob"`)
	}},
	// User names and addresses: no other user's store, nothing created.
	{name: "imap login user tricks", proto: "IMAP", try: func(a *attacker) {
		for _, u := range []string{`"../bob"`, `"bob/../` + a.user + `"`, `"~bob"`, `"%2e%2e/bob"`, `"..\\bob"`, "{5+}\r\nbob\x00x", `".."`, `"/bob"`} {
			c := &isoIMAP{a: a, c: a.ts.raw(a.t)}
			if st := c.cmd("LOGIN " + u + " secret-" + a.user); strings.HasPrefix(st, "OK") {
				a.t.Errorf("LOGIN %q: %s", u, st)
			}
			c.cmd("LOGIN " + u + " secret-bob")
		}
	}},
	{name: "imap authzid other user", proto: "IMAP", try: func(a *attacker) {
		c := &isoIMAP{a: a, c: a.ts.raw(a.t)}
		resp := base64.StdEncoding.EncodeToString([]byte("bob\x00" + a.user + "\x00secret-" + a.user))
		if st := c.cmd("AUTHENTICATE PLAIN " + resp); strings.HasPrefix(st, "OK") {
			a.t.Errorf("AUTHENTICATE as %s for bob: %s", a.user, st)
			c.fetchAll("INBOX")
		}
	}},
	{name: "pop3 user tricks", proto: "POP3", try: func(a *attacker) {
		for _, u := range []string{"../bob", "bob/../" + a.user, "~bob", "%2e%2e/bob", "..\\bob", ".."} {
			p := a.pop3()
			p.cmd("USER " + u)
			if l := p.cmd("PASS secret-" + a.user); strings.HasPrefix(l, "+OK") {
				a.t.Errorf("POP3 login as %q: %s", u, l)
				p.readAll()
			}
		}
	}},
	{name: "lmtp recipient tricks", proto: "LMTP", try: func(a *attacker) {
		for _, r := range []string{"../bob@example.org", "bob/../" + a.user + "@example.org", "%2e%2e@example.org",
			"~bob@example.org", "..@example.org", "bob\\@example.org", ".bob@example.org"} {
			if st, ok := a.deliver(r, plainMsg); ok {
				a.t.Errorf("LMTP to %q: %s", r, st)
			}
		}
		// A detail that looks like a path lands in the user's own store.
		if _, ok := a.deliver(a.user+"+../bob@example.org", plainMsg); ok && !a.storeHas(a.user, "my own") {
			a.t.Errorf("user+../bob: accepted but not in %s's store", a.user)
		}
	}},
	{name: "managesieve user tricks", proto: "ManageSieve", try: func(a *attacker) {
		for _, u := range []string{"../bob", "bob/../" + a.user, "~bob", "..", "%2e%2e"} {
			s := a.sieve()
			if s.auth("", u, "secret-"+a.user) {
				a.t.Errorf("ManageSieve login as %q", u)
			}
		}
		s := a.sieve()
		if s.auth("bob", a.user, "secret-"+a.user) {
			a.t.Error("ManageSieve: authorised as bob with another's password")
			s.cmd("LISTSCRIPTS")
			s.cmd(`GETSCRIPT "mine"`)
		}
	}},
	{name: "managesieve script names", proto: "ManageSieve", try: func(a *attacker) {
		s := a.sieve()
		if !s.auth("", a.user, "secret-"+a.user) {
			a.t.Fatal("login")
		}
		for _, n := range []string{"../bob/mine", "../bob", "a/b", ".hidden", "..\\bob", "../../outside/x", ".."} {
			if st := s.cmd(fmt.Sprintf(`PUTSCRIPT "%s" "keep;"`, strings.ReplaceAll(n, `\`, `\\`))); strings.HasPrefix(st, "OK") {
				a.t.Errorf("PUTSCRIPT %q: %s", n, st)
			}
			s.cmd(fmt.Sprintf(`GETSCRIPT "%s"`, strings.ReplaceAll(n, `\`, `\\`)))
			s.cmd(fmt.Sprintf(`SETACTIVE "%s"`, strings.ReplaceAll(n, `\`, `\\`)))
			s.cmd(fmt.Sprintf(`DELETESCRIPT "%s"`, strings.ReplaceAll(n, `\`, `\\`)))
		}
		s.cmd(`RENAMESCRIPT "mine" "../bob/x"`)
	}},
	// Links a local user plants in their own store.
	{name: "message link to a system file (IMAP)", proto: "IMAP", setup: func(a *attacker) {
		a.plantMessage(os.Symlink, a.secret)
	}, try: func(a *attacker) {
		c := a.imapLogin()
		c.fetchAll("INBOX")
		c.destroy("INBOX")
	}},
	{name: "message link to a system file (POP3)", proto: "POP3", setup: func(a *attacker) {
		a.plantMessage(os.Symlink, a.secret)
	}, try: func(a *attacker) {
		p := a.pop3()
		if p.login() {
			p.readAll()
			p.destroy()
		}
	}},
	{name: "message link to another's (IMAP)", proto: "IMAP", setup: func(a *attacker) {
		a.plantMessage(os.Symlink, a.messageFile(a.t, "bob", "INBOX"))
	}, try: func(a *attacker) {
		c := a.imapLogin()
		c.fetchAll("INBOX")
		c.destroy("INBOX")
	}},
	{name: "message link to another's (POP3)", proto: "POP3", setup: func(a *attacker) {
		a.plantMessage(os.Symlink, a.messageFile(a.t, "bob", "INBOX"))
	}, try: func(a *attacker) {
		p := a.pop3()
		if p.login() {
			p.readAll()
			p.destroy()
		}
	}},
	{name: "folder link to another's", proto: "IMAP", before: func(a *attacker) {
		// There when the account is opened (a restart later), so that
		// the start-up listing meets it too.
		os.MkdirAll(a.storeOf(a.user), 0o700)
		os.Symlink(a.folderPath("bob", "Sent"), a.folderPath(a.user, "Stolen"))
		os.Symlink(a.folderPath("bob", "INBOX"), a.folderPath(a.user, "Inbox2"))
	}, try: func(a *attacker) {
		c := a.imapLogin()
		if out := c.all(`LIST "" "*"`); strings.Contains(out, "Stolen") || strings.Contains(out, "Inbox2") {
			a.t.Errorf("LIST shows a linked folder:\n%s", out)
		}
		c.refused("SELECT Stolen", "EXAMINE Inbox2", "STATUS Stolen (MESSAGES)", "DELETE Stolen", "RENAME Stolen Mine",
			fmt.Sprintf("APPEND Stolen {%d+}\r\n%s", len(plainMsg), plainMsg))
		// A child makes the store take its parents for mailboxes.
		c.cmd("CREATE Stolen/x")
		c.cmd("CREATE Inbox2/x")
		c.fetchAll("Stolen")
		c.destroy("Stolen")
		c.destroy("Inbox2")
		c.cmd("DELETE Stolen")
	}},
	{name: "folder link to a system directory", proto: "IMAP", setup: func(a *attacker) {
		// The outside looks like a mailbox of the format, holding the secret.
		fake := filepath.Join(a.t.TempDir(), "fake")
		switch a.format {
		case "maildir":
			plant(a.t, filepath.Join(fake, "cur", "1.M1P1.x:2,S"), secretContent)
			os.MkdirAll(filepath.Join(fake, "new"), 0o700)
			os.MkdirAll(filepath.Join(fake, "tmp"), 0o700)
		case "mh":
			plant(a.t, filepath.Join(fake, "1"), secretContent)
		default:
			plant(a.t, fake, secretContent)
		}
		os.Symlink(fake, a.folderPath(a.user, "Etc"))
	}, try: func(a *attacker) {
		c := a.imapLogin()
		c.refused("SELECT Etc")
		c.fetchAll("Etc")
		c.all(`LIST "" "*" RETURN (STATUS (MESSAGES))`)
	}},
	{name: "INBOX linked to another's (IMAP)", proto: "IMAP", setup: func(a *attacker) {
		a.swapFolder("INBOX", a.folderPath("bob", "INBOX"))
	}, try: func(a *attacker) {
		c := a.imapLogin()
		c.fetchAll("INBOX")
		c.destroy("INBOX")
		c.appendMsg("INBOX", plainMsg)
	}},
	{name: "INBOX linked to another's (POP3)", proto: "POP3", setup: func(a *attacker) {
		a.swapFolder("INBOX", a.folderPath("bob", "INBOX"))
	}, try: func(a *attacker) {
		p := a.pop3()
		if p.login() {
			p.readAll()
			p.destroy()
		}
	}},
	{name: "INBOX linked to another's (LMTP)", proto: "LMTP", setup: func(a *attacker) {
		a.swapFolder("INBOX", a.folderPath("bob", "INBOX"))
	}, try: func(a *attacker) {
		// Accepted or refused, the message may not land in bob's store
		// (checkUntouched).
		a.deliver(a.user+"@example.org", plainMsg)
	}},
	{name: "folder swapped for a link after SELECT", proto: "IMAP", try: func(a *attacker) {
		c := a.imapLogin()
		c.cmd("CREATE Work")
		c.appendMsg("Work", plainMsg)
		c.all("SELECT Work")
		a.swapFolder("Work", a.folderPath("bob", "INBOX"))
		c.all("FETCH 1:* (BODY.PEEK[] FLAGS)")
		c.all("UID FETCH 1:* (BODY.PEEK[])")
		c.all("STORE 1:* +FLAGS (\\Deleted)")
		c.all("EXPUNGE")
		c.appendMsg("Work", plainMsg)
		c.all("NOOP")
		c.all("FETCH 1:* (BODY.PEEK[])")
		c.fetchAll("Work")
	}},
	{name: "INBOX swapped for a link after POP3 login", proto: "POP3", try: func(a *attacker) {
		a.deliver(a.user+"@example.org", plainMsg)
		p := a.pop3()
		if !p.login() {
			a.t.Fatal("login")
		}
		p.multi("LIST")
		a.swapFolder("INBOX", a.folderPath("bob", "INBOX"))
		p.readAll()
		p.destroy()
	}},
	{name: "folder swapped for a link after STATUS", proto: "IMAP", try: func(a *attacker) {
		c := a.imapLogin()
		c.all("STATUS Sent (MESSAGES UIDNEXT)")
		a.swapFolder("Sent", a.folderPath("bob", "Sent"))
		c.appendMsg("Sent", plainMsg)
		c.all("STATUS Sent (MESSAGES)")
		c.fetchAll("Sent")
		c.all("DELETE Sent")
		c.all("RENAME Sent Gone")
	}},
	{name: "tmp/ linked outside", proto: "LMTP", formats: maildirOn, setup: func(a *attacker) {
		tmp := filepath.Join(a.storeOf(a.user), "tmp")
		os.Remove(tmp)
		os.Symlink(a.out, tmp)
	}, try: func(a *attacker) {
		a.deliver(a.user+"@example.org", plainMsg)
		c := a.imapLogin()
		c.appendMsg("INBOX", plainMsg)
	}},
	{name: "children directory linked outside", proto: "IMAP", formats: []string{"mbox", "mh"}, setup: func(a *attacker) {
		switch a.format {
		case "mbox":
			os.Symlink(a.out, filepath.Join(a.storeOf(a.user), "Sent.sbd"))
		case "mh":
			os.Symlink(a.out, filepath.Join(a.storeOf(a.user), "Outside"))
		}
	}, try: func(a *attacker) {
		c := a.imapLogin()
		if a.format == "mbox" {
			c.refused("CREATE Sent/nologin", "RENAME Drafts Sent/x", fmt.Sprintf("APPEND Sent/x {%d+}\r\n%s", len(plainMsg), plainMsg))
		} else {
			c.refused("CREATE Outside/nologin", "RENAME Drafts Outside/x", "SELECT Outside")
		}
	}},
	{name: "new folder's cur/ linked outside", proto: "IMAP", formats: maildirOn, setup: func(a *attacker) {
		os.MkdirAll(filepath.Join(a.storeOf(a.user), ".New"), 0o700)
		os.Symlink(a.out, filepath.Join(a.storeOf(a.user), ".New", "cur"))
	}, try: func(a *attacker) {
		c := a.imapLogin()
		c.cmd("CREATE New")
		c.fetchAll("New")
		c.appendMsg("New", plainMsg)
	}},
	// Files written beside the messages, each planted as a link.
	{name: "dovecot-keywords.tmp link", proto: "IMAP", formats: maildirOn, setup: func(a *attacker) {
		os.Symlink(a.target, filepath.Join(a.storeOf(a.user), "dovecot-keywords.tmp"))
	}, try: func(a *attacker) {
		c := a.imapLogin()
		c.appendMsg("INBOX", plainMsg)
		c.cmd("SELECT INBOX")
		if st := c.cmd("STORE 1 +FLAGS (work urgent)"); !strings.HasPrefix(st, "OK") {
			a.t.Errorf("STORE keywords: %s", st)
		}
	}},
	{name: "dovecot-keywords link", proto: "IMAP", formats: maildirOn, setup: func(a *attacker) {
		os.Symlink(a.secret, filepath.Join(a.storeOf(a.user), "dovecot-keywords"))
		plant(a.t, filepath.Join(a.storeOf(a.user), "cur", "1700000000.M9P9.x:2,a"), "Subject: mine\n\nx\n")
	}, try: func(a *attacker) {
		c := a.imapLogin()
		c.fetchAll("INBOX")
		c.cmd("STORE 1 +FLAGS (other)")
		c.all("FETCH 1 FLAGS")
	}},
	{name: ".storaged-uidvalidity.tmp link", proto: "IMAP", before: func(a *attacker) {
		root := a.storeOf(a.user)
		os.MkdirAll(root, 0o700)
		os.Symlink(a.target, filepath.Join(root, ".storaged-uidvalidity.tmp"))
		os.Symlink(a.secret, filepath.Join(root, ".storaged-uidvalidity"))
	}, try: func(a *attacker) {
		c := a.imapLogin()
		c.fetchAll("INBOX")
	}},
	{name: ".mh_sequences link", proto: "IMAP", formats: mhOnly, setup: func(a *attacker) {
		os.Symlink(a.target, filepath.Join(a.folderPath(a.user, "INBOX"), ".mh_sequences"))
	}, try: func(a *attacker) {
		c := a.imapLogin()
		c.appendMsg("INBOX", plainMsg)
		c.cmd("SELECT INBOX")
		c.cmd("STORE 1 +FLAGS (\\Flagged \\Seen)")
		a.deliver(a.user+"@example.org", plainMsg)
	}},
	{name: ".mh_sequences hard link", proto: "IMAP", formats: mhOnly, setup: func(a *attacker) {
		os.Link(a.target, filepath.Join(a.folderPath(a.user, "INBOX"), ".mh_sequences"))
	}, try: func(a *attacker) {
		c := a.imapLogin()
		c.appendMsg("INBOX", plainMsg)
		c.cmd("SELECT INBOX")
		c.cmd("STORE 1 +FLAGS (\\Flagged)")
	}},
	{name: "maildirfolder link", proto: "IMAP", formats: maildirOn, setup: func(a *attacker) {
		os.MkdirAll(filepath.Join(a.storeOf(a.user), ".Fresh"), 0o700)
		os.Symlink(filepath.Join(a.out, "nologin"), filepath.Join(a.storeOf(a.user), ".Fresh", "maildirfolder"))
		os.MkdirAll(filepath.Join(a.storeOf(a.user), ".Fresh2"), 0o700)
		os.Symlink(a.target, filepath.Join(a.storeOf(a.user), ".Fresh2", "maildirfolder"))
	}, try: func(a *attacker) {
		c := a.imapLogin()
		c.cmd("CREATE Fresh")
		c.cmd("CREATE Fresh2")
	}},
	{name: "mbox rewrite temporary link", proto: "IMAP", formats: mboxOnly, setup: func(a *attacker) {
		os.Symlink(a.target, filepath.Join(a.storeOf(a.user), ".INBOX.storaged-rewrite"))
	}, try: func(a *attacker) {
		c := a.imapLogin()
		c.appendMsg("INBOX", plainMsg)
		c.appendMsg("INBOX", plainMsg)
		c.cmd("SELECT INBOX")
		c.cmd("STORE 1 +FLAGS (\\Seen)")
		c.cmd("STORE 2 +FLAGS (\\Deleted)")
		c.cmd("EXPUNGE")
		if n := a.messages(a.user); n != 1 {
			a.t.Errorf("%d messages after the rewrite, want 1", n)
		}
	}},
	{name: "MH noselect mark link", proto: "IMAP", formats: mhOnly, try: func(a *attacker) {
		c := a.imapLogin()
		c.cmd("CREATE Parent/Child")
		os.Symlink(filepath.Join(a.out, "created"), filepath.Join(a.folderPath(a.user, "Parent"), ".storaged-noselect.tmp"))
		c.cmd("DELETE Parent")
		os.Symlink(a.target, filepath.Join(a.folderPath(a.user, "Parent"), ".storaged-noselect"))
		c.cmd("CREATE Parent")
		c.cmd("DELETE Parent")
	}},
	{name: "adoption mark link", proto: "IMAP", formats: maildirOn, before: func(a *attacker) {
		root := a.storeOf(a.user)
		for _, d := range []string{"cur", "new", "tmp"} {
			os.MkdirAll(filepath.Join(root, d), 0o700)
		}
		plant(a.t, filepath.Join(root, "cur", "1700000001.M1P1.h,S=20:2,S"), "Subject: mine\n\nbody\n")
		plant(a.t, filepath.Join(root, "dovecot-uidlist"), "3 V1600000000 N5 Gx\n4 :1700000001.M1P1.h,S=20\n")
		os.Symlink(filepath.Join(a.out, "created"), filepath.Join(root, ".storaged-adopted"))
	}, try: func(a *attacker) {
		c := a.imapLogin()
		c.fetchAll("INBOX")
	}},
	{name: "subscriptions link", proto: "IMAP", formats: maildirOn, before: func(a *attacker) {
		root := a.storeOf(a.user)
		for _, d := range []string{"cur", "new", "tmp"} {
			os.MkdirAll(filepath.Join(root, d), 0o700)
		}
		os.Symlink(a.secret, filepath.Join(root, "subscriptions"))
		os.Symlink(a.secret, filepath.Join(root, "dovecot-uidlist"))
	}, try: func(a *attacker) {
		c := a.imapLogin()
		c.all(`LSUB "" "*"`)
		c.all(`LIST "" "*" RETURN (SUBSCRIBED)`)
		c.fetchAll("INBOX")
	}},
	// Hard links, as a kernel without fs.protected_hardlinks allows them.
	{name: "message hard link to another's (IMAP)", proto: "IMAP", formats: linkOnly, setup: func(a *attacker) {
		a.kernelRefusesLink(a.messageFile(a.t, "bob", "INBOX"))
		a.plantMessage(os.Link, a.messageFile(a.t, "bob", "INBOX"))
	}, try: func(a *attacker) {
		defer safefs.ForceCheckLinks(true)()
		c := a.imapLogin()
		c.fetchAll("INBOX")
		c.destroy("INBOX")
	}},
	{name: "message hard link to another's (POP3)", proto: "POP3", formats: linkOnly, setup: func(a *attacker) {
		a.plantMessage(os.Link, a.messageFile(a.t, "bob", "INBOX"))
	}, try: func(a *attacker) {
		defer safefs.ForceCheckLinks(true)()
		p := a.pop3()
		if p.login() {
			p.readAll()
			p.destroy()
		}
	}},
	{name: "mailbox hard link to another's", proto: "IMAP", formats: mboxOnly, setup: func(a *attacker) {
		a.kernelRefusesLink(a.folderPath("bob", "INBOX"))
		a.plantMessage(os.Link, a.folderPath("bob", "INBOX"))
		os.Link(a.folderPath("bob", "Sent"), a.folderPath(a.user, "Stolen"))
	}, try: func(a *attacker) {
		c := a.imapLogin()
		c.fetchAll("INBOX")
		c.fetchAll("Stolen")
		c.destroy("INBOX")
		c.appendMsg("INBOX", plainMsg)
		a.deliver(a.user+"@example.org", plainMsg)
		p := a.pop3()
		if p.login() {
			p.readAll()
			p.destroy()
		}
	}},
	// Lock files: what a lock says is never a reason to cut a mailbox.
	{name: "forged dotlock: dead pid, made-up sizes", proto: "IMAP", formats: mboxOnly, try: func(a *attacker) {
		c := a.imapLogin()
		inbox := a.folderPath(a.user, "INBOX")
		for want := 1; want <= 3; want++ {
			c.appendMsg("INBOX", plainMsg)
			// Sizes that would cut the file's last message off (all of
			// it, for the first): what an older storaged trusted.
			before, _ := os.ReadFile(inbox)
			plant(a.t, inbox+".lock", fmt.Sprintf("999999999 %d %d\n", lastRecord(before), len(before)+100))
			a.giveStore()
			if st := c.appendMsg("INBOX", plainMsg); !strings.HasPrefix(st, "OK") {
				a.t.Errorf("APPEND under a dead lock: %s", st)
			}
			after, _ := os.ReadFile(inbox)
			if !strings.HasPrefix(string(after), string(before)) {
				a.t.Fatalf("INBOX cut under a forged lock: %d octets, had %d", len(after), len(before))
			}
			plant(a.t, inbox+".lock", fmt.Sprintf("999999999 0 %d\n", len(after)+1))
			a.giveStore()
			a.deliver(a.user+"@example.org", plainMsg)
			if now, _ := os.ReadFile(inbox); !strings.HasPrefix(string(now), string(after)) {
				a.t.Fatalf("INBOX cut under a forged lock at delivery: %d octets, had %d", len(now), len(after))
			}
		}
		if n := a.messages(a.user); n != 9 {
			a.t.Errorf("%d messages, want 9", n)
		}
	}},
	{name: "forged dotlock on another's mailbox", proto: "LMTP", formats: mboxOnly, setup: func(a *attacker) {
		a.plantMessage(os.Link, a.folderPath("bob", "INBOX"))
		b, _ := os.ReadFile(a.folderPath("bob", "INBOX"))
		plant(a.t, a.folderPath(a.user, "INBOX")+".lock", fmt.Sprintf("999999999 %d %d\n", lastRecord(b), len(b)+100))
	}, try: func(a *attacker) {
		a.deliver(a.user+"@example.org", plainMsg)
		c := a.imapLogin()
		c.appendMsg("INBOX", plainMsg)
		c.fetchAll("INBOX")
	}},
	{name: "dotlock as a link", proto: "IMAP", formats: mboxOnly, setup: func(a *attacker) {
		lock := a.folderPath(a.user, "INBOX") + ".lock"
		os.Symlink(a.target, lock)
		lutimes(lock, time.Now().Add(-time.Hour))
	}, try: func(a *attacker) {
		c := a.imapLogin()
		c.appendMsg("INBOX", plainMsg)
		c.appendMsg("INBOX", plainMsg)
		c.cmd("SELECT INBOX")
		c.cmd("STORE 1 +FLAGS (\\Seen)")
		if n := a.messages(a.user); n != 2 {
			a.t.Errorf("%d messages, want 2", n)
		}
	}},
	{name: "forged dotlock with the server's pid", proto: "IMAP", formats: mboxOnly, try: func(a *attacker) {
		c := a.imapLogin()
		c.appendMsg("INBOX", plainMsg)
		lock := a.folderPath(a.user, "INBOX") + ".lock"
		plant(a.t, lock, fmt.Sprintf("%d 0 1\n", os.Getpid()))
		old := time.Now().Add(-24 * time.Hour)
		os.Chtimes(lock, old, old)
		c.appendMsg("INBOX", plainMsg)
		if n := a.messages(a.user); n != 2 {
			a.t.Errorf("%d messages, want 2", n)
		}
	}},
	// A folder named like a message number.
	{name: "CREATE INBOX/51 then deliver", proto: "LMTP", try: func(a *attacker) {
		c := a.imapLogin()
		if st := c.cmd("CREATE INBOX/51"); !strings.HasPrefix(st, "OK") && !strings.HasPrefix(st, "NO") {
			a.t.Errorf("CREATE INBOX/51: %s", st)
		}
		for i := 0; i < 60; i++ {
			if st, ok := a.deliver(a.user+"@example.org", plainMsg); !ok {
				a.t.Fatalf("delivery %d after CREATE INBOX/51: %s", i+1, st)
			}
		}
		if st := c.appendMsg("INBOX", plainMsg); !strings.HasPrefix(st, "OK") {
			a.t.Errorf("APPEND after CREATE INBOX/51: %s", st)
		}
		if st := c.cmd("SELECT INBOX/51"); !strings.HasPrefix(st, "OK") {
			a.t.Errorf("SELECT INBOX/51: %s", st)
		}
		if n := a.messages(a.user); n != 61 {
			a.t.Errorf("%d messages in INBOX, want 61", n)
		}
		if a.format == "mh" {
			if fi, err := os.Stat(filepath.Join(a.folderPath(a.user, "INBOX"), "51")); err != nil || !fi.IsDir() {
				a.t.Errorf("inbox/51 is no longer the folder: %v", err)
			}
			if st := c.cmd("CREATE INBOX/7"); !strings.HasPrefix(st, "NO [CANNOT]") && !strings.HasPrefix(st, "NO [ALREADYEXISTS]") {
				a.t.Errorf("CREATE INBOX/7 where message 7 is: %s", st)
			}
		}
	}},
	// ManageSieve over a Dovecot layout adopted in the user's store.
	{name: "sieve script link in the store", proto: "ManageSieve", before: func(a *attacker) {
		root := a.storeOf(a.user)
		plant(a.t, filepath.Join(root, "sieve", "own.sieve"), "keep;\n")
		os.Symlink(a.secret, filepath.Join(root, "sieve", "x.sieve"))
		os.Symlink(filepath.Join(a.ts.cfg.Sieve.Dir, "bob", "mine.sieve"), filepath.Join(root, "sieve", "bob.sieve"))
	}, try: func(a *attacker) {
		s := a.sieve()
		if !s.auth("", a.user, "secret-"+a.user) {
			a.t.Fatal("login")
		}
		s.cmd("LISTSCRIPTS")
		s.cmd(`GETSCRIPT "x"`)
		s.cmd(`GETSCRIPT "bob"`)
		s.cmd(`SETACTIVE "x"`)
		s.cmd(`PUTSCRIPT "x" "discard;"`)
		s.cmd(`PUTSCRIPT "bob" "discard;"`)
		s.cmd(`DELETESCRIPT "bob"`)
		s.cmd(`RENAMESCRIPT "bob" "taken"`)
	}},
	{name: "sieve directory link in the store", proto: "ManageSieve", before: func(a *attacker) {
		os.MkdirAll(a.storeOf(a.user), 0o700)
		os.Symlink(filepath.Join(a.ts.cfg.Sieve.Dir, "bob"), filepath.Join(a.storeOf(a.user), "sieve"))
	}, try: func(a *attacker) {
		s := a.sieve()
		if !s.auth("", a.user, "secret-"+a.user) {
			a.t.Fatal("login")
		}
		s.cmd("LISTSCRIPTS")
		s.cmd(`GETSCRIPT "mine"`)
		s.cmd(`PUTSCRIPT "planted" "discard;"`)
		s.cmd(`DELETESCRIPT "mine"`)
		a.deliver(a.user+"@example.org", plainMsg)
	}},
	// The CLI.
	{name: "cli user names", proto: "CLI", try: func(a *attacker) {
		a.cliRefused(
			[]string{"user", "add", "-password-stdin", "../bob"},
			[]string{"user", "add", "-password-stdin", "bob/x"},
			[]string{"user", "add", "-password-stdin", ".hidden"},
			[]string{"user", "add", "-password-stdin", `..\bob`},
			[]string{"user", "add", "-password-stdin", "a:b"},
			[]string{"user", "passwd", "-password-stdin", "../bob"},
			[]string{"user", "del", "../bob"},
		)
	}},
	{name: "cli verbs on path-like users", proto: "CLI", try: func(a *attacker) {
		a.cliRefused(
			[]string{"quota", "get", "../bob"},
			[]string{"quota", "set", "../bob", "storage=1K"},
			[]string{"quota", "recalc", "../bob"},
			[]string{"check", "../bob"},
			[]string{"check", "%2e%2e"},
			[]string{"sieve", "list", "../bob"},
			[]string{"sieve", "get", "../bob", "mine"},
			[]string{"sieve", "get", a.user, "../bob/mine"},
			[]string{"sieve", "delete", a.user, "../bob/mine"},
			[]string{"import", "../bob", a.out},
			[]string{"deliver", "-f", "x@example.net", "-a", "../bob@example.org"},
		)
	}},
	{name: "cli import of a tree with links", proto: "CLI", try: func(a *attacker) {
		src := filepath.Join(a.t.TempDir(), "src")
		plant(a.t, filepath.Join(src, "Mine"), "From a@b Mon Jan  2 15:04:05 2006\nSubject: mine\n\nmy own\n")
		os.Symlink(a.secret, filepath.Join(src, "Secret"))
		os.Symlink(a.folderPath("bob", "INBOX"), filepath.Join(src, "Bob"))
		os.Symlink(a.bobRoot(), filepath.Join(src, "BobTree.sbd"))
		a.cli("", "import", a.user, src)
		md := filepath.Join(a.t.TempDir(), "Maildir")
		for _, d := range []string{"cur", "new", "tmp"} {
			os.MkdirAll(filepath.Join(md, d), 0o700)
		}
		os.Symlink(a.secret, filepath.Join(md, "cur", "1.M1P1.x:2,S"))
		os.Symlink(a.bobRoot(), filepath.Join(md, ".Bob"))
		if a.format == "maildir" {
			os.Symlink(a.messageFile(a.t, "bob", "INBOX"), filepath.Join(md, "new", "2.M2P2.x"))
		}
		a.cli("", "import", a.user, md)
		for _, mark := range []string{secretMark, bobMark} {
			if a.storeHas(a.user, mark) {
				a.t.Errorf("import brought %s into %s's store", mark, a.user)
			}
		}
	}},
}

// lastRecord is where the last message of an mbox begins.
func lastRecord(b []byte) int {
	if i := strings.LastIndex(string(b), "\n\nFrom "); i >= 0 {
		return i + 2
	}
	return 0
}

// lutimes sets the times of a link itself.
func lutimes(p string, t time.Time) {
	ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}
