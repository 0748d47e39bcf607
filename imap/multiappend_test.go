package imap

import (
	"strings"
	"testing"

	"github.com/storaged/storaged/quota"
)

// RFC 3502: one APPEND, several messages, all stored or none.
func TestMultiAppend(t *testing.T) {
	e := newEnv(t, withLimits(quota.Limits{Storage: 4 << 10}))
	s := e.dial(t)
	s.login()
	m1, m2 := "Subject: one\r\n\r\n1\r\n", "Subject: two\r\n\r\n2\r\n"
	lit := func(m string) string { return "{" + itoa(uint32(len(m))) + "+}\r\n" + m }
	s.send("a1 APPEND INBOX (\\Seen) " + lit(m1) + " ($x) \"01-Feb-2024 10:00:00 +0000\" " + lit(m2) + "\r\n")
	uv := e.uidValidity(t, "INBOX")
	s.expect("a1", "a1 OK [APPENDUID "+uv+" 1:2] APPEND completed")
	s.do("a2 STATUS INBOX (MESSAGES UIDNEXT)", "* STATUS INBOX (MESSAGES 2 UIDNEXT 3)", "a2 OK STATUS completed")
	// A bad flag in the second message: nothing of the set is stored.
	s.send("a3 APPEND INBOX " + lit(m1) + " (\\Bogus) " + lit(m2) + "\r\n")
	s.expect("a3", `a3 BAD unknown system flag \Bogus`)
	// Together over the quota: nothing stored, though the first fits.
	big := "Subject: big\r\n\r\n" + strings.Repeat("x", 2100) + "\r\n"
	s.send("a4 APPEND INBOX " + lit(big) + " " + lit(big) + "\r\n")
	s.expect("a4", "a4 NO [OVERQUOTA] quota exceeded: storage limit 4K reached (38B used)")
	s.do("a5 STATUS INBOX (MESSAGES UIDNEXT)", "* STATUS INBOX (MESSAGES 2 UIDNEXT 3)", "a5 OK STATUS completed")
	s.selectInbox("s0")
	s.do("a6 FETCH 1 FLAGS", `* 1 FETCH (FLAGS (\Seen \Recent))`, "a6 OK FETCH completed")
	s.do("a7 FETCH 2 (FLAGS INTERNALDATE)", `* 2 FETCH (FLAGS (\Recent $x) INTERNALDATE "01-Feb-2024 10:00:00 +0000")`, "a7 OK FETCH completed")
}
