package server_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	imap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

// A Dovecot of the test's own (Debian's binaries, a temporary config and
// mail dir, loopback ports) gets mail over LMTP and flags, keywords,
// folders and subscriptions over IMAP; then it is stopped, its Maildir is
// put in place for storaged, and storaged must show the same UIDs,
// UIDVALIDITY, UIDNEXT, flags, keywords, INTERNALDATEs, folders and
// subscriptions over IMAP, and byte-equal POP3 UIDLs.
// fillDovecot gives Dovecot's u1 what a migration must carry: folders
// with a hierarchy, subscriptions, flags and keywords, internal dates and
// holes in the UIDs; it returns the IMAP session it used, INBOX selected.
func fillDovecot(t *testing.T, dv *dovecot) *imapclient.Client {
	t.Helper()
	lc := dv.lmtp(t)
	for i := 1; i <= 6; i++ {
		msg := fmt.Sprintf("From: s%d@example.net\r\nTo: u1@localhost\r\nSubject: m%d\r\nMessage-ID: <%d@adopt.test>\r\n\r\nbody %d\r\n", i, i, i, i)
		if _, err := send(lc, "s@example.net", []string{"u1@localhost"}, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	lc.Quit()
	c := dv.imap(t)
	for _, n := range []string{"Work/Sub", "Drafts", "Projects"} {
		if err := c.Create(n, nil).Wait(); err != nil {
			t.Fatalf("dovecot CREATE %s: %v", n, err)
		}
	}
	for _, n := range []string{"INBOX", "Work/Sub", "Projects"} {
		if err := c.Subscribe(n).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	date := time.Date(2020, 1, 2, 3, 4, 5, 0, time.FixedZone("", 2*3600))
	for i := 0; i < 2; i++ {
		body := []byte(fmt.Sprintf("Subject: ap%d\r\n\r\nappended\r\n", i))
		app := c.Append("Work/Sub", int64(len(body)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen, "projectx"}, Time: date})
		app.Write(body)
		app.Close()
		if _, err := app.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	store := func(ss imap.SeqSet, op imap.StoreFlagsOp, flags ...imap.Flag) {
		if err := c.Store(ss, &imap.StoreFlags{Op: op, Flags: flags, Silent: true}, nil).Close(); err != nil {
			t.Fatal(err)
		}
	}
	store(imap.SeqSetNum(1), imap.StoreFlagsAdd, imap.FlagSeen, "$Label1", "custom")
	store(imap.SeqSetNum(2), imap.StoreFlagsAdd, imap.FlagFlagged, imap.FlagAnswered, "$Junk")
	store(imap.SeqSetNum(3, 6), imap.StoreFlagsAdd, imap.FlagDeleted)
	if err := c.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	store(imap.SeqSetNum(3), imap.StoreFlagsAdd, imap.FlagDraft, "custom")
	return c
}

func TestAdoptDovecotMaildir(t *testing.T) {
	dv := startDovecot(t)
	c := fillDovecot(t, dv)
	want := imapSnapshot(t, c)
	c.Logout().Wait()
	wantUIDL := pop3UIDL(t, dv.pop3, "u1", "pw")
	t.Logf("Dovecot: %v\nUIDL:\n%s", want, wantUIDL)
	dv.stop(t)

	dir := t.TempDir()
	mailRoot := filepath.Join(newConfig(t, dir).Mail.Dir, "u1")
	os.MkdirAll(filepath.Dir(mailRoot), 0o700)
	if err := os.Rename(filepath.Join(dv.dir, "home", "u1", "Maildir"), mailRoot); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, dir, nil, "u1")
	sc := ts.login(t, "u1", nil)
	got := imapSnapshot(t, sc)
	if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
		t.Errorf("storaged after adoption:\n%s\nDovecot before:\n%s", g, w)
	}
	if g := pop3UIDL(t, ts.pop3, "u1", "secret-u1"); g != wantUIDL {
		t.Errorf("POP3 UIDL: storaged\n%s\nDovecot\n%s", g, wantUIDL)
	}
	sc.Logout().Wait()

	// A restart finds the adoption marked: nothing changes, nothing is
	// applied twice, and the next delivery gets Dovecot's UIDNEXT.
	ts.stop()
	ts = startServer(t, dir, nil, "u1")
	sc = ts.login(t, "u1", nil)
	if g := fmt.Sprint(imapSnapshot(t, sc)); g != fmt.Sprint(want) {
		t.Errorf("after restart:\n%s\nwant\n%s", g, fmt.Sprint(want))
	}
	inbox := acctMailbox(t, ts, "u1")
	before, _ := inbox.Info()
	lc := ts.lmtpClient()
	if _, err := send(lc, "s@example.net", []string{"u1@localhost"}, []byte("Subject: after\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	after, _ := inbox.Info()
	if after.UIDValidity != before.UIDValidity || after.UIDNext != before.UIDNext+1 {
		t.Errorf("delivery after adoption: %d/%d, was %d/%d", after.UIDValidity, after.UIDNext, before.UIDValidity, before.UIDNext)
	}
}

type mboxSnap struct {
	Name                 string
	UIDValidity, UIDNext uint32
	Subscribed           bool
	Msgs                 []string // "uid flags internaldate"
}

// imapSnapshot is what a client caches of every selectable mailbox.
func imapSnapshot(t *testing.T, c *imapclient.Client) []mboxSnap {
	t.Helper()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	subs, err := c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	subscribed := map[string]bool{}
	for _, s := range subs {
		subscribed[s.Mailbox] = true
	}
	var out []mboxSnap
	for _, l := range list {
		skip := false
		for _, a := range l.Attrs {
			if a == imap.MailboxAttrNoSelect || a == imap.MailboxAttrNonExistent {
				skip = true
			}
		}
		if skip {
			continue
		}
		st, err := c.Status(l.Mailbox, &imap.StatusOptions{UIDValidity: true, UIDNext: true, NumMessages: true}).Wait()
		if err != nil {
			t.Fatalf("STATUS %s: %v", l.Mailbox, err)
		}
		s := mboxSnap{Name: l.Mailbox, UIDValidity: st.UIDValidity, UIDNext: uint32(st.UIDNext), Subscribed: subscribed[l.Mailbox]}
		if *st.NumMessages > 0 {
			if _, err := c.Select(l.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
				t.Fatal(err)
			}
			var all imap.SeqSet
			all.AddRange(1, 0)
			msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true}).Collect()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				var fl []string
				for _, f := range m.Flags {
					if !strings.EqualFold(string(f), `\Recent`) {
						fl = append(fl, strings.ToLower(string(f)))
					}
				}
				sort.Strings(fl)
				s.Msgs = append(s.Msgs, fmt.Sprintf("%d %v %d", m.UID, fl, m.InternalDate.Unix()))
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func pop3UIDL(t *testing.T, addr, user, pass string) string {
	t.Helper()
	p := dialPOP3(t, addr)
	p.ok("USER " + user)
	p.ok("PASS " + pass)
	p.ok("UIDL")
	out := string(p.multi())
	p.ok("QUIT")
	return out
}

// dovecot is a Dovecot instance of one test.
type dovecot struct {
	dir              string
	conf             string
	cmd              *exec.Cmd
	lmtpAddr, imapAd string
	pop3             string
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// startDovecot runs Dovecot in the foreground from a temporary directory,
// the way bench/peer.sh does: mail owned by nobody (Dovecot refuses root
// for mail), login processes as dovenull.
func startDovecot(t *testing.T) *dovecot {
	t.Helper()
	return startDovecotAt(t, "maildir:~/Maildir")
}

// startDovecotAt is startDovecot with another mail_location (a LAYOUT).
func startDovecotAt(t *testing.T, location string) *dovecot {
	t.Helper()
	if _, err := os.Stat("/usr/lib/dovecot/pop3"); err != nil {
		t.Skip("Dovecot is not installed (apt-get install dovecot-imapd dovecot-pop3d dovecot-lmtpd)")
	}
	if os.Geteuid() != 0 {
		t.Skip("running Dovecot with its own users needs root")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	for _, u := range []string{"dovecot", "dovenull"} {
		if _, err := user.Lookup(u); err != nil {
			t.Skipf("system user %s missing (the Debian package creates it)", u)
		}
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	d := t.TempDir()
	// Dovecot's unprivileged processes must reach below the temp dir.
	for p := d; p != "/" && p != os.TempDir(); p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	for _, sub := range []string{"run", "state", "home"} {
		os.MkdirAll(filepath.Join(d, sub), 0o755)
	}
	os.Chown(filepath.Join(d, "home"), uid, gid)
	os.WriteFile(filepath.Join(d, "passwd"), []byte("u1:{PLAIN}pw::::::\n"), 0o644)
	dv := &dovecot{dir: d, conf: filepath.Join(d, "dovecot.conf"),
		lmtpAddr: "127.0.0.1:" + freePort(t), imapAd: "127.0.0.1:" + freePort(t), pop3: "127.0.0.1:" + freePort(t)}
	port := func(a string) string { _, p, _ := net.SplitHostPort(a); return p }
	conf := fmt.Sprintf(`instance_name = storaged-test-%[7]d
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = imap pop3 lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %%Ln
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = %[2]d
mail_location = %[8]s
postmaster_address = postmaster@localhost
namespace inbox {
  inbox = yes
  separator = /
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN %[1]s/passwd
}
userdb {
  driver = static
  args = uid=%[2]d gid=%[3]d home=%[1]s/home/%%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[4]s
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = %[5]s
  }
  inet_listener pop3s {
    port = 0
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = %[6]s
  }
}
`, d, uid, gid, port(dv.imapAd), port(dv.pop3), port(dv.lmtpAddr), os.Getpid(), location)
	os.WriteFile(dv.conf, []byte(conf), 0o644)
	dv.cmd = exec.Command("/usr/sbin/dovecot", "-F", "-c", dv.conf)
	dv.cmd.Stderr = os.Stderr
	if err := dv.cmd.Start(); err != nil {
		t.Fatalf("dovecot: %v", err)
	}
	t.Cleanup(func() { dv.stop(t) })
	for _, a := range []string{dv.lmtpAddr, dv.imapAd, dv.pop3} {
		waitListening(t, a, dv)
	}
	return dv
}

// waitListening dials until the listener answers; Dovecot opens them
// after it forked its services.
func waitListening(t *testing.T, addr string, dv *dovecot) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dv.dir, "dovecot.log"))
			t.Fatalf("dovecot not listening on %s: %v\n%s", addr, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (dv *dovecot) stop(t *testing.T) {
	if dv.cmd == nil {
		return
	}
	dv.cmd.Process.Signal(syscall.SIGTERM)
	dv.cmd.Wait()
	dv.cmd = nil
}

func (dv *dovecot) lmtp(t *testing.T) *smtp.Client {
	t.Helper()
	conn, err := net.Dial("tcp", dv.lmtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	if err := c.Hello("client.example.net"); err != nil {
		t.Fatal(err)
	}
	return c
}

func (dv *dovecot) imap(t *testing.T) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(dv.imapAd, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login("u1", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}
