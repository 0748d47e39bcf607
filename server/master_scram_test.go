package server_test

import (
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/internal/scramclient"
)

// Master users (Dovecot's master passdb): "user*master" with the
// master's password, or SASL PLAIN with the user as authzid, over IMAP,
// POP3 and ManageSieve; the session is the user's. Nobody else may name
// another authzid.
func TestMasterUserLogin(t *testing.T) {
	dir := t.TempDir()
	masters := filepath.Join(dir, "master-users")
	os.WriteFile(masters, []byte("admin:{PLAIN}master-pw\n"), 0o600)
	ts, logs := startServerLogged(t, dir, func(c *config.Config) { c.Auth.MasterUsersFile = masters }, "ann", "bob")
	ts.imap, ts.pop3 = ts.addr("imap"), ts.addr("pop3")
	deliverTo(t, ts, []string{"ann@example.org"}, "for ann")
	deliverTo(t, ts, []string{"bob@example.org"}, "for bob")
	deliverTo(t, ts, []string{"bob@example.org"}, "for bob")

	c, err := imapLogin(t, ts, "ann*admin", "master-pw")
	if err != nil {
		t.Fatalf("LOGIN ann*admin: %v", err)
	}
	if n := inboxCount(t, c); n != 1 {
		t.Fatalf("ann*admin sees %d messages, want ann's 1", n)
	}
	l := dialLine(t, ts.imap, "")
	l.line()
	l.send("a AUTHENTICATE PLAIN " + b64s("bob\x00admin\x00master-pw") + "\r\na SELECT INBOX\r\n")
	if got := l.line(); !strings.HasPrefix(got, "a OK") {
		t.Fatalf("PLAIN authzid=bob authcid=admin: %q", got)
	}
	if sel := strings.Join(l.until("a OK"), "\n"); !strings.Contains(sel, "* 2 EXISTS") {
		t.Fatalf("as bob: %s", sel)
	}
	p := dialPOP3(t, ts.pop3)
	p.ok("USER bob*admin")
	if got := p.ok("PASS master-pw"); !strings.HasPrefix(got, "+OK maildrop has 2 messages") {
		t.Fatalf("POP3 bob*admin: %s", got)
	}
	m := dialLine(t, ts.addr("managesieve"), "")
	m.until("OK")
	m.send(`AUTHENTICATE "PLAIN" "` + b64s("ann\x00admin\x00master-pw") + "\"\r\nLISTSCRIPTS\r\n")
	if got := m.line(); got != `OK "Logged in."` {
		t.Fatalf("ManageSieve as ann by admin: %q", got)
	}
	if got := m.line(); got != `OK "Listscripts completed."` {
		t.Fatalf("LISTSCRIPTS: %q", got)
	}
	for _, bad := range [][2]string{
		{"ann*admin", "secret-ann"}, // the user's password is not the master's
		{"nobody*admin", "master-pw"},
		{"admin", "master-pw"},    // masters cannot log in as themselves
		{"ann*bob", "secret-bob"}, // users are not masters
	} {
		if _, err := imapLogin(t, ts, bad[0], bad[1]); imapCode(err) != "AUTHENTICATIONFAILED" {
			t.Errorf("LOGIN %s: %v", bad[0], err)
		}
	}
	l = dialLine(t, ts.imap, "")
	l.line()
	l.send("b AUTHENTICATE PLAIN " + b64s("bob\x00ann\x00secret-ann") + "\r\n")
	if got := l.line(); !strings.HasPrefix(got, "b NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("ann acting as bob: %q", got)
	}
	if n := len(logLines(logs, `msg="logged in"`, "user=ann", "master=admin")); n != 2 {
		t.Errorf("%d log lines of ann logged in by admin, want 2:\n%s", n, logs)
	}
}

// scramHash is a {SCRAM-SHA-256} hash of password made by Dovecot's
// doveadm when it is installed (make test-deps does not install it; the
// test says which it used), else by us.
func scramHash(t *testing.T, password string) string {
	if doveadm, err := exec.LookPath("doveadm"); err == nil {
		if out, err := exec.Command(doveadm, "pw", "-s", "SCRAM-SHA-256", "-p", password).Output(); err == nil {
			t.Log("SCRAM-SHA-256 hash made by doveadm pw")
			return strings.TrimSpace(string(out))
		}
	}
	h, err := auth.SCRAMHash(password, 0)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// SCRAM-SHA-256 over real sockets: go-imap's client with the test's
// RFC 5802 client, mbsync through Cyrus SASL's scram plugin (an
// independent client, as mail users run it), POP3 and ManageSieve. A
// user whose argon2id hash cannot do SCRAM fails properly.
func TestSCRAMLogins(t *testing.T) {
	dir := t.TempDir()
	ts, logs := startServerLogged(t, dir, func(c *config.Config) {
		c.Auth.Mechanisms = []string{"PLAIN", "LOGIN", "SCRAM-SHA-256"}
	}, "ann", "bob")
	ts.imap, ts.pop3 = ts.addr("imap"), ts.addr("pop3")
	if err := ts.Users.SetHash("ann", scramHash(t, "ann's pass, with = signs")); err != nil {
		t.Fatal(err)
	}
	deliverTo(t, ts, []string{"ann@example.org"}, "scram")

	c := ts.imapClient(t, nil)
	if !c.Caps().Has("AUTH=SCRAM-SHA-256") {
		t.Fatalf("capabilities %v", c.Caps())
	}
	sc := scramclient.New("", "ann", "ann's pass, with = signs")
	if err := c.Authenticate(sc); err != nil || !sc.Verified {
		t.Fatalf("go-imap AUTHENTICATE SCRAM-SHA-256: %v (server verified: %v)", err, sc.Verified)
	}
	if n := inboxCount(t, c); n != 1 {
		t.Fatalf("%d messages", n)
	}
	c = ts.imapClient(t, nil)
	if err := c.Authenticate(scramclient.New("", "bob", "secret-bob")); imapCode(err) != "AUTHENTICATIONFAILED" {
		t.Fatalf("bob's argon2id hash cannot do SCRAM: %v", err)
	}
	if len(logLines(logs, `msg="login failed"`, "user=bob", `reason="hash cannot do SCRAM-SHA-256"`)) != 1 {
		t.Errorf("no log line says why bob failed:\n%s", logs)
	}
	// PLAIN still works for both.
	for _, u := range [][2]string{{"ann", "ann's pass, with = signs"}, {"bob", "secret-bob"}} {
		if _, err := imapLogin(t, ts, u[0], u[1]); err != nil {
			t.Errorf("LOGIN %s: %v", u[0], err)
		}
	}

	// POP3, by hand.
	p := dialLine(t, ts.pop3, "")
	p.line()
	sc = scramclient.New("", "ann", "ann's pass, with = signs")
	_, first, _ := sc.Start()
	p.send("AUTH SCRAM-SHA-256 " + b64s(string(first)) + "\r\n")
	sf, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(p.line(), "+ "))
	final, err := sc.Next(sf)
	if err != nil {
		t.Fatal(err)
	}
	p.send(b64s(string(final)) + "\r\n")
	v, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(p.line(), "+ "))
	if _, err := sc.Next(v); err != nil {
		t.Fatalf("POP3 server-final: %v", err)
	}
	p.send("\r\n")
	if l := p.line(); !strings.HasPrefix(l, "+OK maildrop has 1 messages") {
		t.Fatalf("POP3 SCRAM: %q", l)
	}

	// ManageSieve: the server's final message in OK (SASL …).
	m := dialLine(t, ts.addr("managesieve"), "")
	if caps := strings.Join(m.until("OK"), "\n"); !strings.Contains(caps, `"SASL" "PLAIN LOGIN SCRAM-SHA-256"`) {
		t.Fatalf("ManageSieve capabilities:\n%s", caps)
	}
	sc = scramclient.New("", "ann", "ann's pass, with = signs")
	_, first, _ = sc.Start()
	m.send(`AUTHENTICATE "SCRAM-SHA-256" "` + b64s(string(first)) + "\"\r\n")
	q, _ := strconv.Unquote(m.line())
	sf, _ = base64.StdEncoding.DecodeString(q)
	final, err = sc.Next(sf)
	if err != nil {
		t.Fatal(err)
	}
	m.send(strconv.Quote(b64s(string(final))) + "\r\n")
	l := m.line()
	code, _, _ := strings.Cut(strings.TrimPrefix(l, `OK (SASL "`), `")`)
	v, _ = base64.StdEncoding.DecodeString(code)
	if _, err := sc.Next(v); err != nil || !strings.HasSuffix(l, `"Logged in."`) {
		t.Fatalf("ManageSieve SCRAM: %q %v", l, err)
	}

	t.Run("mbsync", func(t *testing.T) {
		mbsync, err := exec.LookPath("mbsync")
		if err != nil {
			t.Skip("mbsync (isync) is not installed")
		}
		if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/sasl2/libscram.so"); err != nil {
			if m, _ := filepath.Glob("/usr/lib/*/sasl2/libscram.so*"); len(m) == 0 {
				t.Skip("Cyrus SASL's scram plugin (libsasl2-modules) is not installed")
			}
		}
		local := filepath.Join(dir, "local")
		os.MkdirAll(local, 0o700)
		host, port, _ := strings.Cut(ts.imap, ":")
		rc := filepath.Join(dir, "mbsyncrc")
		os.WriteFile(rc, []byte(fmt.Sprintf(`IMAPAccount test
Host %s
Port %s
User ann
Pass "ann's pass, with = signs"
TLSType None
AuthMechs SCRAM-SHA-256

IMAPStore remote
Account test

MaildirStore local
Path %s/
Inbox %s/INBOX

Channel test
Far :remote:INBOX
Near :local:INBOX
Create Near
SyncState *
`, host, port, local, local)), 0o600)
		before := len(logLines(logs, `msg="logged in"`, "user=ann", "mech=SCRAM-SHA-256"))
		out, err := exec.Command(mbsync, "-c", rc, "-a").CombinedOutput()
		if err != nil && strings.Contains(string(out), "TLSType") {
			// isync before 1.5 spells it SSLType.
			os.WriteFile(rc, []byte(strings.Replace(string(readAllFile(t, rc)), "TLSType None", "SSLType None", 1)), 0o600)
			out, err = exec.Command(mbsync, "-c", rc, "-a").CombinedOutput()
		}
		if err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
		n := 0
		for _, sub := range []string{"new", "cur"} {
			ents, _ := os.ReadDir(filepath.Join(local, "INBOX", sub))
			n += len(ents)
		}
		if n != 1 {
			t.Fatalf("mbsync fetched %d messages, want 1\n%s", n, out)
		}
		if len(logLines(logs, `msg="logged in"`, "user=ann", "mech=SCRAM-SHA-256")) <= before {
			t.Fatalf("mbsync did not log in with SCRAM-SHA-256:\n%s", logs)
		}
	})
}

// Without mechanisms naming it, SCRAM-SHA-256 is neither advertised
// nor taken, over any protocol.
func TestSCRAMOffByDefault(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil, "ann")
	c := dialLine(t, ts.imap, "")
	if g := c.line(); strings.Contains(g, "SCRAM") || !strings.Contains(g, "AUTH=PLAIN") {
		t.Fatalf("greeting %q", g)
	}
	c.send("a AUTHENTICATE SCRAM-SHA-256 " + b64s("n,,n=ann,r=abcdef") + "\r\n")
	if l := c.line(); !strings.HasPrefix(l, "a NO [CANNOT]") {
		t.Fatalf("%q", l)
	}
	p := dialPOP3(t, ts.pop3)
	p.ok("CAPA")
	if capa := string(p.multi()); !strings.Contains(capa, "SASL PLAIN LOGIN\r\n") {
		t.Fatalf("CAPA %q", capa)
	}
}
