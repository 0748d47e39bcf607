package imap

import (
	"strings"
	"testing"

	"github.com/storaged/storaged/quota"
	"github.com/storaged/storaged/store"
)

func withLimits(l quota.Limits) func(*store.Options) {
	return func(o *store.Options) {
		o.Quota.Limits = func(string) (quota.Limits, error) { return l, nil }
	}
}

// sized is a message of exactly n octets.
func sized(n int) string {
	head := "Subject: sized\r\n\r\n"
	return head + strings.Repeat("a", n-len(head)-2) + "\r\n"
}

func (s *session) appendOK(tag, mailbox, msg string) {
	s.t.Helper()
	s.send(tag + " APPEND " + mailbox + " {" + itoa(uint32(len(msg))) + "+}\r\n" + msg + "\r\n")
	if l := s.line(); !strings.HasPrefix(l, tag+" OK [APPENDUID ") {
		s.t.Fatalf("APPEND: %q", l)
	}
}

// RFC 9208: GETQUOTAROOT, GETQUOTA, SETQUOTA refused, and OVERQUOTA for
// APPEND and COPY that would pass a limit; Trash may hold more, Spam is
// not counted, expunging frees at once, MOVE is never refused.
func TestQuota(t *testing.T) {
	e := newEnv(t, withLimits(quota.Limits{Storage: 10 << 10, Messages: 4, Rules: []quota.Rule{
		{Mailbox: "Trash", Storage: quota.Value{Set: true, Relative: true, N: 5 << 10}},
		{Mailbox: "Spam", Ignore: true},
	}}))
	s := e.dial(t)
	s.login()
	s.do("a1 CREATE Spam", "a1 OK CREATE completed")
	s.do("a2 GETQUOTAROOT inbox", `* QUOTAROOT INBOX "User quota"`, `* QUOTA "User quota" (STORAGE 0 10 MESSAGE 0 4)`, "a2 OK GETQUOTAROOT completed")
	s.do("a3 GETQUOTAROOT Spam", `* QUOTAROOT Spam`, "a3 OK GETQUOTAROOT completed")
	s.do("a4 GETQUOTAROOT Nope", "a4 NO [NONEXISTENT] no such mailbox")
	s.appendOK("a5", "INBOX", sized(6<<10))
	s.send("a6 APPEND INBOX {" + itoa(6<<10) + "+}\r\n" + sized(6<<10) + "\r\n")
	s.expect("a6", "a6 NO [OVERQUOTA] quota exceeded: storage limit 10K reached (6K used)")
	s.do(`a7 GETQUOTA "User quota"`, `* QUOTA "User quota" (STORAGE 6 10 MESSAGE 1 4)`, "a7 OK GETQUOTA completed")
	s.do(`a8 GETQUOTA ""`, "a8 NO [NONEXISTENT] no such quota root")
	s.do(`a9 SETQUOTA "User quota" (STORAGE 100)`, "a9 NO [NOPERM] quotas are set by the administrator")
	s.do(`a10 SETQUOTA "User quota" (COLOR 1)`, "a10 BAD unknown quota resource COLOR")
	s.do("a11 STATUS INBOX (MESSAGES SIZE)", "* STATUS INBOX (MESSAGES 1 SIZE 6144)", "a11 OK STATUS completed")

	s.selectInbox("b0")
	// Trash's limit is 15K: a copy there fits, a second copy into Sent
	// (10K) does not, and leaves nothing behind.
	s.do("b1 COPY 1 Trash", "b1 OK [COPYUID "+e.uidValidity(t, "Trash")+" 1 1] COPY completed")
	s.do("b2 COPY 1 Sent", "b2 NO [OVERQUOTA] quota exceeded: storage limit 10K reached (12K used)")
	s.do("b3 STATUS Sent (MESSAGES)", "* STATUS Sent (MESSAGES 0)", "b3 OK STATUS completed")
	// Over quota, moving still works: it frees what it adds.
	s.do("b4 MOVE 1 Sent", "* OK [COPYUID "+e.uidValidity(t, "Sent")+" 1 1] moved", "* 1 EXPUNGE", "b4 OK MOVE completed")
	// The ignored mailbox takes anything.
	s.appendOK("b5", "Spam", sized(20<<10))
	s.do("b6 GETQUOTAROOT INBOX", `* QUOTAROOT INBOX "User quota"`, `* QUOTA "User quota" (STORAGE 12 10 MESSAGE 2 4)`, "b6 OK GETQUOTAROOT completed")
	s.send("b7 APPEND INBOX {1024+}\r\n" + sized(1024) + "\r\n")
	s.expect("b7", "b7 NO [OVERQUOTA] quota exceeded: storage limit 10K reached (12K used)")
	// DELETED-STORAGE says what an EXPUNGE frees; the EXPUNGE frees it.
	s.send("c0 SELECT Trash\r\n")
	for l := s.line(); !strings.HasPrefix(l, "c0 OK"); l = s.line() {
	}
	s.do("c1 STORE 1 +FLAGS.SILENT (\\Deleted)", "c1 OK STORE completed")
	s.do("c2 STATUS Trash (DELETED DELETED-STORAGE)", "* STATUS Trash (DELETED 1 DELETED-STORAGE 6144)", "c2 OK STATUS completed")
	s.do("c3 EXPUNGE", "* 1 EXPUNGE", "c3 OK EXPUNGE completed")
	s.do("c4 STATUS Trash (DELETED-STORAGE)", "* STATUS Trash (DELETED-STORAGE 0)", "c4 OK STATUS completed")
	s.appendOK("c5", "INBOX", sized(1024))
	// The message limit: 4, Spam not counted.
	s.appendOK("c6", "INBOX", sized(100))
	s.appendOK("c7", "INBOX", sized(100))
	s.send("c8 APPEND INBOX {100+}\r\n" + sized(100) + "\r\n")
	s.expect("c8", "c8 NO [OVERQUOTA] quota exceeded: message limit 4 reached")
	s.do(`c9 GETQUOTA "User quota"`, `* QUOTA "User quota" (STORAGE 8 10 MESSAGE 4 4)`, "c9 OK GETQUOTA completed")
}

// A user without limits has no quota root.
func TestQuotaNone(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.login()
	s.do("a1 GETQUOTAROOT INBOX", "* QUOTAROOT INBOX", "a1 OK GETQUOTAROOT completed")
	s.do(`a2 GETQUOTA "User quota"`, "a2 NO [NONEXISTENT] no such quota root")
	s.appendOK("a3", "INBOX", sized(100))
}
