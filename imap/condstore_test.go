package imap

import (
	"testing"

	"github.com/storaged/storaged/folder"
)

// RFC 7162 §3.1: MODSEQ per message, HIGHESTMODSEQ, CHANGEDSINCE,
// UNCHANGEDSINCE with MODIFIED, SEARCH MODSEQ, and MODSEQ in every FETCH
// with FLAGS once enabled, unsolicited ones included.
func TestCondstore(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 3; i++ {
		fetchTestAppend(t, e, "Subject: c\r\n\r\nbody\r\n", folder.Flags{}, fetchDate)
	}
	s := e.dial(t)
	s.login()
	s.do("a1 STATUS Sent (HIGHESTMODSEQ MESSAGES)", "* STATUS Sent (HIGHESTMODSEQ 1 MESSAGES 0)", "a1 OK STATUS completed")
	s.do("a2 STATUS INBOX (HIGHESTMODSEQ)", "* STATUS INBOX (HIGHESTMODSEQ 4)", "a2 OK STATUS completed")
	uv := e.uidValidity(t, "INBOX")
	s.do("a3 SELECT INBOX (CONDSTORE)",
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)`, "* 3 EXISTS", "* 3 RECENT",
		"* OK [UNSEEN 1] first unseen", "* OK [UIDVALIDITY "+uv+"] UIDs valid", "* OK [UIDNEXT 4] predicted next UID",
		"* OK [HIGHESTMODSEQ 4] highest",
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] flags permitted`,
		"a3 OK [READ-WRITE] SELECT completed")
	s.do("a4 FETCH 1:* (UID MODSEQ)", "* 1 FETCH (UID 1 MODSEQ (2))", "* 2 FETCH (UID 2 MODSEQ (3))", "* 3 FETCH (UID 3 MODSEQ (4))", "a4 OK FETCH completed")
	// Each change takes a new MODSEQ; FLAGS brings MODSEQ along.
	s.do(`a5 STORE 2 +FLAGS (\Flagged)`, `* 2 FETCH (FLAGS (\Flagged \Recent) MODSEQ (5))`, "a5 OK STORE completed")
	s.do(`a6 STORE 3 +FLAGS.SILENT (\Seen)`, "* 3 FETCH (MODSEQ (6))", "a6 OK STORE completed")
	s.do("a7 FETCH 1:* (FLAGS) (CHANGEDSINCE 4)", `* 2 FETCH (FLAGS (\Flagged \Recent) MODSEQ (5))`, `* 3 FETCH (FLAGS (\Seen \Recent) MODSEQ (6))`, "a7 OK FETCH completed")
	s.do("a8 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5)", `* 3 FETCH (UID 3 FLAGS (\Seen \Recent) MODSEQ (6))`, "a8 OK FETCH completed")
	s.do("a9 FETCH 1:* (FLAGS) (CHANGEDSINCE 6)", "a9 OK FETCH completed")
	// UNCHANGEDSINCE: message 2 changed after 4, message 1 did not.
	s.do(`b1 STORE 1:2 (UNCHANGEDSINCE 4) +FLAGS (\Answered)`, `* 1 FETCH (FLAGS (\Answered \Recent) MODSEQ (7))`, "b1 OK [MODIFIED 2] conditional STORE failed")
	s.do(`b2 UID STORE 1:3 (UNCHANGEDSINCE 6) +FLAGS.SILENT (\Draft)`, "* 2 FETCH (UID 2 MODSEQ (8))", "* 3 FETCH (UID 3 MODSEQ (9))", "b2 OK [MODIFIED 1] conditional STORE failed")
	s.do(`b3 STORE 1 (UNCHANGEDSINCE 0) +FLAGS (\Deleted)`, "b3 OK [MODIFIED 1] conditional STORE failed")
	// SEARCH MODSEQ: at or above; the result tells the highest.
	s.do("c1 SEARCH MODSEQ 8", "* SEARCH 2 3 (MODSEQ 9)", "c1 OK SEARCH completed")
	s.do(`c2 SEARCH MODSEQ "/flags/\\draft" all 10`, "* SEARCH", "c2 OK SEARCH completed")
	s.do("c3 SEARCH RETURN (MIN) MODSEQ 1", "* ESEARCH (TAG \"c3\") MIN 1 MODSEQ 7", "c3 OK SEARCH completed")
	s.do("c4 SEARCH RETURN (MIN MAX) MODSEQ 1", "* ESEARCH (TAG \"c4\") MIN 1 MAX 3 MODSEQ 9", "c4 OK SEARCH completed")
	s.do("c5 UID SEARCH RETURN (COUNT) MODSEQ 8", "* ESEARCH (TAG \"c5\") UID COUNT 2 MODSEQ 9", "c5 OK SEARCH completed")
	// Another session's change comes with MODSEQ; an expunge takes one too.
	s2 := e.dial(t)
	s2.login()
	s2.selectInbox("x0")
	s2.do(`x1 STORE 1 -FLAGS.SILENT (\Answered)`, "x1 OK STORE completed")
	s2.do(`x2 STORE 3 +FLAGS.SILENT (\Deleted)`, "x2 OK STORE completed")
	s2.do("x3 EXPUNGE", "* 3 EXPUNGE", "x3 OK EXPUNGE completed")
	s.do("d1 NOOP", "* 3 EXPUNGE", `* 1 FETCH (UID 1 FLAGS (\Recent) MODSEQ (10))`, "d1 OK NOOP completed")
	s.do("d2 STATUS INBOX (HIGHESTMODSEQ)", "* STATUS INBOX (HIGHESTMODSEQ 12)", "d2 OK STATUS completed")
}

// The first enabling command in a selected mailbox tells HIGHESTMODSEQ
// (RFC 7162 §3.1); ENABLE CONDSTORE turns it on for the next SELECT.
func TestCondstoreEnabling(t *testing.T) {
	e := newEnv(t)
	fetchTestAppend(t, e, "Subject: c\r\n\r\nbody\r\n", folder.Flags{}, fetchDate)
	s := e.dial(t)
	s.login()
	s.selectInbox("a0")
	s.do("a1 FETCH 1 FLAGS", `* 1 FETCH (FLAGS (\Recent))`, "a1 OK FETCH completed")
	s.do("a2 FETCH 1 MODSEQ", "* OK [HIGHESTMODSEQ 2] highest", "* 1 FETCH (MODSEQ (2))", "a2 OK FETCH completed")
	s.do("a3 FETCH 1 FLAGS", `* 1 FETCH (FLAGS (\Recent) MODSEQ (2))`, "a3 OK FETCH completed")
	s.do("a4 FETCH 1 MODSEQ", "* 1 FETCH (MODSEQ (2))", "a4 OK FETCH completed")

	s2 := e.dial(t)
	s2.login()
	s2.do("b1 ENABLE CONDSTORE", "* ENABLED CONDSTORE", "b1 OK ENABLE completed")
	s2.do("b2 ENABLE CONDSTORE", "* ENABLED", "b2 OK ENABLE completed")
	s2.send("b3 EXAMINE INBOX\r\n")
	found := false
	for l := s2.line(); l != "b3 OK [READ-ONLY] EXAMINE completed"; l = s2.line() {
		found = found || l == "* OK [HIGHESTMODSEQ 2] highest"
	}
	if !found {
		t.Fatal("EXAMINE after ENABLE CONDSTORE without HIGHESTMODSEQ")
	}
}
