package imap

import (
	"strings"
	"testing"

	"github.com/storaged/storaged/folder"
)

// selectInbox selects INBOX and skips its untagged data.
func (s *session) selectInbox(tag string) {
	s.t.Helper()
	s.send(tag + " SELECT INBOX\r\n")
	for l := s.line(); !strings.HasPrefix(l, tag+" "); l = s.line() {
	}
}

func TestStore(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 3; i++ {
		e.appendMsg(t, "INBOX", msg1, folder.Flags{})
	}
	s := e.dial(t)
	s.login()
	s.selectInbox("a0")
	s.do(`a1 STORE 1 +FLAGS (\Seen)`, `* 1 FETCH (FLAGS (\Seen \Recent))`, "a1 OK STORE completed")
	s.do(`a2 UID STORE 2:3 FLAGS.SILENT (\Flagged)`, "a2 OK STORE completed")
	s.do(`a3 STORE 1:* -FLAGS \Recent`, `* 1 FETCH (FLAGS (\Seen \Recent))`, `* 2 FETCH (FLAGS (\Flagged \Recent))`,
		`* 3 FETCH (FLAGS (\Flagged \Recent))`, "a3 OK STORE completed")
	// A keyword used for the first time is announced in FLAGS and
	// PERMANENTFLAGS before a FETCH shows it (RFC 3501 §7.2.6).
	s.do(`a4 UID STORE 1 +FLAGS ($Junk)`,
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Junk)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Junk \*)] flags permitted`,
		`* 1 FETCH (UID 1 FLAGS (\Seen \Recent $Junk))`, "a4 OK STORE completed")
	s.do(`a5 STORE 1 +FLAGS ($junk)`, `* 1 FETCH (FLAGS (\Seen \Recent $Junk))`, "a5 OK STORE completed")
	s.do(`a6 STORE 4 +FLAGS (\Seen)`, "a6 BAD invalid message sequence number 4")
	s.do(`a7 STORE 1 +FLAGS (\Bogus)`, `a7 BAD unknown system flag \Bogus`)

	// Another session sees the change at its next command, and the new
	// keyword first.
	s2 := e.dial(t)
	s2.login()
	s2.send("b0 EXAMINE INBOX\r\n")
	s2.expect("examine", `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Junk)`)
	for l := s2.line(); !strings.HasPrefix(l, "b0 "); l = s2.line() {
	}
	s2.do(`b1 STORE 1 +FLAGS (\Deleted)`, `b1 NO [READ-ONLY] the mailbox is read-only (EXAMINE)`)
	s.do(`a9 STORE 2 +FLAGS (Work)`,
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Junk Work)`,
		`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft $Junk Work \*)] flags permitted`,
		`* 2 FETCH (FLAGS (\Flagged \Recent Work))`, "a9 OK STORE completed")
	s2.do("b2 NOOP",
		`* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Junk Work)`,
		`* OK [PERMANENTFLAGS ()] read-only mailbox`,
		`* 2 FETCH (UID 2 FLAGS (\Flagged Work))`, "b2 OK NOOP completed")
}

func TestExpungeAndUIDExpunge(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 4; i++ {
		e.appendMsg(t, "INBOX", msg1, folder.Flags{Sys: folder.Deleted})
	}
	s := e.dial(t)
	s.login()
	s.selectInbox("a0")
	s2 := e.dial(t)
	s2.login()
	s2.selectInbox("b0")
	s.do("a1 UID EXPUNGE 2:3", "* 2 EXPUNGE", "* 2 EXPUNGE", "a1 OK EXPUNGE completed")
	// The other session learns of it, but not during a FETCH, STORE or
	// SEARCH by sequence number (RFC 9051 §7.5.1).
	s2.do(`b1 STORE 1 -FLAGS (\Deleted)`, `* 1 FETCH (FLAGS ())`, "b1 OK STORE completed")
	s2.do("b2 NOOP", "* 2 EXPUNGE", "* 2 EXPUNGE", "b2 OK NOOP completed")
	// b1's flag change reaches this session after the EXPUNGE.
	s.do("a2 EXPUNGE", "* 2 EXPUNGE", `* 1 FETCH (UID 1 FLAGS (\Recent))`, "a2 OK EXPUNGE completed")
	s.do("a3 EXPUNGE", "a3 OK EXPUNGE completed")
}

func TestCopyMove(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 3; i++ {
		e.appendMsg(t, "INBOX", msg1, folder.Flags{})
	}
	uvArchive := e.uidValidity(t, "Archive")
	s := e.dial(t)
	s.login()
	s.selectInbox("a0")
	s.do("a1 COPY 1:2 Archive", "a1 OK [COPYUID "+uvArchive+" 1:2 1:2] COPY completed")
	s.do("a2 COPY 1 Nowhere", "a2 NO [TRYCREATE] no such mailbox")
	s.do("a3 UID MOVE 2 Archive", "* OK [COPYUID "+uvArchive+" 2 3] moved", "* 2 EXPUNGE", "a3 OK MOVE completed")
	// UIDs no longer in the mailbox: OK, nothing copied.
	s.do("a4 UID COPY 2 Archive", "a4 OK COPY completed")
	s.do("a5 UID MOVE 1,3 Archive", "* OK [COPYUID "+uvArchive+" 1,3 4:5] moved", "* 1 EXPUNGE", "* 1 EXPUNGE", "a5 OK MOVE completed")
	s.do("a6 STATUS Archive (MESSAGES)", "* STATUS Archive (MESSAGES 5)", "a6 OK STATUS completed")
}

func TestAppend(t *testing.T) {
	e := newEnv(t)
	uv := e.uidValidity(t, "INBOX")
	s := e.dial(t)
	s.login()
	m := "Subject: hi\r\n\r\nhello\r\n"
	s.send(`a1 APPEND INBOX (\Seen) "01-Feb-2024 10:00:00 +0100" {` + itoa(uint32(len(m))) + "}\r\n")
	s.expect("literal", "+ Ready for literal data")
	s.send(m + "\r\n")
	s.expect("append", "a1 OK [APPENDUID "+uv+" 1] APPEND completed")
	s.do("a2 APPEND Nowhere {1+}\r\nx", "a2 NO [TRYCREATE] no such mailbox")
	s.do("a3 APPEND INBOX {0+}\r\n", "a3 NO an empty message cannot be stored")
	s.do("a4 APPEND INBOX (\\Bogus) {1+}\r\nx", `a4 BAD unknown system flag \Bogus`)
	// A selected session sees its own APPEND at once.
	s.selectInbox("a5")
	s.do("a6 APPEND INBOX {1+}\r\nx", "* 2 EXISTS", "* 2 RECENT", "a6 OK [APPENDUID "+uv+" 2] APPEND completed")
	s.do("a7 STATUS INBOX (MESSAGES UNSEEN)", "* STATUS INBOX (MESSAGES 2 UNSEEN 1)", "a7 OK STATUS completed")
}

// An APPEND over the limit is refused before its octets come, and the
// octets of a non-synchronising one never run as commands.
func TestAppendTooBig(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.login()
	s.do("a1 APPEND INBOX {67108865}", "a1 NO [TOOBIG] message exceeds the APPENDLIMIT")
	s.send("a2 APPEND INBOX {2147483648+}\r\nX-Atk: CREATE Smuggled\r\n")
	if l := s.line(); !strings.HasPrefix(l, "* BYE ") {
		t.Fatalf("huge non-synchronising literal: %q", l)
	}
	s.closed()
	s = e.dial(t)
	s.login()
	s.do(`a3 LIST "" Smuggled`, "a3 OK LIST completed")
}

func TestIdle(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.login()
	s.selectInbox("a0")
	s.send("a1 IDLE\r\n")
	s.expect("idle", "+ idling")
	e.appendMsg(t, "INBOX", msg1, folder.Flags{})
	s.expect("delivery", "* 1 EXISTS", "* 1 RECENT")
	s.send("done\r\n")
	s.expect("done", "a1 OK IDLE completed")
	// Bytes after DONE are the next command.
	s.send("a2 IDLE\r\nDONE\r\na3 NOOP\r\n")
	s.expect("idle twice", "+ idling", "a2 OK IDLE completed", "a3 OK NOOP completed")
	s.send("a4 IDLE\r\n")
	s.expect("idle", "+ idling")
	s.send("NOOP\r\n")
	s.expect("not done", "a4 BAD expected DONE")
	// IDLE is allowed when authenticated too (RFC 2177).
	s.do("a5 UNSELECT", "a5 OK UNSELECT completed")
	s.send("a6 IDLE\r\nDONE\r\n")
	s.expect("auth idle", "+ idling", "a6 OK IDLE completed")
	// Shutdown during IDLE: BYE.
	s.selectInbox("a7")
	s.send("a8 IDLE\r\n")
	s.expect("idle", "+ idling")
	go e.srv.Shutdown()
	s.expect("shutdown", "* BYE server shutting down")
	s.closed()
}
