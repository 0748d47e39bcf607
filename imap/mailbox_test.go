package imap

import (
	"testing"

	"github.com/storaged/storaged/folder"
)

const msg1 = "From: a@example.org\r\nSubject: one\r\n\r\nbody\r\n"

func TestSelectExamine(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.login()
	e.appendMsg(t, "INBOX", msg1, folder.Flags{Sys: folder.Seen})
	e.appendMsg(t, "INBOX", msg1, folder.Flags{})
	uv := e.uidValidity(t, "INBOX")
	s.do("a1 SELECT inbox",
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)`,
		"* 2 EXISTS",
		"* 2 RECENT",
		"* OK [UNSEEN 2] first unseen",
		"* OK [UIDVALIDITY "+uv+"] UIDs valid",
		"* OK [UIDNEXT 3] predicted next UID",
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft \*)] flags permitted`,
		"a1 OK [READ-WRITE] SELECT completed")
	// A second session: \Recent went to the first (RFC 3501 §2.3.2), and
	// EXAMINE reports RECENT too.
	s2 := e.dial(t)
	s2.login()
	s2.do("b1 EXAMINE INBOX",
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)`,
		"* 2 EXISTS",
		"* 0 RECENT",
		"* OK [UNSEEN 2] first unseen",
		"* OK [UIDVALIDITY "+uv+"] UIDs valid",
		"* OK [UIDNEXT 3] predicted next UID",
		"* OK [PERMANENTFLAGS ()] read-only mailbox",
		"b1 OK [READ-ONLY] EXAMINE completed")
	// A delivery reaches both at their next command.
	e.appendMsg(t, "INBOX", msg1, folder.Flags{})
	s.do("a2 NOOP", "* 3 EXISTS", "* 3 RECENT", "a2 OK NOOP completed")
	s2.do("b2 NOOP", "* 3 EXISTS", "* 0 RECENT", "b2 OK NOOP completed")
	// A failed SELECT leaves the session unselected (RFC 9051 §6.3.2).
	s.do("a3 SELECT nosuch", "a3 NO [NONEXISTENT] no such mailbox")
	s.do("a4 CLOSE", "a4 BAD CLOSE is not valid in this state")
	s.do("a5 SELECT INBOX (QRESYNC (1 1))", "a5 BAD QRESYNC needs ENABLE QRESYNC first")
}

func TestCloseExpungesOnlyReadWrite(t *testing.T) {
	e := newEnv(t)
	e.appendMsg(t, "INBOX", msg1, folder.Flags{Sys: folder.Deleted})
	e.appendMsg(t, "INBOX", msg1, folder.Flags{})
	s := e.dial(t)
	s.login()
	s.send("a1 EXAMINE INBOX\r\n")
	for s.line() != "a1 OK [READ-ONLY] EXAMINE completed" {
	}
	s.do("a2 CLOSE", "a2 OK CLOSE completed")
	s.do("a3 STATUS INBOX (MESSAGES DELETED)", "* STATUS INBOX (MESSAGES 2 DELETED 1)", "a3 OK STATUS completed")
	s.send("a4 SELECT INBOX\r\n")
	for s.line() != "a4 OK [READ-WRITE] SELECT completed" {
	}
	// CLOSE answers no EXPUNGE (RFC 9051 §6.4.1).
	s.do("a5 CLOSE", "a5 OK CLOSE completed")
	s.do("a6 STATUS INBOX (MESSAGES DELETED UIDNEXT)", "* STATUS INBOX (MESSAGES 1 DELETED 0 UIDNEXT 3)", "a6 OK STATUS completed")
	s.send("a7 SELECT INBOX\r\n")
	for s.line() != "a7 OK [READ-WRITE] SELECT completed" {
	}
	s.do("a8 UNSELECT", "a8 OK UNSELECT completed")
	s.do("a9 UNSELECT", "a9 BAD UNSELECT is not valid in this state")
}

func TestMailboxCommands(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.login()
	s.do("a1 CREATE Projects/", "a1 OK CREATE completed")
	s.do("a2 CREATE Projects", "a2 NO [ALREADYEXISTS] mailbox already exists")
	s.do("a3 CREATE inbox", "a3 NO [ALREADYEXISTS] INBOX always exists")
	s.do(`a4 CREATE Spam (USE (\Junk \Trash))`, "a4 NO [USEATTR] one special-use attribute per mailbox")
	s.do(`a5 CREATE Spam (USE (\Bogus))`, `a5 NO [USEATTR] unknown special-use attribute \Bogus`)
	s.do(`a6 CREATE Everything (USE (\All))`, "a6 OK CREATE completed")
	s.do("a7 RENAME Projects Work", "a7 OK RENAME completed")
	s.do("a8 STATUS Projects (MESSAGES)", "a8 NO [NONEXISTENT] no such mailbox")
	s.do("a9 STATUS Work (MESSAGES UIDNEXT UNSEEN SIZE)", "* STATUS Work (MESSAGES 0 UIDNEXT 1 UNSEEN 0 SIZE 0)", "a9 OK STATUS completed")
	s.do("b1 STATUS Work (MAILBOXID)", "b1 BAD unsupported STATUS item MAILBOXID")
	s.do("b2 DELETE Work", "b2 OK DELETE completed")
	s.do("b3 DELETE Work", "b3 NO [NONEXISTENT] no such mailbox")
	s.do("b4 SUBSCRIBE Nowhere", "b4 OK SUBSCRIBE completed")
	s.do("b5 UNSUBSCRIBE Nowhere", "b5 OK UNSUBSCRIBE completed")
	s.do("b6 NAMESPACE", `* NAMESPACE (("" "/")) NIL NIL`, "b6 OK NAMESPACE completed")
	// Names travel in modified UTF-7 (RFC 3501 §5.1.3); 8-bit and
	// invalid ones are refused with the connection kept.
	s.do("b7 CREATE Entw&APw-rfe", "b7 OK CREATE completed")
	s.do("b8 STATUS Entw&APw-rfe (MESSAGES)", "* STATUS Entw&APw-rfe (MESSAGES 0)", "b8 OK STATUS completed")
	s.do("b9 CREATE \"Entw\xc3\xbcrfe\"", "b9 BAD 8-bit mailbox names need ENABLE UTF8=ACCEPT; use modified UTF-7")
	s.do("c1 CREATE &Jjo", "c1 NO [CANNOT] mailbox name is not valid modified UTF-7")
	s.do("c2 CREATE ../x", "c2 NO [CANNOT] invalid mailbox name: '.' is not allowed")
	s.do("c3 NOOP", "c3 OK NOOP completed")
}
