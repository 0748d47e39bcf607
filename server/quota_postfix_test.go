package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/config"
)

// A real Postfix (Debian's, started by the test with a configuration of
// its own, as root) asks storaged's policy service at RCPT and refuses an
// over-quota recipient before it accepts the message, while the other
// recipient's copy goes through Postfix's queue and LMTP into the store.
func TestQuotaPostfixPolicy(t *testing.T) {
	pfDir := postfixDir(t)
	ts := startServer(t, t.TempDir(), func(c *config.Config) { c.Quota.PolicyListen = "127.0.0.1:0" }, "ann", "bob")
	// bob is full: one message of one allowed.
	ts.setRule(t, "bob", "userdb_quota_rule", "*:messages=1")
	lc := ts.lmtpClient()
	if res, err := send(lc, "a@example.net", []string{"bob@example.org"}, quotaMsg(200)); err != nil || res["bob@example.org"] != nil {
		t.Fatalf("bob's first message: %v %v", res, err)
	}
	lc.Close()
	policyAddr := ts.Addrs("policy")[0].String()

	pf := startPostfixIn(t, pfDir, fmt.Sprintf(`mydestination = example.org
local_recipient_maps =
local_transport = lmtp:inet:%s
smtpd_recipient_restrictions = check_policy_service inet:%s, permit_mynetworks, reject
`, ts.lmtp, policyAddr), false)
	maillog := pf.maillog
	acct, err := ts.Accounts.Open(context.Background(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := acct.Mailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	sub := acct.Hub().Subscribe(inbox.ID())
	defer sub.Close()

	c := pf.client(t)
	if err := c.Mail("a@example.net"); err != nil {
		t.Fatal(err)
	}
	err = c.Rcpt("bob@example.org")
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 552 || !strings.HasPrefix(te.Msg, "5.2.2 ") || !strings.Contains(te.Msg, "Mailbox full") {
		t.Fatalf("RCPT of a full mailbox: %v, want 552 5.2.2 ... Mailbox full\n%s", err, maillog())
	}
	if err := c.Rcpt("ann@example.org"); err != nil {
		t.Fatalf("RCPT ann: %v\n%s", err, maillog())
	}
	pf.data(t, c, "From: a@example.net\r\nTo: ann@example.org, bob@example.org\r\nSubject: through postfix\r\n\r\nhello\r\n")
	// Postfix delivers from its queue over LMTP: wait for the store to
	// tell of the new message.
	select {
	case <-sub.C:
	case <-time.After(60 * time.Second):
		t.Fatalf("Postfix did not deliver to ann\n%s", maillog())
	}
	if n := ts.stored(t, "ann", "INBOX"); n != 1 {
		t.Fatalf("ann has %d messages", n)
	}
	if n := ts.stored(t, "bob", "INBOX"); n != 1 {
		t.Fatalf("bob has %d messages, want his first only", n)
	}
}
