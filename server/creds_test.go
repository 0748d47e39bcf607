package server_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storaged/storaged/internal/safefs"
)

// Issue 13, point 6: "with privileges dropped per user ..., a link that
// slips through still cannot reach another user's files". Run as root
// for users with uids of their own, the server works in each store as
// its user (safefs creds.go). The test turns safefs's link rules off, so
// that every planted link is followed, and shows that a user whose INBOX
// was swapped for links to another user's INBOX still reads nothing of
// it (the kernel answers EACCES), while a user without a uid of their
// own, served as root, does read it: the control that proves the links
// were followed.
func TestPerUserCredsStopLinks(t *testing.T) { eachFormat(t, testPerUserCredsStopLinks) }

func testPerUserCredsStopLinks(t *testing.T, format string) {
	a, b := newSysUser(t), newSysUser(t)
	dir := t.TempDir()
	// Everyone may traverse down to the stores, so that only the
	// stores' own owners and modes stand in the way of a link.
	for p := dir; p != filepath.Dir(os.TempDir()); p = filepath.Dir(p) {
		os.Chmod(p, 0o755)
	}
	users := fmt.Sprintf("alice:{PLAIN}secret-alice:%d:%d::::\nbob:{PLAIN}secret-bob:%d:%d::::\ncarol:{PLAIN}secret-carol:::::\n", a.uid, a.gid, b.uid, b.gid)
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, dir, withFormat(format))
	deliverMsgs(t, ts, "bob", bobMessage(1))
	mail := ts.cfg.Mail.Dir
	for _, p := range []string{ts.dir, mail} {
		os.Chmod(p, 0o755)
	}
	e := &isoEnv{t: t, ts: ts, format: format}
	for _, u := range []string{"alice", "carol"} {
		c := ts.raw(t)
		c.cmd(fmt.Sprintf("LOGIN %s secret-%s", u, u))
		c.cmd("SELECT INBOX")
		c.cmd("LOGOUT")
		(&attacker{isoEnv: e, t: t, user: u}).swapFolder("INBOX", e.folderPath("bob", "INBOX"))
	}
	defer safefs.UnsafeFollowLinks()()
	read := func(u string) string {
		c := ts.raw(t)
		if _, st := c.cmd(fmt.Sprintf("LOGIN %s secret-%s", u, u)); !strings.HasPrefix(st, "OK") {
			t.Fatalf("%s's LOGIN: %s", u, st)
		}
		var all []string
		for _, cmd := range []string{"SELECT INBOX", "FETCH 1:* (BODY[])", "UID FETCH 1:* (BODY[])", "STATUS INBOX (MESSAGES)"} {
			lines, st := c.cmd(cmd)
			all = append(all, lines...)
			all = append(all, st)
		}
		c.cmd("LOGOUT")
		return strings.Join(all, "\n")
	}
	if got := read("carol"); !strings.Contains(got, bobMark) {
		t.Fatalf("carol, served as root, did not read bob's INBOX through the links: the rules were not off, and alice's run proves nothing:\n%s", got)
	}
	got := read("alice")
	switch {
	case strings.Contains(got, bobMark):
		t.Errorf("alice, with a uid of her own, read bob's INBOX through a link:\n%s", got)
	case !strings.HasPrefix(got, "NO [NOPERM]"):
		t.Errorf("alice's SELECT, refused by the kernel, is not NO [NOPERM]:\n%s", got)
	}
	// Delivery through the links: as alice it is refused (a temporary
	// failure: the admin fixes the store and the MTA retries), and
	// nothing lands in bob's store.
	before := fingerprint(t, e.storeOf("bob"))
	if err := lmtpDeliver(t, "tcp", ts.lmtp, "alice@example.org", []byte("Subject: planted\r\n\r\nx\r\n")); err == nil || !strings.Contains(err.Error(), "451") {
		t.Errorf("LMTP to alice through links into bob's INBOX: %v, want 451", err)
	}
	if d := diff(before, fingerprint(t, e.storeOf("bob"))); len(d) > 0 {
		t.Errorf("a delivery to alice changed bob's store:\n  %s", strings.Join(d, "\n  "))
	}
	if n := ownedBy(t, e.storeOf("bob"), b.uid, b.gid); n < 3 {
		t.Errorf("bob's store: %d entries", n)
	}
}
