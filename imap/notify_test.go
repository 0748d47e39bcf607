package imap

import (
	"context"
	"strings"
	"testing"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/store"
)

// RFC 5465 §3.1, §5, §6.1: what NOTIFY refuses, and that a refused NOTIFY
// leaves the previous one in effect.
func TestNotifyErrors(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.do("a0 NOTIFY NONE", "a0 BAD NOTIFY is not valid in this state")
	s.login()
	const badEvent = "NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange)] unsupported NOTIFY event"
	for _, tc := range [][2]string{
		{"NOTIFY SET (selected (MessageNew))", "BAD MessageNew and MessageExpunge go together"},
		{"NOTIFY SET (selected-delayed (MessageExpunge))", "BAD MessageNew and MessageExpunge go together"},
		{"NOTIFY SET (selected (FlagChange))", "BAD FlagChange needs MessageNew and MessageExpunge"},
		{"NOTIFY SET (selected (MessageNew MessageExpunge MailboxName))", "BAD only message events go with SELECTED"},
		{"NOTIFY SET (selected NONE) (selected-delayed NONE)", "BAD NOTIFY names the selected mailbox twice"},
		{"NOTIFY SET (personal (MessageNew (UID) MessageExpunge))", "BAD MessageNew fetch attributes go with SELECTED and SELECTED-DELAYED only"},
		{"NOTIFY SET (selected (MessageNew (EMAILID) MessageExpunge))", "BAD unsupported FETCH item EMAILID"},
		{"NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))", badEvent},
		{"NOTIFY SET (personal (MailboxName X-Future))", badEvent},
		{"NOTIFY SET (personal (MessageNew) extra)", "BAD unexpected argument"},
		{"NOTIFY SET (mailboxes (MessageNew))", "BAD expected NOTIFY events or NONE"},
	} {
		s.do("b1 "+tc[0], "b1 "+tc[1])
	}
	// A refused NOTIFY changes nothing: the one before stays.
	s.do("c1 NOTIFY SET (mailboxes Work (MailboxName))", "c1 OK NOTIFY completed")
	s.do("c2 NOTIFY SET (personal (X-Future))", "c2 "+badEvent)
	s.do("c3 CREATE Work", "* LIST (\\HasNoChildren) \"/\" Work", "c3 OK CREATE completed")
	s.do("c4 NOTIFY NONE", "c4 OK NOTIFY completed")
	s.do("c5 DELETE Work", "c5 OK DELETE completed")
}

// NOTIFY SET STATUS: a STATUS for each watched mailbox but the selected
// one (imaptest's notify group asks these items).
func TestNotifyInitialStatus(t *testing.T) {
	e := newEnv(t)
	e.appendMsg(t, "INBOX", msg1, folder.Flags{})
	e.appendMsg(t, "Sent", msg1, folder.Flags{Sys: folder.Seen})
	s := e.dial(t)
	s.login()
	uvSent, uvInbox := e.uidValidity(t, "Sent"), e.uidValidity(t, "INBOX")
	s.do("a1 NOTIFY SET STATUS (mailboxes (Sent INBOX Nowhere) (MessageExpunge))",
		"* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY "+uvInbox+" UNSEEN 1)",
		"* STATUS Sent (MESSAGES 1 UIDNEXT 2 UIDVALIDITY "+uvSent+" UNSEEN 0)",
		"a1 OK NOTIFY completed")
	s.do("a2 NOTIFY SET STATUS (mailboxes Sent (FlagChange))",
		"* STATUS Sent (MESSAGES 1 UIDNEXT 2 UIDVALIDITY "+uvSent+" UNSEEN 0 HIGHESTMODSEQ 2)",
		"a2 OK NOTIFY completed")
	// Without STATUS, or without message events: none.
	s.do("a3 NOTIFY SET (mailboxes Sent (MessageNew MessageExpunge FlagChange))", "a3 OK NOTIFY completed")
	s.do("a4 NOTIFY SET STATUS (personal (MailboxName))", "a4 OK NOTIFY completed")
	// The selected mailbox is the selected filters', not STATUS's.
	s.selectInbox("a5")
	s.do("a6 NOTIFY SET STATUS (subtree INBOX (MessageNew MessageExpunge)) (subscribed (MessageNew MessageExpunge))",
		"* STATUS Archive (MESSAGES 0 UIDNEXT 1 UIDVALIDITY "+e.uidValidity(t, "Archive")+" UNSEEN 0)",
		"* STATUS Drafts (MESSAGES 0 UIDNEXT 1 UIDVALIDITY "+e.uidValidity(t, "Drafts")+" UNSEEN 0)",
		"* STATUS Junk (MESSAGES 0 UIDNEXT 1 UIDVALIDITY "+e.uidValidity(t, "Junk")+" UNSEEN 0)",
		"* STATUS Sent (MESSAGES 1 UIDNEXT 2 UIDVALIDITY "+uvSent+" UNSEEN 0)",
		"* STATUS Trash (MESSAGES 0 UIDNEXT 1 UIDVALIDITY "+e.uidValidity(t, "Trash")+" UNSEEN 0)",
		"a6 OK NOTIFY completed")
}

// Another session's changes reach a NOTIFY session without its asking,
// while it waits between commands: the selected mailbox's EXISTS, FETCH
// (MessageNew's items) and EXPUNGE, other mailboxes' STATUS, LIST for
// CREATE, SUBSCRIBE, RENAME and DELETE, METADATA for SETMETADATA.
func TestNotifyPushes(t *testing.T) {
	e := newEnv(t)
	e.appendMsg(t, "INBOX", msg1, folder.Flags{})
	a := e.dial(t)
	a.login()
	a.selectInbox("a0")
	b := e.dial(t)
	b.login()
	a.do("a1 NOTIFY SET (selected (MessageNew (UID FLAGS RFC822.SIZE) MessageExpunge FlagChange)) "+
		"(personal (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange))",
		"a1 OK NOTIFY completed")

	// The selected mailbox: pushed as it happens.
	b.appendOK("b1", "INBOX", msg1)
	a.expect("push EXISTS", "* 2 EXISTS", "* 2 RECENT", `* 2 FETCH (UID 2 FLAGS (\Recent) RFC822.SIZE 43)`)
	b.selectInbox("b2")
	b.do(`b3 STORE 1 +FLAGS.SILENT (\Flagged)`, "b3 OK STORE completed")
	a.expect("push FLAGS", `* 1 FETCH (UID 1 FLAGS (\Flagged \Recent))`)
	b.do(`b4 STORE 2 +FLAGS.SILENT (\Deleted)`, "b4 OK STORE completed")
	a.expect("push FLAGS", `* 2 FETCH (UID 2 FLAGS (\Deleted \Recent))`)
	b.do("b5 EXPUNGE", "* 2 EXPUNGE", "b5 OK EXPUNGE completed")
	a.expect("push EXPUNGE", "* 2 EXPUNGE")

	// Other mailboxes and the account.
	b.do("c1 CREATE Work", "c1 OK CREATE completed")
	a.expect("push CREATE", `* LIST (\HasNoChildren) "/" Work`)
	b.do("c1b CREATE Work/Notes", "c1b OK CREATE completed")
	a.expect("push CREATE", `* LIST (\HasNoChildren) "/" Work/Notes`)
	b.appendOK("c2", "Work", msg1)
	a.expect("push APPEND", "* STATUS Work (MESSAGES 1 UIDNEXT 2 UNSEEN 1)")
	b.do("c3 SUBSCRIBE Work", "c3 OK SUBSCRIBE completed")
	a.expect("push SUBSCRIBE", `* LIST (\Subscribed \HasChildren) "/" Work`)
	b.do("c4 UNSUBSCRIBE Gone", "c4 OK UNSUBSCRIBE completed")
	a.expect("push UNSUBSCRIBE", `* LIST (\NonExistent) "/" Gone`)
	b.do("c5 RENAME Work Job", "c5 OK RENAME completed")
	a.expect("push RENAME", `* LIST (\HasChildren) "/" Job ("OLDNAME" (Work))`, `* LIST (\HasNoChildren) "/" Job/Notes ("OLDNAME" (Work/Notes))`)
	b.do(`c6 SETMETADATA Job (/private/comment "x" /private/a "y")`, "c6 OK SETMETADATA completed")
	a.expect("push METADATA", "* METADATA Job /private/a /private/comment")
	b.do(`c7 SETMETADATA "" (/private/comment "server")`, "c7 OK SETMETADATA completed")
	a.expect("push server METADATA", `* METADATA "" /private/comment`)
	b.send("c8 SELECT Job\r\n")
	b.until("c8 OK")
	b.do(`c9 STORE 1 +FLAGS.SILENT (\Seen)`, "c9 OK STORE completed")
	a.expect("push flags elsewhere", "* STATUS Job (UNSEEN 0)")
	b.do(`c10 STORE 1 +FLAGS.SILENT (\Deleted)`, "c10 OK STORE completed")
	a.expect("push flags elsewhere", "* STATUS Job (UNSEEN 0)")
	b.do("c11 EXPUNGE", "* 1 EXPUNGE", "c11 OK EXPUNGE completed")
	a.expect("push expunge elsewhere", "* STATUS Job (MESSAGES 0 UIDNEXT 2 UNSEEN 0)")
	b.do("c12 UNSELECT", "c12 OK UNSELECT completed")
	b.do("c13 DELETE Job/Notes", "c13 OK DELETE completed")
	a.expect("push DELETE", `* LIST (\NonExistent) "/" Job/Notes`)

	// Its own commands are told as well, after their untagged data.
	a.do("d1 CREATE Mine", `* LIST (\HasNoChildren) "/" Mine`, "d1 OK CREATE completed")
	// NOTIFY NONE: nothing more.
	a.do("d2 NOTIFY NONE", "d2 OK NOTIFY completed")
	b.do("d3 CREATE Other", "d3 OK CREATE completed")
	b.appendOK("d4", "INBOX", msg1)
	a.do("d5 NOOP", "* 2 EXISTS", "* 2 RECENT", "d5 OK NOOP completed")
}

// Without a selected filter the selected mailbox is as without NOTIFY
// (told after a command only); with SELECTED-DELAYED new messages are
// pushed and EXPUNGEs (VANISHED with QRESYNC) wait for a command that may
// carry them; with SELECTED they are pushed too.
func TestNotifySelectedFilters(t *testing.T) {
	e := newEnv(t)
	e.appendMsg(t, "INBOX", msg1, folder.Flags{})
	e.appendMsg(t, "INBOX", msg1, folder.Flags{})
	a := e.dial(t)
	a.login()
	a.do("a0 ENABLE QRESYNC", "* ENABLED QRESYNC", "a0 OK ENABLE completed")
	a.selectInbox("a0")
	// Changes to Sent are the marker: they come after INBOX's in the
	// hub, so anything INBOX pushed would come before them.
	a.do("a1 NOTIFY SET (mailboxes Sent (MessageNew MessageExpunge))", "a1 OK NOTIFY completed")
	e.appendMsg(t, "INBOX", msg1, folder.Flags{})
	e.appendMsg(t, "Sent", msg1, folder.Flags{})
	a.expect("only Sent", "* STATUS Sent (MESSAGES 1 UIDNEXT 2 UNSEEN 1 HIGHESTMODSEQ 2)")
	a.do("a2 NOOP", "* 3 EXISTS", "* 3 RECENT", "a2 OK NOOP completed")

	a.do("a3 NOTIFY SET (selected-delayed (MessageNew MessageExpunge)) (mailboxes Sent (MessageNew MessageExpunge))", "a3 OK NOTIFY completed")
	b := e.dial(t)
	b.login()
	b.selectInbox("b0")
	b.do(`b1 STORE 1 +FLAGS.SILENT (\Deleted)`, "b1 OK STORE completed")
	b.do("b2 EXPUNGE", "* 1 EXPUNGE", "b2 OK EXPUNGE completed")
	e.appendMsg(t, "INBOX", msg1, folder.Flags{})
	e.appendMsg(t, "Sent", msg1, folder.Flags{})
	// The new message is pushed, its \Deleted flag (no FlagChange) and
	// the expunge are not.
	a.expect("delayed", "* 4 EXISTS", "* 4 RECENT", "* STATUS Sent (MESSAGES 2 UIDNEXT 3 UNSEEN 2 HIGHESTMODSEQ 3)")
	// Gone, not yet reported: FETCH leaves it out (RFC 9051 §7.5.1).
	a.do("a4 FETCH 1 UID", "a4 OK FETCH completed")
	a.do("a5 NOOP", "* VANISHED 1", "a5 OK NOOP completed")

	a.do("a6 NOTIFY SET (selected (MessageNew MessageExpunge)) (mailboxes Sent (MessageNew MessageExpunge))", "a6 OK NOTIFY completed")
	b.send("b3 STORE 1 +FLAGS.SILENT (\\Deleted)\r\n")
	b.until("b3 OK")
	b.send("b4 EXPUNGE\r\n")
	b.until("b4 OK")
	a.expect("selected", "* VANISHED 2")
}

// NOTIFY during IDLE: other mailboxes' notifications come as they do
// between commands; and when the hub drops changes, NOTIFICATIONOVERFLOW
// and NOTIFY is off.
func TestNotifyIdleAndOverflow(t *testing.T) {
	e := newEnv(t)
	a := e.dial(t)
	a.login()
	a.selectInbox("a0")
	b := e.dial(t)
	b.login()
	a.do("a1 NOTIFY SET (personal (MessageNew MessageExpunge MailboxName))", "a1 OK NOTIFY completed")
	a.send("a2 IDLE\r\n")
	a.expect("idle", "+ idling")
	b.appendOK("b1", "Junk", msg1)
	a.expect("idle STATUS", "* STATUS Junk (MESSAGES 1 UIDNEXT 2 UNSEEN 1)")
	b.appendOK("b2", "INBOX", msg1)
	a.expect("idle EXISTS", "* 1 EXISTS", "* 1 RECENT")
	a.send("DONE\r\n")
	a.expect("done", "a2 OK IDLE completed")

	acct, err := e.accounts.Open(context.Background(), "u")
	if err != nil {
		t.Fatal(err)
	}
	junk, err := acct.Mailbox("Junk")
	if err != nil {
		t.Fatal(err)
	}
	// More changes than the hub keeps for a subscriber, while the session
	// reads an APPEND's literal and so takes none of them.
	a.send("a3 APPEND Junk {" + itoa(uint32(len(msg1))) + "}\r\n")
	a.expect("literal", "+ Ready for literal data")
	for i := 0; i < 5000; i++ {
		acct.Hub().Publish(store.Event{Mailbox: junk.ID(), Kind: store.Added, UIDs: []uint32{1}})
	}
	b.do("b3 CREATE Later", "b3 OK CREATE completed")
	a.send(msg1 + "\r\n")
	a.expect("overflow", "* OK [NOTIFICATIONOVERFLOW] too many changes at once; NOTIFY is off",
		"a3 OK [APPENDUID "+e.uidValidity(t, "Junk")+" 2] APPEND completed")
	// NOTIFY is off.
	b.do("b4 CREATE Unseen", "b4 OK CREATE completed")
	a.do("a4 NOOP", "a4 OK NOOP completed")
}

// appendSelected APPENDs to the selected mailbox: its EXISTS comes
// before the tagged OK.
func (s *session) appendSelected(tag, mailbox, msg string) {
	s.t.Helper()
	s.send(tag + " APPEND " + mailbox + " {" + itoa(uint32(len(msg))) + "+}\r\n" + msg + "\r\n")
	lines := s.until(tag + " ")
	if l := lines[len(lines)-1]; !strings.HasPrefix(l, tag+" OK [APPENDUID ") {
		s.t.Fatalf("APPEND: %q", l)
	}
}
