package server_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/quota"
)

func quotaMsg(n int) []byte {
	head := "From: a@example.net\r\nSubject: quota\r\n\r\n"
	return []byte(head + strings.Repeat("q", max(n-len(head)-2, 0)) + "\r\n")
}

func (ts *testServer) setRule(t *testing.T, user, key, rule string) {
	t.Helper()
	if err := ts.Users.SetExtra(user, key, rule); err != nil {
		t.Fatal(err)
	}
}

func (ts *testServer) usage(t *testing.T, user string) quota.Usage {
	t.Helper()
	acct, err := ts.Accounts.Open(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	u, err := acct.Usage()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// One LMTP transaction, three recipients, one over quota: that one gets
// 552 5.2.2 and nothing is written for it; the others are delivered.
// full_tempfail makes it 452 4.2.2; check_at_rcpt refuses a full
// recipient at RCPT.
func TestQuotaLMTP(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil, "ann", "bob", "cat")
	ts.setRule(t, "bob", "userdb_quota_rule", "*:storage=1k")
	c := ts.lmtpClient()
	defer c.Close()
	rcpts := []string{"ann@example.org", "bob@example.org", "cat@example.org"}
	res, err := send(c, "a@example.net", rcpts, quotaMsg(2000))
	if err != nil {
		t.Fatal(err)
	}
	if res["ann@example.org"] != nil || res["cat@example.org"] != nil {
		t.Fatalf("replies %v", res)
	}
	if se := res["bob@example.org"]; se == nil || se.Code != 552 || se.EnhancedCode != (smtp.EnhancedCode{5, 2, 2}) || se.Message != "<bob@example.org> Mailbox full" {
		t.Fatalf("bob: %+v", se)
	}
	if n := ts.stored(t, "bob", "INBOX"); n != 0 {
		t.Fatalf("bob has %d messages", n)
	}
	if ts.stored(t, "ann", "INBOX") != 1 || ts.stored(t, "cat", "INBOX") != 1 {
		t.Fatal("ann or cat missed the message")
	}
	// A message that fits still goes in.
	if res, err := send(c, "a@example.net", []string{"bob@example.org"}, quotaMsg(600)); err != nil || res["bob@example.org"] != nil {
		t.Fatalf("a small message: %v %v", res, err)
	}
	c.Quit()

	ts2 := startServer(t, t.TempDir(), func(c *config.Config) {
		c.Quota.FullTempfail = true
		c.Quota.CheckAtRcpt = true
		c.Quota.Messages = 1
	}, "ann", "bob")
	c2 := ts2.lmtpClient()
	defer c2.Close()
	if res, err := send(c2, "a@example.net", []string{"ann@example.org"}, quotaMsg(100)); err != nil || res["ann@example.org"] != nil {
		t.Fatalf("first message: %v %v", res, err)
	}
	// ann is full now: refused at RCPT (452 4.2.2, as full_tempfail
	// says), while bob is accepted and delivered.
	if err := c2.Mail("a@example.net", nil); err != nil {
		t.Fatal(err)
	}
	err = c2.Rcpt("ann@example.org", nil)
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 452 || se.EnhancedCode != (smtp.EnhancedCode{4, 2, 2}) || se.Message != "<ann@example.org> Mailbox full" {
		t.Fatalf("RCPT of a full recipient: %v", err)
	}
	if err := c2.Rcpt("bob@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if res, err := lmtpData(c2, quotaMsg(100)); err != nil || res["bob@example.org"] != nil {
		t.Fatalf("bob: %v %v", res, err)
	}
}

// Deliveries racing for the last of a limit never take usage past it,
// and a recount from the files agrees with the running totals.
func TestQuotaRace(t *testing.T) { eachFormat(t, testQuotaRace) }

func testQuotaRace(t *testing.T, format string) {
	ts := startServer(t, t.TempDir(), withFormat(format), "ann")
	const limit, size = 20 << 10, 1000
	ts.setRule(t, "ann", "userdb_quota_rule", fmt.Sprintf("*:bytes=%d", limit))
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted, full := 0, 0
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := ts.lmtpClient()
			defer c.Close()
			for i := 0; i < 10; i++ {
				res, err := send(c, "a@example.net", []string{"ann@example.org"}, quotaMsg(size+w))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if se := res["ann@example.org"]; se == nil {
					accepted++
				} else if se.Code == 552 {
					full++
				} else {
					t.Errorf("reply %v", se)
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	u := ts.usage(t, "ann")
	if u.Storage > limit {
		t.Fatalf("usage %d over the limit %d", u.Storage, limit)
	}
	if accepted == 0 || full == 0 || int64(accepted) != u.Messages {
		t.Fatalf("accepted %d, full %d, usage %+v", accepted, full, u)
	}
	if limit-u.Storage > size+10 {
		t.Fatalf("usage %d: refused while %d octets were free", u.Storage, limit-u.Storage)
	}
	acct, _ := ts.Accounts.Open(context.Background(), "ann")
	r, err := acct.Recalc(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Before != r.After || r.Resized != 0 || r.After != u || r.Files != accepted {
		t.Fatalf("recalc %+v, usage %+v, accepted %d", r, u, accepted)
	}
}

// GETQUOTAROOT as go-imap's client and Python's imaplib see it; APPEND
// over quota is NO [OVERQUOTA].
func TestQuotaIMAPClients(t *testing.T) {
	ts := startServer(t, t.TempDir(), func(c *config.Config) { c.Quota.Storage = 100 << 10; c.Quota.Messages = 50 }, "ann")
	c := ts.login(t, "ann", nil)
	defer c.Close()
	if !c.Caps().Has(imap.CapQuota) {
		t.Fatal("QUOTA not advertised")
	}
	first := c.Append("INBOX", 3000, nil)
	first.Write(quotaMsg(3000))
	first.Close()
	if _, err := first.Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c.GetQuotaRoot("INBOX").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 1 || data[0].Root != "User quota" ||
		data[0].Resources[imap.QuotaResourceStorage] != (imapclient.QuotaResourceData{Usage: 3, Limit: 100}) ||
		data[0].Resources[imap.QuotaResourceMessage] != (imapclient.QuotaResourceData{Usage: 1, Limit: 50}) {
		t.Fatalf("GETQUOTAROOT: %+v", data)
	}
	big := quotaMsg(100 << 10)
	cmd := c.Append("INBOX", int64(len(big)), nil)
	cmd.Write(big)
	cmd.Close()
	if _, err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "OVERQUOTA") {
		t.Fatalf("APPEND over quota: %v", err)
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	script := `
import imaplib, sys
host, port = sys.argv[1].rsplit(":", 1)
m = imaplib.IMAP4(host, int(port))
m.login("ann", "secret-ann")
typ, data = m.getquotaroot("INBOX")
assert typ == "OK", (typ, data)
assert data == [[b'INBOX "User quota"'], [b'"User quota" (STORAGE 3 100 MESSAGE 1 50)']], data
typ, data = m.getquota('"User quota"')
assert typ == "OK" and data == [b'"User quota" (STORAGE 3 100 MESSAGE 1 50)'], data
typ, data = m.append("INBOX", None, None, b"Subject: big\r\n\r\n" + b"x" * (120 << 10) + b"\r\n")
assert typ == "NO" and b"[OVERQUOTA]" in data[0], (typ, data)
print("ok")
`
	out, err := exec.Command(py, "-c", script, ts.imap).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("imaplib: %v\n%s", err, out)
	}
}

// One warning per crossing upwards, never one per delivery.
func TestQuotaWarnings(t *testing.T) {
	ts := startServer(t, t.TempDir(), func(c *config.Config) { c.Quota.Messages = 10; c.Quota.Warnings = []int{50, 90} }, "ann")
	c := ts.lmtpClient()
	defer c.Close()
	for i := 0; i < 8; i++ {
		if res, err := send(c, "a@example.net", []string{"ann@example.org"}, quotaMsg(200)); err != nil || res["ann@example.org"] != nil {
			t.Fatalf("delivery %d: %v %v", i, res, err)
		}
	}
	warnings := func() []string {
		var subj []string
		for _, m := range ts.inboxInUIDOrder(t, "ann") {
			s := string(m.Bytes)
			if i := strings.Index(s, "Subject: Your mailbox is "); i >= 0 {
				subj = append(subj, s[i+len("Subject: "):i+strings.Index(s[i:], "\r\n")])
			}
		}
		return subj
	}
	// 5 messages reach 50 %: one warning (the warning itself is the 6th
	// message, and counts from then on). 8 deliveries and the warning
	// make 9 = 90 %: the second.
	if got := warnings(); len(got) != 2 || got[0] != "Your mailbox is 50% full" || got[1] != "Your mailbox is 90% full" {
		t.Fatalf("warnings %q", got)
	}
}

// The policy service answers as Dovecot's quota-status does, over a real
// socket, several requests on one connection, as Postfix asks.
func TestQuotaPolicyService(t *testing.T) {
	ts := startServer(t, t.TempDir(), func(c *config.Config) { c.Quota.PolicyListen = "127.0.0.1:0" }, "ann", "bob")
	ts.setRule(t, "bob", "userdb_quota_rule", "*:storage=1k")
	addrs := ts.Addrs("policy")
	if len(addrs) != 1 {
		t.Fatalf("policy listeners %v", addrs)
	}
	conn, err := net.Dial("tcp", addrs[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	ask := func(attrs string) string {
		t.Helper()
		fmt.Fprintf(conn, "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\nclient_address=192.0.2.1\nsender=a@example.net\n%s\n", attrs)
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if blank, err := r.ReadString('\n'); err != nil || blank != "\n" {
			t.Fatalf("no blank line after the action: %q %v", blank, err)
		}
		return strings.TrimSuffix(line, "\n")
	}
	for _, c := range []struct{ attrs, want string }{
		{"recipient=ann@example.org\nsize=5000\n", "action=DUNNO"},
		{"recipient=bob@example.org\nsize=5000\n", "action=552 5.2.2 Mailbox full"},
		{"recipient=bob@example.org\nsize=0\n", "action=DUNNO"},
		{"recipient=nobody@example.org\n", "action=REJECT Unknown user"},
		// Another domain is not ours to judge: relaying stays Postfix's.
		{"recipient=x@elsewhere.example\n", "action=DUNNO"},
		{"", "action=DUNNO"},
	} {
		if got := ask(c.attrs); got != c.want {
			t.Errorf("%q: %q, want %q", c.attrs, got, c.want)
		}
	}
	// Garbage ends the connection, and harms nothing else.
	fmt.Fprintf(conn, "no equals sign here\n\n")
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("connection kept after a malformed request")
	}
}
