package imap

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/message"
	"github.com/storaged/storaged/store"
)

// searchEnv is newEnv that also tells where u's mail lives.
func searchEnv(t *testing.T) (*testEnv, string) {
	e := newEnv(t)
	return e, e.mailDir
}

// searchAppend stores msg (LF line ends become CRLF) in INBOX with an
// INTERNALDATE.
func searchAppend(tb testing.TB, accounts *store.Accounts, msg string, flags folder.Flags, date time.Time) uint32 {
	tb.Helper()
	acct, err := accounts.Open(context.Background(), "u")
	if err != nil {
		tb.Fatal(err)
	}
	mb, err := acct.Mailbox("INBOX")
	if err != nil {
		tb.Fatal(err)
	}
	res, err := mb.Append(context.Background(), []byte(crlf(msg)), store.AppendOptions{Flags: flags, Date: date})
	if err != nil {
		tb.Fatal(err)
	}
	return res.UID
}

// lit is s as a non-synchronising literal (RFC 7888).
func lit(s string) string { return "{" + strconv.Itoa(len(s)) + "+}\r\n" + s }

func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

// searchSession is a logged-in session with INBOX selected, holding
// msgs appended in order.
func searchSession(t *testing.T, msgs ...string) (*testEnv, *session) {
	t.Helper()
	e := newEnv(t)
	for _, m := range msgs {
		searchAppend(t, e.accounts, m, folder.Flags{}, searchDate)
	}
	s := e.dial(t)
	s.login()
	s.selectInbox("s0")
	return e, s
}

var searchDate = time.Date(2008, 2, 22, 17, 6, 23, 0, time.FixedZone("", 2*3600))

// step is one command and the exact lines it answers.
type step struct {
	cmd  string
	want []string
}

func run(s *session, steps []step) {
	s.t.Helper()
	for i, st := range steps {
		tag := "a" + strconv.Itoa(i+1)
		want := make([]string, len(st.want))
		for j, w := range st.want {
			want[j] = strings.ReplaceAll(w, "%t", tag)
		}
		s.do(tag+" "+st.cmd, want...)
	}
}

// ok is a step answered by one untagged line and OK.
func ok(cmd, line string) step {
	return step{cmd, []string{line, "%t OK SEARCH completed"}}
}

// From imaptest's search-sets: sequence numbers and UIDs once they
// differ, "*", ranges written backwards, NOT, OR and groups.
func TestSearchSets(t *testing.T) {
	msgs := make([]string, 6)
	for i := range msgs {
		msgs[i] = fmt.Sprintf("Subject: %d\n\nbody\n", i+1)
	}
	_, s := searchSession(t, msgs...)
	s.do(`x1 STORE 2 +FLAGS.SILENT (\Deleted)`, "x1 OK STORE completed")
	s.do("x2 EXPUNGE", "* 2 EXPUNGE", "x2 OK EXPUNGE completed")
	// UIDs are 1 3 4 5 6 at sequence numbers 1 to 5; UIDNEXT is 7.
	run(s, []step{
		ok("SEARCH ALL", "* SEARCH 1 2 3 4 5"),
		ok("UID SEARCH ALL", "* SEARCH 1 3 4 5 6"),
		ok("SEARCH 1:3,5", "* SEARCH 1 2 3 5"),
		ok("SEARCH 4:2", "* SEARCH 2 3 4"),
		ok("SEARCH UID 1:3,5", "* SEARCH 1 2 4"),
		ok("SEARCH UID 4:2", "* SEARCH 2 3"),
		ok("SEARCH 1:3 NOT UID 3", "* SEARCH 1 3"),
		ok("SEARCH NOT 2,4", "* SEARCH 1 3 5"),
		ok("SEARCH OR 1 UID 3", "* SEARCH 1 2"),
		ok("SEARCH *", "* SEARCH 5"),
		ok("SEARCH UID *", "* SEARCH 5"),
		ok("SEARCH UID 7:*", "* SEARCH 5"),
		ok("SEARCH *:3", "* SEARCH 3 4 5"),
		ok("SEARCH 1,4,*", "* SEARCH 1 4 5"),
		ok("SEARCH (3) UID 4", "* SEARCH 3"),
		ok("SEARCH (UID 4) 3", "* SEARCH 3"),
		ok("SEARCH 3 (UID 4)", "* SEARCH 3"),
		ok("UID SEARCH UID 1:4294967295", "* SEARCH 1 3 4 5 6"),
		ok("UID SEARCH UID 7:4294967295", "* SEARCH"),
		// Numbers past EXISTS match nothing; "*" is still the last one
		// (Dovecot's reading; RFC 9051 leaves it open).
		ok("SEARCH 6:*", "* SEARCH 5"),
		ok("SEARCH 9", "* SEARCH"),
		ok("SEARCH 4:9", "* SEARCH 4 5"),
		ok("UID SEARCH 2 UID 3", "* SEARCH 3"),
		ok("SEARCH NOT NOT OR 1 OR 2 3", "* SEARCH 1 2 3"),
	})
}

// From imaptest's search-flags, plus KEYWORD case.
func TestSearchFlags(t *testing.T) {
	e := newEnv(t)
	for _, f := range []folder.Flags{
		{Keywords: []string{"$$hello"}},
		{Sys: folder.Seen | folder.Flagged},
		{Sys: folder.Answered, Keywords: []string{"$$hello"}},
		{Sys: folder.Flagged | folder.Draft},
		{Sys: folder.Deleted | folder.Answered},
	} {
		searchAppend(t, e.accounts, "Subject: x\n\nbody\n", f, searchDate)
	}
	s := e.dial(t)
	s.login()
	s.selectInbox("s0")
	run(s, []step{
		ok("SEARCH ANSWERED", "* SEARCH 3 5"),
		ok("SEARCH UNANSWERED", "* SEARCH 1 2 4"),
		ok("SEARCH DELETED", "* SEARCH 5"),
		ok("SEARCH UNDELETED", "* SEARCH 1 2 3 4"),
		ok("SEARCH DRAFT", "* SEARCH 4"),
		ok("SEARCH UNDRAFT", "* SEARCH 1 2 3 5"),
		ok("SEARCH FLAGGED", "* SEARCH 2 4"),
		ok("SEARCH UNFLAGGED", "* SEARCH 1 3 5"),
		ok("SEARCH SEEN", "* SEARCH 2"),
		ok("SEARCH UNSEEN", "* SEARCH 1 3 4 5"),
		ok("SEARCH KEYWORD $$hello", "* SEARCH 1 3"),
		ok("SEARCH KEYWORD $$HELLO", "* SEARCH 1 3"),
		ok("SEARCH UNKEYWORD $$hello", "* SEARCH 2 4 5"),
		ok("SEARCH KEYWORD nosuch", "* SEARCH"),
		// Not in the grammar, but go-imap's client sends it: the flag.
		ok("SEARCH KEYWORD \\Seen", "* SEARCH 2"),
		ok("SEARCH UNKEYWORD \\Flagged", "* SEARCH 1 3 5"),
		ok("SEARCH KEYWORD \\Recent", "* SEARCH 1 2 3 4 5"),
		ok("SEARCH NEW", "* SEARCH 1 3 4 5"),
		ok("SEARCH OLD", "* SEARCH"),
		ok("SEARCH RECENT", "* SEARCH 1 2 3 4 5"),
		{`STORE 1:* FLAGS.SILENT (\Seen)`, []string{"%t OK STORE completed"}},
		{`STORE 2 +FLAGS.SILENT (\Flagged)`, []string{"%t OK STORE completed"}},
		ok("SEARCH SEEN FLAGGED", "* SEARCH 2"),
		ok("SEARCH SEEN NOT FLAGGED", "* SEARCH 1 3 4 5"),
		ok("SEARCH NOT SEEN FLAGGED", "* SEARCH"),
		ok("SEARCH NOT SEEN NOT FLAGGED", "* SEARCH"),
		ok("SEARCH OR FLAGGED NOT SEEN", "* SEARCH 2"),
		ok("SEARCH NEW", "* SEARCH"),
	})
	// Another session sees none of them as \Recent.
	s2 := e.dial(t)
	s2.login()
	s2.selectInbox("s0")
	s2.do("b1 SEARCH RECENT", "* SEARCH", "b1 OK SEARCH completed")
	s2.do("b2 SEARCH OLD", "* SEARCH 1 2 3 4 5", "b2 OK SEARCH completed")
}

// From imaptest's search-size: RFC822.SIZE (CRLF octets), not the file
// size (Maildir keeps LF).
func TestSearchSize(t *testing.T) {
	hdr := "Date: Sat, 24 Mar 2007 23:00:00 +0200\n\n"
	_, s := searchSession(t, hdr+"1\n", hdr+"22\n", hdr+"333\n", hdr+"4\n4\n")
	size := strconv.Itoa(len(crlf(hdr + "333\n")))
	run(s, []step{
		ok("SEARCH SMALLER "+size, "* SEARCH 1 2"),
		ok("SEARCH LARGER "+size, "* SEARCH 4"),
		ok("SEARCH NOT SMALLER "+size, "* SEARCH 3 4"),
		ok("SEARCH NOT LARGER "+size, "* SEARCH 1 2 3"),
		ok("SEARCH NOT SMALLER "+size+" NOT LARGER "+size, "* SEARCH 3"),
		ok("SEARCH OR SMALLER "+size+" LARGER "+size, "* SEARCH 1 2 4"),
		ok("SEARCH LARGER 0", "* SEARCH 1 2 3 4"),
		ok("SEARCH SMALLER 0", "* SEARCH"),
	})
}

// From imaptest's search-date: SENT* keys take the day of the Date:
// header in its own zone, across both DST changes of 2007.
func TestSearchSentDate(t *testing.T) {
	dates := []string{
		"Sat, 24 Mar 2007 23:00:00 +0200", "Sun, 25 Mar 2007 00:00:00 +0200",
		"Sun, 25 Mar 2007 01:00:00 +0200", "Sun, 25 Mar 2007 02:00:00 +0200",
		"Sun, 25 Mar 2007 04:00:00 +0300", "Sun, 25 Mar 2007 23:00:00 +0300",
		"Mon, 26 Mar 2007 00:00:00 +0300", "Sat, 27 Oct 2007 03:00:00 +0300",
		"Sun, 28 Oct 2007 00:00:00 +0300", "Sun, 28 Oct 2007 01:00:00 +0300",
		"Sun, 28 Oct 2007 02:00:00 +0300", "Sun, 28 Oct 2007 03:00:00 +0300",
		"Sun, 28 Oct 2007 03:00:00 +0200", "Sun, 28 Oct 2007 04:00:00 +0200",
		"Sun, 28 Oct 2007 23:00:00 +0200", "Mon, 29 Oct 2007 00:00:00 +0200",
	}
	msgs := make([]string, len(dates))
	for i, d := range dates {
		msgs[i] = "Date: " + d + "\n\nbody\n"
	}
	_, s := searchSession(t, msgs...)
	run(s, []step{
		ok("SEARCH SENTBEFORE 24-mar-2007", "* SEARCH"),
		ok("SEARCH SENTBEFORE 25-mar-2007", "* SEARCH 1"),
		ok("SEARCH SENTBEFORE 26-mar-2007", "* SEARCH 1 2 3 4 5 6"),
		ok("SEARCH SENTBEFORE 27-mar-2007", "* SEARCH 1 2 3 4 5 6 7"),
		ok("SEARCH SENTON 23-mar-2007", "* SEARCH"),
		ok("SEARCH SENTON 24-mar-2007", "* SEARCH 1"),
		ok("SEARCH SENTON 25-mar-2007", "* SEARCH 2 3 4 5 6"),
		ok("SEARCH SENTON 26-mar-2007", "* SEARCH 7"),
		ok("SEARCH 1:7 SENTSINCE 24-mar-2007", "* SEARCH 1 2 3 4 5 6 7"),
		ok("SEARCH 1:7 SENTSINCE 25-mar-2007", "* SEARCH 2 3 4 5 6 7"),
		ok("SEARCH 1:7 SENTSINCE 26-mar-2007", "* SEARCH 7"),
		ok("SEARCH 1:7 SENTSINCE 27-mar-2007", "* SEARCH"),
		ok("SEARCH 8:* SENTBEFORE 27-oct-2007", "* SEARCH"),
		ok("SEARCH 8:* SENTBEFORE 28-oct-2007", "* SEARCH 8"),
		ok("SEARCH 8:* SENTBEFORE 29-oct-2007", "* SEARCH 8 9 10 11 12 13 14 15"),
		ok("SEARCH 8:* SENTBEFORE 30-oct-2007", "* SEARCH 8 9 10 11 12 13 14 15 16"),
		ok("SEARCH 8:* SENTON 26-oct-2007", "* SEARCH"),
		ok("SEARCH 8:* SENTON 27-oct-2007", "* SEARCH 8"),
		ok("SEARCH 8:* SENTON 28-oct-2007", "* SEARCH 9 10 11 12 13 14 15"),
		ok("SEARCH 8:* SENTON 29-oct-2007", "* SEARCH 16"),
		ok("SEARCH 8:* SENTSINCE 27-oct-2007", "* SEARCH 8 9 10 11 12 13 14 15 16"),
		ok("SEARCH 8:* SENTSINCE 28-oct-2007", "* SEARCH 9 10 11 12 13 14 15 16"),
		ok("SEARCH 8:* SENTSINCE 29-oct-2007", "* SEARCH 16"),
		ok("SEARCH 8:* SENTSINCE 30-oct-2007", "* SEARCH"),
		ok("SEARCH 1:7 NOT SENTBEFORE 26-mar-2007", "* SEARCH 7"),
		ok("SEARCH 1:7 NOT SENTON 25-mar-2007", "* SEARCH 1 7"),
		ok("SEARCH 8:* NOT SENTSINCE 28-oct-2007", "* SEARCH 8"),
		ok("SEARCH 8:* NOT SENTON 28-oct-2007", "* SEARCH 8 16"),
	})
}

// BEFORE, ON and SINCE take the INTERNALDATE's day as the message's own
// zone has it (RFC 9051 §6.4.4: "disregarding time and timezone"); a
// message without a usable Date: is SENT* by its INTERNALDATE.
func TestSearchInternalDate(t *testing.T) {
	e := newEnv(t)
	east := time.FixedZone("", 3*3600)
	west := time.FixedZone("", -8*3600)
	for _, d := range []time.Time{
		time.Date(2007, 3, 24, 23, 30, 0, 0, east), // 20:30 UTC on the 24th
		time.Date(2007, 3, 25, 1, 30, 0, 0, east),  // 22:30 UTC on the 24th
		time.Date(2007, 3, 25, 20, 0, 0, 0, west),  // 04:00 UTC on the 26th
		time.Date(2007, 3, 26, 0, 0, 0, 0, time.UTC),
	} {
		searchAppend(t, e.accounts, "Subject: no date\n\nbody\n", folder.Flags{}, d)
	}
	searchAppend(t, e.accounts, "Date: bogus\n\nbody\n", folder.Flags{}, time.Date(2007, 3, 26, 12, 0, 0, 0, time.UTC))
	s := e.dial(t)
	s.login()
	s.selectInbox("s0")
	run(s, []step{
		ok("SEARCH ON 24-Mar-2007", "* SEARCH 1"),
		ok("SEARCH ON 25-Mar-2007", "* SEARCH 2 3"),
		ok("SEARCH ON 26-Mar-2007", "* SEARCH 4 5"),
		ok("SEARCH BEFORE 25-Mar-2007", "* SEARCH 1"),
		ok("SEARCH BEFORE 26-Mar-2007", "* SEARCH 1 2 3"),
		ok("SEARCH SINCE 25-Mar-2007", "* SEARCH 2 3 4 5"),
		ok("SEARCH SINCE 27-Mar-2007", "* SEARCH"),
		ok("SEARCH SINCE 25-Mar-2007 BEFORE 26-Mar-2007", "* SEARCH 2 3"),
		ok("SEARCH SENTON 25-Mar-2007", "* SEARCH 2 3"),
		ok("SEARCH SENTSINCE 26-Mar-2007", "* SEARCH 4 5"),
		ok(`SEARCH SENTBEFORE "25-Mar-2007"`, "* SEARCH 1"),
	})
	s.do("b1 SEARCH ON 32-Mar-2007", `b1 BAD invalid date "32-Mar-2007"`)
}

// RFC 5032 WITHIN: YOUNGER and OLDER count seconds back from now.
func TestSearchWithin(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	searchAppend(t, e.accounts, "Subject: old\n\nbody\n", folder.Flags{}, now.Add(-72*time.Hour))
	searchAppend(t, e.accounts, "Subject: new\n\nbody\n", folder.Flags{}, now.Add(-time.Hour))
	s := e.dial(t)
	s.login()
	s.selectInbox("s0")
	run(s, []step{
		ok("SEARCH YOUNGER 86400", "* SEARCH 2"),
		ok("SEARCH OLDER 86400", "* SEARCH 1"),
		ok("SEARCH YOUNGER 60", "* SEARCH"),
		ok("SEARCH OLDER 60", "* SEARCH 1 2"),
		ok("SEARCH NOT YOUNGER 60", "* SEARCH 1 2"),
		ok("UID SEARCH YOUNGER 1000000", "* SEARCH 1 2"),
		{"SEARCH YOUNGER 0", []string{"%t BAD expected non-zero number"}},
	})
}

// The address keys, from imaptest's search-addresses plus encoded words,
// quoted display names and an empty group. FROM, TO, CC and BCC match
// the field as written (decoded) and its parsed addresses.
func TestSearchAddresses(t *testing.T) {
	_, s := searchSession(t,
		"From: user-from@domain.org\nTo: user-to@domain.org\nCc: user-cc@domain.org\nBcc: user-bcc@domain.org\n\nbody\n",
		"From: RealFrom <user-from@domain.org>\nTo: RealTo <user-to@domain.org>\nCc: RealCc <user-cc@domain.org>\nBcc: RealBcc <user-bcc@domain.org>\n\nbody2\n",
		"From: <user-from (comment)@ (comment) domain.org>\nTo: <user-to@domain.org>\nCc: <user-cc@domain.org>\nBcc: <user-bcc@domain.org>\n\nbody3\n",
		"From: user-from@domain.org (RealFrom)\nTo: user-to@domain.org (RealTo)\nCc: user-cc@domain.org (RealCc)\nBcc: user-bcc@domain.org (RealBcc)\n\nbody4\n",
		"From: user-from1@domain.org, user-from2@domain.org\nCc: user-cc@domain.org\n\nbody5\n",
		"From: RealFrom <user-from@domain.org>\nTo: groupname: groupuser1@domain.org, groupuser2@domain.org;,\n  groupname2: groupuser3@domain.org;\n\nbody6\n",
		"From: RealFrom <user-from@domain.org>\nTo: groupname:;\n\nbody7\n",
		"From: =?UTF-8?Q?J=C3=B6rg_M=C3=BCller?= <joerg@example.com>\nTo: undisclosed-recipients:;\n\nbody8\n",
		"From: \"Doe, John\" <john@example.com>\nCc: \"Smith, Ann\" <ann@example.com>, =?ISO-8859-1?B?Suhy9G1l?= <j@example.net>\n\nbody9\n",
	)
	run(s, []step{
		// full addresses
		ok("SEARCH FROM user-from@domain.org", "* SEARCH 1 2 3 4 6 7"),
		ok("SEARCH TO user-to@domain.org", "* SEARCH 1 2 3 4"),
		ok("SEARCH CC user-cc@domain.org", "* SEARCH 1 2 3 4 5"),
		ok("SEARCH BCC user-bcc@domain.org", "* SEARCH 1 2 3 4"),
		// display names, and comments standing for them
		ok("SEARCH FROM realfrom", "* SEARCH 2 4 6 7"),
		ok("SEARCH TO realto", "* SEARCH 2 4"),
		ok("SEARCH CC realcc", "* SEARCH 2 4"),
		ok("SEARCH BCC realbcc", "* SEARCH 2 4"),
		// existence
		ok(`SEARCH HEADER FROM ""`, "* SEARCH 1 2 3 4 5 6 7 8 9"),
		ok(`SEARCH HEADER TO ""`, "* SEARCH 1 2 3 4 6 7 8"),
		ok(`SEARCH HEADER CC ""`, "* SEARCH 1 2 3 4 5 9"),
		ok(`SEARCH HEADER BCC ""`, "* SEARCH 1 2 3 4"),
		// substrings
		ok("SEARCH FROM ser-fro", "* SEARCH 1 2 3 4 5 6 7"),
		ok("SEARCH TO ser-t", "* SEARCH 1 2 3 4"),
		ok("SEARCH CC ser-c", "* SEARCH 1 2 3 4 5"),
		ok("SEARCH BCC ser-bc", "* SEARCH 1 2 3 4"),
		ok("SEARCH FROM ealfro", "* SEARCH 2 4 6 7"),
		ok("SEARCH TO ealt", "* SEARCH 2 4"),
		ok("SEARCH CC ealc", "* SEARCH 2 4"),
		ok("SEARCH BCC ealbc", "* SEARCH 2 4"),
		// several addresses
		ok("SEARCH FROM user-from1", "* SEARCH 5"),
		ok("SEARCH FROM user-from2", "* SEARCH 5"),
		// groups
		ok("SEARCH TO groupname", "* SEARCH 6 7"),
		ok("SEARCH TO groupname2", "* SEARCH 6"),
		ok("SEARCH TO groupuser1", "* SEARCH 6"),
		ok("SEARCH TO groupuser2", "* SEARCH 6"),
		ok("SEARCH TO groupuser3", "* SEARCH 6"),
		ok("SEARCH TO groupuser4", "* SEARCH"),
		ok("SEARCH TO undisclosed-recipients", "* SEARCH 8"),
		ok(`SEARCH TO "undisclosed-recipients:;"`, "* SEARCH 8"),
		// encoded words, decoded and folded
		ok("SEARCH FROM "+lit("j\xc3\xb6rg"), "* SEARCH 8"),
		ok("SEARCH CHARSET UTF-8 FROM "+lit("J\xc3\x96RG M\xc3\x9cLLER"), "* SEARCH 8"),
		ok("SEARCH CC "+lit("J\xc3\xa8r\xc3\xb4"), "* SEARCH 9"),
		// quoted display names, with and without their quotes
		ok(`SEARCH FROM "Doe, John"`, "* SEARCH 9"),
		ok(`SEARCH FROM "\"doe, john\" <john@"`, "* SEARCH 9"),
		ok(`SEARCH FROM "doe, john <john@example.com>"`, "* SEARCH 9"),
		ok(`SEARCH CC "smith, ann"`, "* SEARCH 9"),
		ok("SEARCH FROM example.com", "* SEARCH 8 9"),
		ok("SEARCH OR TO groupuser1 CC smith", "* SEARCH 6 9"),
	})
}

// From imaptest's search-header: SUBJECT and HEADER, every field of a
// name, "" asking only for the field.
func TestSearchHeader(t *testing.T) {
	_, s := searchSession(t,
		"Subject: hello beautiful world\n\nbody\n",
		"X-Extra: hello beautiful header\nX-Extra: another one\n\nbody\n",
		"Subject: =?ISO-8859-1?Q?gr=FC=DFe?= aus\n =?UTF-8?B?0JzQvtGB0LrQstCw?=\n\nbody\n",
	)
	run(s, []step{
		ok("SEARCH SUBJECT hello", "* SEARCH 1"),
		ok("SEARCH SUBJECT BEAUTIFUL", "* SEARCH 1"),
		ok(`SEARCH SUBJECT "hello beautiful world"`, "* SEARCH 1"),
		ok(`SEARCH SUBJECT "eautiful worl"`, "* SEARCH 1"),
		ok(`SEARCH SUBJECT "hello world"`, "* SEARCH"),
		ok(`SEARCH HEADER SUBJECT ""`, "* SEARCH 1 3"),
		ok(`SEARCH NOT HEADER SUBJECT ""`, "* SEARCH 2"),
		ok(`SEARCH HEADER X-EXTRA ""`, "* SEARCH 2"),
		ok(`SEARCH NOT HEADER x-extra ""`, "* SEARCH 1 3"),
		ok("SEARCH HEADER X-Extra hello", "* SEARCH 2"),
		ok(`SEARCH HEADER X-Extra "eautiful head"`, "* SEARCH 2"),
		ok(`SEARCH HEADER X-Extra another`, "* SEARCH 2"),
		// RFC 2047, folded over two lines, Latin-1 and Cyrillic.
		ok("SEARCH SUBJECT "+lit("GR\xc3\x9c\xc3\x9fE AUS"), "* SEARCH 3"),
		ok("SEARCH SUBJECT "+lit("\xd0\xbc\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2"), "* SEARCH 3"),
		ok("SEARCH HEADER SUBJECT "+lit("\xd0\x9c\xd0\x9e\xd0\xa1\xd0\x9a\xd0\x92"), "* SEARCH 3"),
		ok("SEARCH HEADER SUBJECT ISO-8859-1", "* SEARCH 3"),
		ok("SEARCH TEXT X-EXTRA", "* SEARCH 2"),
	})
}

// headerCases are messages whose header the envelope's facts may get
// wrong: several fields of a name, encoded words, folding, empty values,
// absent fields, the case of names, 8-bit names and values, lines longer
// than a read buffer or than the parse keeps, a header without a body.
var headerCases = []string{
	"Subject: hello world\nFrom: Ann <ann@example.com>\n\nbody\n",
	"Subject: first\nsubject: second one\n\nbody\n",
	"Subject: =?ISO-8859-1?Q?gr=FC=DFe?= aus\n =?UTF-8?B?0JzQvtGB0LrQstCw?=\n\nbody\n",
	"Subject:\nTo: x@example.com\n\nbody\n",
	"From: a@example.com\n\nbody\n",
	"SUBJECT: caf\xc3\xa9 8-bit\n\nbody\n",
	// 7: strings.EqualFold takes "ſubject" for Subject.
	"\xc5\xbfubject: long s\n\nbody\n",
	// 8: the line's CR ends a 4096-octet read buffer, its LF starts the next.
	"X-Long: " + strings.Repeat("x", 4087) + "\nSubject: after long\n\nbody\n",
	"Subject: folded\n over\n\tthree lines  \n\nbody\n",
	"Message-ID: <abc@example.com>\nIn-Reply-To: <parent@example.com>\nDate: Wed, 1 Jan 2020 12:00:00 +0000\n" +
		"Reply-To: r@example.com\nSender: s@example.com\nCc: c@example.com\nBcc: b@example.com\n\nbody\n",
	"\nbody only, Subject: not a header\n",
	"Subject : spaced name\n\nbody\n",
	// 13: longer than the parse keeps of a value (message.MaxFieldSize).
	"Subject: " + strings.Repeat("y", 40000) + "\n " + strings.Repeat("y", 40000) + "end\n\nbody\n",
	"Subject: =?bogus?Q?x?= and a\rb\n\nbody\n",
	"Subject: no body",
	"Subject" + strings.Repeat(" ", 70000) + ": spaced far\n\nbody\n",
}

// HEADER over headerCases: the answers the header gives, whether the
// envelope's facts give them (most here) or the file does. They are the
// lines a search by the file alone gives, message 8 apart: before
// readHeaderBlock took only whole lines for the blank one, its header
// ended at the X-Long line's LF.
func TestSearchHeaderCached(t *testing.T) {
	_, s := searchSession(t, headerCases...)
	run(s, []step{
		ok(`SEARCH HEADER Subject ""`, "* SEARCH 1 2 3 4 6 7 8 9 12 13 14 15 16"),
		ok(`SEARCH NOT HEADER subject ""`, "* SEARCH 5 10 11"),
		ok("SEARCH HEADER Subject hello", "* SEARCH 1"),
		ok(`SEARCH HEADER subject "second one"`, "* SEARCH 2"),
		ok("SEARCH HEADER SUBJECT first", "* SEARCH 2"),
		ok("SEARCH HEADER Subject "+lit("gr\xc3\xbc\xc3\x9fe aus \xd0\x9c\xd0\xbe\xd1\x81"), "* SEARCH 3"),
		ok(`SEARCH HEADER Subject "?= aus"`, "* SEARCH 3"),
		ok(`SEARCH HEADER Subject "aus m"`, "* SEARCH"),
		ok("SEARCH HEADER Subject "+lit("CAF\xc3\x89"), "* SEARCH 6"),
		ok(`SEARCH HEADER Subject "long s"`, "* SEARCH 7"),
		ok(`SEARCH HEADER Subject "after long"`, "* SEARCH 8"),
		ok(`SEARCH HEADER X-Long xxxx`, "* SEARCH 8"),
		ok(`SEARCH HEADER Subject "folded over"`, "* SEARCH 9"),
		ok(`SEARCH HEADER Subject "over three"`, "* SEARCH"),
		ok(`SEARCH HEADER Subject "lines "`, "* SEARCH"),
		ok(`SEARCH HEADER Message-ID abc@`, "* SEARCH 10"),
		ok(`SEARCH HEADER in-reply-to <PARENT`, "* SEARCH 10"),
		ok(`SEARCH HEADER Date "1 Jan 2020"`, "* SEARCH 10"),
		ok(`SEARCH HEADER Reply-To ""`, "* SEARCH 10"),
		ok(`SEARCH HEADER Sender ""`, "* SEARCH 10"),
		ok(`SEARCH HEADER Reply-To r@`, "* SEARCH 10"),
		ok(`SEARCH HEADER Bcc b@example`, "* SEARCH 10"),
		ok(`SEARCH HEADER From ann`, "* SEARCH 1"),
		ok(`SEARCH HEADER From ""`, "* SEARCH 1 5"),
		ok(`SEARCH HEADER To ""`, "* SEARCH 4"),
		ok(`SEARCH HEADER Subject "not a header"`, "* SEARCH"),
		ok(`SEARCH HEADER Subject spaced`, "* SEARCH 12 16"),
		ok(`SEARCH HEADER Subject yend`, "* SEARCH 13"),
		ok(`SEARCH HEADER Subject bogus`, "* SEARCH 14"),
		ok(`SEARCH HEADER Subject "and a"`, "* SEARCH 14"),
		ok(`SEARCH HEADER Subject "no body"`, "* SEARCH 15"),
		ok(`SEARCH HEADER Subject "spaced far"`, "* SEARCH 16"),
	})
}

// Over headerCases, every answer the envelope's facts give is the one
// the header gives (headerHas, which reads the file), for every field
// the facts may know and needles cut from each field of the header.
func TestSearchHeaderCacheAgrees(t *testing.T) {
	e := newEnv(t)
	for _, msg := range headerCases {
		searchAppend(t, e.accounts, msg, folder.Flags{}, searchDate)
	}
	c := inboxView(t, e.accounts)
	s, err := c.newSearch(&parseSearchKey(t, "ALL").Key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	metas, err := s.mb.ReadBatch(s.uids, store.FieldEnvelope)
	if err != nil {
		t.Fatal(err)
	}
	fields := []string{"Subject", "SUBJECT", "subject", "\xc5\xbfubject", "From", "To", "Cc", "Bcc", "Reply-To",
		"Sender", "Message-ID", "In-Reply-To", "date", "X-Long", "Subject "}
	decided := 0
	for i := range metas {
		m := &candidate{s: s}
		m.reset(&metas[i], uint32(i+1))
		h, err := m.header()
		if err != nil {
			t.Fatal(err)
		}
		needles := []string{"", "zz-nowhere"}
		for _, f := range h {
			for _, v := range []string{fold(f.Value), fold(decodeHeader(f.Value))} {
				r := []rune(v)
				needles = append(needles, v, string(r[:min(len(r), 4)]), string(r[len(r)/2:]), string(r[max(len(r)-4, 0):]))
			}
		}
		for _, field := range fields {
			for _, needle := range needles {
				want, err := m.headerHas(field, needle)
				if err != nil {
					t.Fatal(err)
				}
				got, ok := cachedHeaderHas(metas[i].Envelope, field, needle)
				if ok && got != want {
					t.Fatalf("message %d: HEADER %q %.40q: the envelope says %v, the header %v", i+1, field, needle, got, want)
				}
				if ok {
					decided++
				}
			}
		}
	}
	if decided == 0 {
		t.Fatal("the envelope decided nothing")
	}
	// A record without header facts (as versions before them wrote)
	// leaves every HEADER to the file.
	old := &message.Envelope{Subject: "hello"}
	for _, needle := range []string{"", "hello", "x"} {
		if _, ok := cachedHeaderHas(old, "Subject", needle); ok {
			t.Errorf("an envelope without facts decided HEADER Subject %q", needle)
		}
	}
}

// From imaptest's search-body, plus transfer encodings, charsets,
// multipart and attached messages: BODY searches the decoded text of
// text parts, TEXT the header too.
func TestSearchBody(t *testing.T) {
	_, s := searchSession(t,
		"Date: Sat, 24 Mar 2007 23:00:00 +0200\n\nasdfghjkl zxcvbnm\n",
		"Date: Sat, 24 Mar 2007 23:00:00 +0200\nSubject: qwertyuiop\n\nasdfghjkl\n",
		"Date: Sat, 24 Mar 2007 23:00:00 +0200\nX-Header: qwertyuiop\n\nzxcvbnm\n",
		"Date: Sat, 24 Mar 2007 23:00:00 +0200\n\nzxcvbnm qwertyuiop\n",
		// 5: quoted-printable Latin-1 with a soft line break
		"Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nS=FC=DFes und Bitter=\nsalz\n",
		// 6: multipart: base64 text, and a base64 attachment that is not searched
		"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\npreamble\n--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"+
			"S3LDpGZ0aWdlIEJhc2U2NC1Xw7ZydGVy\n--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\naGlkZGVud29yZA==\n--b--\n",
		// 7: an attached message, its header and text searched as body
		"Content-Type: message/rfc822\n\nSubject: =?UTF-8?Q?inner_subj=C3=A9ct?=\nFrom: inner@example.com\n\ninner text\n",
	)
	run(s, []step{
		ok("SEARCH TEXT asdfghjkl", "* SEARCH 1 2"),
		ok("SEARCH TEXT zxcvbnm", "* SEARCH 1 3 4"),
		ok("SEARCH TEXT qwertyuiop", "* SEARCH 2 3 4"),
		ok("SEARCH BODY asdfghjkl", "* SEARCH 1 2"),
		ok("SEARCH BODY zxcvbnm", "* SEARCH 1 3 4"),
		ok("SEARCH BODY qwertyuiop", "* SEARCH 4"),
		ok("SEARCH TEXT sdfghjk", "* SEARCH 1 2"),
		ok("SEARCH TEXT xcvbn", "* SEARCH 1 3 4"),
		ok("SEARCH TEXT wertyuio", "* SEARCH 2 3 4"),
		ok("SEARCH BODY sdfghjk", "* SEARCH 1 2"),
		ok("SEARCH BODY xcvbn", "* SEARCH 1 3 4"),
		ok("SEARCH BODY wertyuio", "* SEARCH 4"),
		ok("SEARCH BODY ZXCVBNM", "* SEARCH 1 3 4"),
		ok("SEARCH BODY "+lit("S\xc3\xbc\xc3\x9fes"), "* SEARCH 5"),
		ok("SEARCH BODY bittersalz", "* SEARCH 5"),
		ok("SEARCH BODY =FC", "* SEARCH"),
		ok("SEARCH BODY "+lit("base64-w\xc3\xb6rter"), "* SEARCH 6"),
		ok("SEARCH BODY "+lit("kr\xc3\xa4ftig"), "* SEARCH 6"),
		ok("SEARCH BODY hiddenword", "* SEARCH"),
		ok("SEARCH BODY preamble", "* SEARCH"),
		ok("SEARCH BODY S3LDpGZ0aWdl", "* SEARCH"),
		ok("SEARCH BODY "+lit("inner subj\xc3\xa9ct"), "* SEARCH 7"),
		ok("SEARCH BODY inner@example.com", "* SEARCH 7"),
		ok("SEARCH BODY \"inner text\"", "* SEARCH 7"),
		ok("SEARCH TEXT message/rfc822", "* SEARCH 7"),
		ok("SEARCH BODY message/rfc822", "* SEARCH"),
		ok(`SEARCH TEXT ""`, "* SEARCH 1 2 3 4 5 6 7"),
		ok("SEARCH OR BODY asdfghjkl SUBJECT qwertyuiop", "* SEARCH 1 2"),
		ok("SEARCH NOT BODY asdfghjkl", "* SEARCH 3 4 5 6 7"),
	})
}

// ESEARCH (RFC 4731, RFC 9051 §7.3.4): the options asked for, MIN, MAX
// and ALL left out when nothing matched, ALL as a compact set.
func TestSearchESEARCH(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 6; i++ {
		f := folder.Flags{}
		if i != 3 {
			f.Sys = folder.Flagged
		}
		searchAppend(t, e.accounts, "Subject: x\n\nbody\n", f, searchDate)
	}
	s := e.dial(t)
	s.login()
	s.selectInbox("s0")
	s.do(`x1 STORE 1 +FLAGS.SILENT (\Deleted)`, "x1 OK STORE completed")
	s.do("x2 EXPUNGE", "* 1 EXPUNGE", "x2 OK EXPUNGE completed")
	// UIDs 2 to 6 at 1 to 5; 2 3 5 6 are flagged.
	run(s, []step{
		ok("SEARCH RETURN (MIN MAX COUNT ALL) FLAGGED", `* ESEARCH (TAG "%t") MIN 1 MAX 5 COUNT 4 ALL 1:2,4:5`),
		ok("UID SEARCH RETURN (MIN MAX COUNT ALL) FLAGGED", `* ESEARCH (TAG "%t") UID MIN 2 MAX 6 COUNT 4 ALL 2:3,5:6`),
		ok("SEARCH RETURN () FLAGGED", `* ESEARCH (TAG "%t") ALL 1:2,4:5`),
		ok("SEARCH RETURN (ALL) ALL", `* ESEARCH (TAG "%t") ALL 1:5`),
		ok("UID SEARCH RETURN (COUNT) ALL", `* ESEARCH (TAG "%t") UID COUNT 5`),
		ok("SEARCH RETURN (min) 3", `* ESEARCH (TAG "%t") MIN 3`),
		ok("SEARCH RETURN (MAX) UNFLAGGED", `* ESEARCH (TAG "%t") MAX 3`),
		ok("SEARCH RETURN (MIN MAX) DELETED", `* ESEARCH (TAG "%t")`),
		ok("SEARCH RETURN (COUNT ALL) DELETED", `* ESEARCH (TAG "%t") COUNT 0`),
		ok("UID SEARCH RETURN (ALL) DELETED", `* ESEARCH (TAG "%t") UID`),
		ok("SEARCH RETURN (ALL) CHARSET UTF-8 4", `* ESEARCH (TAG "%t") ALL 4`),
		{"SEARCH RETURN (FOO) ALL", []string{"%t BAD unknown SEARCH return option FOO"}},
	})
	// With IMAP4rev2 enabled, SEARCH answers ESEARCH (RFC 9051 §6.4.4).
	s = e.dial(t)
	s.login()
	s.do("b1 ENABLE IMAP4rev2", "* ENABLED IMAP4REV2", "b1 OK ENABLE completed")
	s.selectInbox("b0")
	s.do("b2 SEARCH FLAGGED", `* ESEARCH (TAG "b2") ALL 1:2,4:5`, "b2 OK SEARCH completed")
	s.do("b3 UID SEARCH DELETED", `* ESEARCH (TAG "b3") UID`, "b3 OK SEARCH completed")
}

// SEARCHRES (RFC 5182): SAVE keeps the result as UIDs for "$", which
// SEARCH, FETCH and STORE read; SAVE with only MIN/MAX keeps those.
func TestSearchSave(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 5; i++ {
		f := folder.Flags{}
		if i%2 == 0 {
			f.Sys = folder.Flagged
		}
		searchAppend(t, e.accounts, "Subject: x\n\nbody\n", f, searchDate)
	}
	s := e.dial(t)
	s.login()
	s.selectInbox("s0")
	run(s, []step{
		// §2.1: "$" before any SAVE is empty.
		ok("SEARCH $", "* SEARCH"),
		ok("UID SEARCH UID $", "* SEARCH"),
		// SAVE alone sends no ESEARCH.
		{"SEARCH RETURN (SAVE) FLAGGED", []string{"%t OK SEARCH completed"}},
		ok("SEARCH $", "* SEARCH 1 3 5"),
		ok("SEARCH NOT $", "* SEARCH 2 4"),
		ok("UID SEARCH UID $ 2:*", "* SEARCH 3 5"),
		{"FETCH $ (UID)", []string{"* 1 FETCH (UID 1)", "* 3 FETCH (UID 3)", "* 5 FETCH (UID 5)", "%t OK FETCH completed"}},
		{`STORE $ +FLAGS.SILENT (\Seen)`, []string{"%t OK STORE completed"}},
		ok("SEARCH SEEN", "* SEARCH 1 3 5"),
		// SAVE with other options: the result saved is all of it.
		ok("SEARCH RETURN (SAVE COUNT) UNFLAGGED", `* ESEARCH (TAG "%t") COUNT 2`),
		ok("SEARCH $", "* SEARCH 2 4"),
		// §2.4: with MIN and/or MAX alone, only those.
		ok("SEARCH RETURN (SAVE MIN MAX) ALL", `* ESEARCH (TAG "%t") MIN 1 MAX 5`),
		ok("SEARCH $", "* SEARCH 1 5"),
		ok("SEARCH RETURN (MAX SAVE) FLAGGED", `* ESEARCH (TAG "%t") MAX 5`),
		ok("SEARCH $", "* SEARCH 5"),
		ok("SEARCH RETURN (SAVE MIN MAX) 2", `* ESEARCH (TAG "%t") MIN 2 MAX 2`),
		ok("SEARCH $", "* SEARCH 2"),
		// "$" inside the search that replaces it is the old result.
		{"SEARCH RETURN (SAVE) OR $ 4", []string{"%t OK SEARCH completed"}},
		ok("UID SEARCH $", "* SEARCH 2 4"),
		// §2.1: a BAD leaves "$" alone, a NO empties it.
		{"SEARCH RETURN (SAVE) EMAILID M1", []string{"%t BAD OBJECTID is not supported"}},
		ok("SEARCH $", "* SEARCH 2 4"),
		{"SEARCH RETURN (SAVE) CHARSET KOI8-R ALL", []string{"%t NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset"}},
		ok("SEARCH $", "* SEARCH"),
		// An empty result saved is an empty "$".
		{"SEARCH RETURN (SAVE) 3", []string{"%t OK SEARCH completed"}},
		{"SEARCH RETURN (SAVE) DRAFT", []string{"%t OK SEARCH completed"}},
		ok("SEARCH $", "* SEARCH"),
		// Expunged messages leave "$".
		{"SEARCH RETURN (SAVE) 2:4", []string{"%t OK SEARCH completed"}},
		{`STORE 3 +FLAGS.SILENT (\Deleted)`, []string{"%t OK STORE completed"}},
		{"EXPUNGE", []string{"* 3 EXPUNGE", "%t OK EXPUNGE completed"}},
		ok("UID SEARCH $", "* SEARCH 2 4"),
		ok("SEARCH $", "* SEARCH 2 3"),
	})
	// SELECT starts "$" afresh.
	s.selectInbox("c0")
	s.do("c1 SEARCH $", "* SEARCH", "c1 OK SEARCH completed")
}

// CHARSET (RFC 9051 §6.4.4): UTF-8 and US-ASCII, others NO [BADCHARSET].
func TestSearchCharset(t *testing.T) {
	_, s := searchSession(t, "Subject: caf\xc3\xa9\n\nbody\n")
	run(s, []step{
		ok("SEARCH CHARSET UTF-8 SUBJECT caf", "* SEARCH 1"),
		ok("SEARCH CHARSET utf-8 SUBJECT "+lit("CAF\xc3\x89"), "* SEARCH 1"),
		ok("SEARCH CHARSET US-ASCII SUBJECT CAF", "* SEARCH 1"),
		ok(`SEARCH CHARSET "us-ascii" ALL`, "* SEARCH 1"),
		{"SEARCH CHARSET ISO-8859-1 SUBJECT caf", []string{"%t NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset"}},
		{"UID SEARCH CHARSET X-BOGUS ALL", []string{"%t NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset"}},
	})
}

// Malformed keys are BAD from the grammar; keys of extensions this
// server does not offer are BAD too; SEARCH needs a selected mailbox.
func TestSearchErrors(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.login()
	s.do("a0 SEARCH ALL", "a0 BAD SEARCH is not valid in this state")
	searchAppend(t, e.accounts, "Subject: x\n\nbody\n", folder.Flags{}, searchDate)
	s.selectInbox("s0")
	// Syntax errors count towards MaxBadCommands: a NOOP after each.
	noop := step{"NOOP", []string{"%t OK NOOP completed"}}
	run(s, []step{
		{"SEARCH", []string{"%t BAD missing search key"}}, noop,
		{"SEARCH FOO", []string{"%t BAD unknown search key FOO"}}, noop,
		{"SEARCH SUBJECT", []string{"%t BAD missing argument"}}, noop,
		{"SEARCH ()", []string{"%t BAD empty search group"}}, noop,
		{"SEARCH OR ALL", []string{"%t BAD missing argument"}}, noop,
		{"SEARCH 0", []string{`%t BAD invalid sequence set "0"`}}, noop,
		{"SEARCH SAVEDON", []string{"%t BAD missing argument"}}, noop,
		{"SEARCH SAVEDSINCE 32-Jan-2020", []string{`%t BAD invalid date "32-Jan-2020"`}}, noop,
		{"SEARCH NOT (ALL THREADID T1)", []string{"%t BAD OBJECTID is not supported"}},
		{"SEARCH EMAILID M123", []string{"%t BAD OBJECTID is not supported"}},
		ok("SEARCH ALL", "* SEARCH 1"),
	})
}

// A message another session expunged, not yet reported, keeps its
// number but matches nothing, and no EXPUNGE comes during SEARCH (RFC
// 9051 §7.5.1); UID SEARCH may be followed by it.
func TestSearchExpungedElsewhere(t *testing.T) {
	e, s := searchSession(t, "Subject: a\n\nbody\n", "Subject: b\n\nbody\n", "Subject: c\n\nbody\n")
	s2 := e.dial(t)
	s2.login()
	s2.selectInbox("b0")
	s2.do(`b1 STORE 2 +FLAGS.SILENT (\Deleted)`, "b1 OK STORE completed")
	s2.do("b2 EXPUNGE", "* 2 EXPUNGE", "b2 OK EXPUNGE completed")
	s.do("a1 SEARCH ALL", "* SEARCH 1 3", "a1 OK SEARCH completed")
	s.do("a2 SEARCH NOT SUBJECT a", "* SEARCH 3", "a2 OK SEARCH completed")
	s.do("a3 SEARCH 2", "* SEARCH", "a3 OK SEARCH completed")
	s.do("a4 UID SEARCH ALL", "* SEARCH 1 3", "* 2 EXPUNGE", "a4 OK SEARCH completed")
	s.do("a5 SEARCH ALL", "* SEARCH 1 2", "a5 OK SEARCH completed")
}

// A file another program removed matches nothing, not even NOT, and the
// search says so (RFC 5530 EXPUNGEISSUED).
func TestSearchFileGone(t *testing.T) {
	e, root := searchEnv(t)
	for _, subj := range []string{"one", "two", "three"} {
		searchAppend(t, e.accounts, "Subject: "+subj+"\n\nbody\n", folder.Flags{}, searchDate)
	}
	s := e.dial(t)
	s.login()
	s.selectInbox("s0")
	if err := os.Remove(searchMessageFile(t, root, "Subject: two\n")); err != nil {
		t.Fatal(err)
	}
	// The first command after the removal: no sync has seen it yet.
	s.do("a1 SEARCH NOT BODY nothing", "* SEARCH 1 3",
		"a1 OK [EXPUNGEISSUED] SEARCH completed; some messages were removed by another program")
}

// searchMessageFile finds the file whose content starts with prefix.
func searchMessageFile(t *testing.T, root, prefix string) string {
	t.Helper()
	var found string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != "" {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && strings.HasPrefix(strings.ReplaceAll(string(b), "\r\n", "\n"), prefix) {
			found = p
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no file starts with %q", prefix)
	}
	return found
}

// searchView opens INBOX of a fresh store holding n messages, for tests
// that drive the matcher directly.
func searchView(tb testing.TB, n int) *conn {
	tb.Helper()
	dir := tb.TempDir()
	accounts := store.NewAccounts(store.Options{MailDir: filepath.Join(dir, "mail"), IndexDir: filepath.Join(dir, "index"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	tb.Cleanup(func() { accounts.Close() })
	day0 := time.Date(2020, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		f := folder.Flags{}
		if i%3 == 0 {
			f.Sys = folder.Seen
		}
		if i%10 == 0 {
			f.Keywords = []string{"$Work"}
		}
		msg := fmt.Sprintf("From: sender%d@example.com\nSubject: message %d\nDate: Wed, 1 Jan 2020 12:00:00 +0000\n\n%s\n", i, i, strings.Repeat("x", i%50))
		searchAppend(tb, accounts, msg, f, day0.Add(time.Duration(i)*time.Hour))
	}
	return inboxView(tb, accounts)
}

// inboxView is a conn with u's INBOX open, without a session.
func inboxView(tb testing.TB, accounts *store.Accounts) *conn {
	tb.Helper()
	acct, err := accounts.Open(context.Background(), "u")
	if err != nil {
		tb.Fatal(err)
	}
	mb, err := acct.Mailbox("INBOX")
	if err != nil {
		tb.Fatal(err)
	}
	v, err := mb.OpenView(context.Background(), true)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(v.Close)
	return &conn{view: v, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// parseSearchKey parses the arguments of a SEARCH command line.
func parseSearchKey(tb testing.TB, keys string) *wire.SearchArgs {
	tb.Helper()
	p := wire.NewParser(wire.Limits{})
	r := p.NewReader(bufio.NewReader(strings.NewReader("t SEARCH "+keys+"\r\n")), func(wire.LiteralInfo) error { return nil })
	cmd, err := r.ReadCommand()
	if err != nil {
		tb.Fatal(err)
	}
	return cmd.Args.(*wire.SearchArgs)
}

// Keys the index decides open no message file, and a text key under an
// AND opens only the files the cheap keys left.
func TestSearchOpensFilesOnlyForText(t *testing.T) {
	c := searchView(t, 300)
	for _, tc := range []struct {
		keys  string
		count int
		opens int
	}{
		{"ALL", 300, 0},
		{"SEEN", 100, 0},
		{"UNSEEN KEYWORD $work", 20, 0},
		{"OR SEEN LARGER 150", 100, 0},
		// i hours after 1-Jan-2020 12:00: from the 6th on, i >= 108.
		{"SINCE 5-Jan-2020 NOT BEFORE 6-Jan-2020 SMALLER 100000", 192, 0},
		{"YOUNGER 1", 0, 0},
		{"OLDER 1", 300, 0},
		{"UID 10:20 NOT 15", 10, 0},
		{"SENTON 1-Jan-2020", 300, 0},
		{`SUBJECT "message 29"`, 11, 0},
		// HEADER on the fields the envelope's header facts decide.
		{`HEADER Subject "message 29"`, 11, 0},
		{`HEADER SUBJECT ""`, 300, 0},
		{`HEADER Date "1 Jan 2020"`, 300, 0},
		{`HEADER From ""`, 300, 0},
		{`HEADER Bcc example`, 0, 0},
		{`NOT HEADER Message-ID ""`, 300, 0},
		{`HEADER Subject "message 29" HEADER X-Other ""`, 0, 11},
		// Address fields are kept parsed: their text needs the header.
		{`HEADER From sender1`, 111, 300},
		{`HEADER X-Other ""`, 0, 300},
		// $Work on i%10 == 0; sender1 in 10 and 100 to 190.
		{"KEYWORD $Work FROM sender1", 11, 30},
		{"FROM sender1 KEYWORD $Work", 11, 30},
		// 100 seen, and 160 unseen with ten x or more (i%50 >= 10).
		{"OR SEEN BODY xxxxxxxxxx", 260, 200},
		{"NOT OR UNSEEN TEXT nothing", 100, 100},
	} {
		args := parseSearchKey(t, tc.keys)
		s, err := c.newSearch(&args.Key, time.Date(2020, 2, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		opens := 0
		open := s.open
		s.open = func(m store.Message) (io.ReadCloser, error) { opens++; return open(m) }
		hits, err := s.run(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", tc.keys, err)
		}
		if len(hits) != tc.count || opens != tc.opens {
			t.Errorf("%s: %d hits, %d files opened; want %d, %d", tc.keys, len(hits), opens, tc.count, tc.opens)
		}
	}
}

func BenchmarkSearchFlags10k(b *testing.B) {
	c := searchView(b, 10000)
	args := parseSearchKey(b, "UNSEEN SINCE 1-Feb-2020 NOT KEYWORD $Work LARGER 100")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := c.newSearch(&args.Key, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		s.open = func(store.Message) (io.ReadCloser, error) { b.Fatal("file opened"); return nil, nil }
		if _, err := s.run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzSearchText feeds untrusted messages to the text matchers: they
// must not panic, and a needle taken from folded text must be found.
func FuzzSearchText(f *testing.F) {
	for _, seed := range []string{
		"From: a@b\r\n\r\nbody\r\n",
		"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n--x--\r\n",
		"Content-Type: message/rfc822\r\n\r\nSubject: =?utf-8?q?=C3=A9?=\r\n\r\ninner\r\n",
		"To: g: a@b, <c (x)@ d>;, \"q, r\" <e@f>\r\n\r\n",
		"Content-Type: text/plain; charset=x-unknown\r\nContent-Transfer-Encoding: x-bogus\r\n\r\n\xff\xfe\r\n",
		"Subject: a\r\nsubject: =?utf-8?q?b?=\r\n \tc\r\r\nFrom:\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		text := fold(bodyText(raw))
		if r := []rune(text); len(r) > 3 && !strings.Contains(text, fold(string(r[:3]))) {
			t.Errorf("folded text does not contain its own folded prefix")
		}
		h := message.ParseHeaderBlock(headerBlock(raw))
		for _, fl := range h {
			fold(addressText(fl.Value))
			fold(decodeHeader(fl.Value))
		}
		b, err := readHeaderBlock(strings.NewReader(string(raw)))
		if err != nil || len(b) > len(raw) {
			t.Fatalf("header block of %d octets (%v)", len(b), err)
		}
		// What the envelope's header facts answer, the header does.
		info, _ := message.ParseBytes(raw)
		m := &candidate{hdr: message.ParseHeaderBlock(b), hdrOK: true}
		needles := []string{"", "a"}
		for _, fl := range m.hdr {
			needles = append(needles, fold(fl.Value), fold(decodeHeader(fl.Value)))
		}
		for _, field := range []string{"Subject", "from", "Date", "Message-ID", "In-Reply-To", "Bcc"} {
			for _, needle := range needles {
				want, _ := m.headerHas(field, needle)
				if got, ok := cachedHeaderHas(&info.Envelope, field, needle); ok && got != want {
					t.Fatalf("HEADER %s %.40q: the envelope says %v, the header %v", field, needle, got, want)
				}
			}
		}
	})
}
