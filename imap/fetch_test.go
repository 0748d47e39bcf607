package imap

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/store"
)

var fetchDate = time.Date(2024, 3, 7, 9, 5, 1, 0, time.FixedZone("", -7*3600-30*60))

// fetchMultipart has a quoted-printable text, a base64 attachment with
// NUL octets, an embedded message, a group and a source route.
const fetchMultipart = "From: \"Ann Example\" <ann@example.org>\r\n" +
	"To: bob@example.net, Friends: carol@example.com, <@r1.example,@r2.example:dave@example.com>;\r\n" +
	"Subject: multipart test\r\n" +
	"Date: Mon, 2 Jan 2006 15:04:05 -0700\r\n" +
	"Message-ID: <m1@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"XX\"\r\n" +
	"\r\n" +
	"preamble\r\n" +
	"--XX\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"caf=C3=A9 =\r\n" +
	"soft\r\n" +
	"--XX\r\n" +
	"Content-Type: application/octet-stream; name=\"a.bin\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"Content-Disposition: attachment; filename=\"a.bin\"\r\n" +
	"\r\n" +
	"AGJpbgBkYXRh\r\n" +
	"--XX\r\n" +
	"Content-Type: message/rfc822\r\n" +
	"\r\n" +
	"From: x@y.example\r\n" +
	"Subject: inner\r\n" +
	"\r\n" +
	"inner body\r\n" +
	"--XX--\r\n"

// The lines of fetchMultipart's answers, as the transcripts expect them.
const (
	mpEnvelope = `ENVELOPE ("Mon, 2 Jan 2006 15:04:05 -0700" "multipart test" (("Ann Example" NIL "ann" "example.org")) ` +
		`(("Ann Example" NIL "ann" "example.org")) (("Ann Example" NIL "ann" "example.org")) ` +
		`((NIL NIL "bob" "example.net")(NIL NIL "Friends" NIL)(NIL NIL "carol" "example.com")` +
		`(NIL "@r1.example,@r2.example" "dave" "example.com")(NIL NIL NIL NIL)) NIL NIL NIL "<m1@example.org>")`
	mpInnerEnvelope = `(NIL "inner" ((NIL NIL "x" "y.example")) ((NIL NIL "x" "y.example")) ((NIL NIL "x" "y.example")) NIL NIL NIL NIL NIL)`
	mpBodyStructure = `BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "QUOTED-PRINTABLE" 17 1 NIL NIL NIL NIL)` +
		`("application" "octet-stream" ("name" "a.bin") NIL NIL "BASE64" 12 NIL ("attachment" ("filename" "a.bin")) NIL NIL)` +
		`("message" "rfc822" NIL NIL NIL "7BIT" 47 ` + mpInnerEnvelope +
		` ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 10 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL)` +
		` "mixed" ("boundary" "XX") NIL NIL NIL)`
	mpBody = `BODY (("text" "plain" ("charset" "utf-8") NIL NIL "QUOTED-PRINTABLE" 17 1)` +
		`("application" "octet-stream" ("name" "a.bin") NIL NIL "BASE64" 12)` +
		`("message" "rfc822" NIL NIL NIL "7BIT" 47 ` + mpInnerEnvelope +
		` ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 10 0) 3) "mixed")`
	mpDate = `INTERNALDATE "07-Mar-2024 09:05:01 -0730"`
)

// mpHeaderLines are fetchMultipart's header as transcript lines.
var mpHeaderLines = []string{
	`From: "Ann Example" <ann@example.org>`,
	"To: bob@example.net, Friends: carol@example.com, <@r1.example,@r2.example:dave@example.com>;",
	"Subject: multipart test",
	"Date: Mon, 2 Jan 2006 15:04:05 -0700",
	"Message-ID: <m1@example.org>",
	"MIME-Version: 1.0",
	`Content-Type: multipart/mixed; boundary="XX"`,
	"",
}

func fetchLines(parts ...any) []string {
	var out []string
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			out = append(out, v)
		case []string:
			out = append(out, v...)
		}
	}
	return out
}

// newFetchEnv is newEnv for tests and benchmarks that need the mail
// directory too.
func newFetchEnv(tb testing.TB) (*testEnv, string) {
	e := newEnv(tb)
	return e, e.mailDir
}

// fetchTestAppend stores a message in INBOX with a fixed INTERNALDATE.
func fetchTestAppend(tb testing.TB, e *testEnv, msg string, flags folder.Flags, date time.Time) uint32 {
	tb.Helper()
	acct, err := e.accounts.Open(context.Background(), "u")
	if err != nil {
		tb.Fatal(err)
	}
	mb, err := acct.Mailbox("INBOX")
	if err != nil {
		tb.Fatal(err)
	}
	res, err := mb.Append(context.Background(), []byte(msg), store.AppendOptions{Flags: flags, Date: date})
	if err != nil {
		tb.Fatal(err)
	}
	return res.UID
}

// selectInbox selects INBOX and skips its untagged responses.
func (s *session) fetchSelect(cmd string) {
	s.t.Helper()
	s.send("s0 " + cmd + " INBOX\r\n")
	for {
		l := s.line()
		if strings.HasPrefix(l, "s0 ") {
			if !strings.HasPrefix(l, "s0 OK") {
				s.t.Fatalf("%s: %s", cmd, l)
			}
			return
		}
	}
}

func TestFetchItems(t *testing.T) {
	e := newEnv(t)
	fetchTestAppend(t, e, fetchMultipart, folder.Flags{Sys: folder.Flagged, Keywords: []string{"$Work"}}, fetchDate)
	fetchTestAppend(t, e, msg1, folder.Flags{Sys: folder.Seen}, fetchDate)
	s := e.dial(t)
	s.login()
	s.do("a0 FETCH 1 (FLAGS)", "a0 BAD FETCH is not valid in this state")
	s.fetchSelect("SELECT")
	s.do("a1 FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)",
		`* 1 FETCH (FLAGS (\Flagged \Recent $Work) `+mpDate+` RFC822.SIZE 673)`, "a1 OK FETCH completed")
	s.do("a2 FETCH 1 ENVELOPE", "* 1 FETCH ("+mpEnvelope+")", "a2 OK FETCH completed")
	s.do("a3 FETCH 1 BODYSTRUCTURE", "* 1 FETCH ("+mpBodyStructure+")", "a3 OK FETCH completed")
	s.do("a4 FETCH 1 BODY", "* 1 FETCH ("+mpBody+")", "a4 OK FETCH completed")
	// RFC 9051 §6.4.9: UID FETCH always answers UID; asked for, it
	// comes once.
	s.do("a5 UID FETCH 2 (RFC822.SIZE)", "* 2 FETCH (UID 2 RFC822.SIZE 43)", "a5 OK FETCH completed")
	s.do("a6 UID FETCH 1:* (UID FLAGS UID)", `* 1 FETCH (UID 1 FLAGS (\Flagged \Recent $Work))`,
		`* 2 FETCH (UID 2 FLAGS (\Seen \Recent))`, "a6 OK FETCH completed")
	s.do("a7 FETCH 2 UID", "* 2 FETCH (UID 2)", "a7 OK FETCH completed")
	// Macros (RFC 9051 §6.4.5).
	const msg1Env = `ENVELOPE (NIL "one" ((NIL NIL "a" "example.org")) ((NIL NIL "a" "example.org")) ((NIL NIL "a" "example.org")) NIL NIL NIL NIL NIL)`
	s.do("a8 FETCH 2 FAST", `* 2 FETCH (FLAGS (\Seen \Recent) `+mpDate+` RFC822.SIZE 43)`, "a8 OK FETCH completed")
	s.do("a9 FETCH 2 ALL", `* 2 FETCH (FLAGS (\Seen \Recent) `+mpDate+` RFC822.SIZE 43 `+msg1Env+`)`, "a9 OK FETCH completed")
	s.do("a10 FETCH 2 FULL", `* 2 FETCH (FLAGS (\Seen \Recent) `+mpDate+` RFC822.SIZE 43 `+msg1Env+
		` BODY ("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 6 1))`, "a10 OK FETCH completed")
	// Ascending sequence order whatever the set's order (RFC 9051
	// §7.5.2), each message once.
	s.do("a11 FETCH 2,1,2 RFC822.SIZE", "* 1 FETCH (RFC822.SIZE 673)", "* 2 FETCH (RFC822.SIZE 43)", "a11 OK FETCH completed")
	s.do("a12 UID FETCH 5:7 FLAGS", "a12 OK FETCH completed")
}

func TestFetchErrors(t *testing.T) {
	e := newEnv(t)
	fetchTestAppend(t, e, msg1, folder.Flags{}, fetchDate)
	s := e.dial(t)
	s.login()
	s.do("a1 FETCH 1 FLAGS", "a1 BAD FETCH is not valid in this state")
	s.fetchSelect("SELECT")
	s.do("a2 FETCH 0 FLAGS", `a2 BAD invalid sequence set "0"`)
	s.do("a3 FETCH 2 FLAGS", "a3 BAD invalid message sequence number 2")
	s.do("a4 FETCH 1:3 FLAGS", "a4 BAD invalid message sequence number 3")
	s.do("a5 FETCH 1 (FLAGS BOGUS)", `a5 BAD invalid FETCH item "BOGUS"`)
	s.do("a6 FETCH 1 BODY[4.BOGUS]", `a6 BAD invalid section "BOGUS"`)
	s.do("a7 FETCH 1 (EMAILID)", "a7 BAD unsupported FETCH item EMAILID")
	s.do("a8 FETCH 1 (FLAGS THREADID)", "a8 BAD unsupported FETCH item THREADID")
	s.do("a9 FETCH 1 (EMAILID THREADID)", "a9 BAD unsupported FETCH item EMAILID")
	s.do("a10 UID FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)",
		"a10 BAD FETCH modifier VANISHED needs ENABLE QRESYNC first")
	s.do("a11 FETCH 1 BINARY[1.MIME]", `a11 BAD invalid FETCH item "BINARY[1.MIME]"`)
	// Nothing was set \Seen by the refused commands.
	s.do("a12 FETCH 1 FLAGS", `* 1 FETCH (FLAGS (\Recent))`, "a12 OK FETCH completed")
	s.do("a13 CLOSE", "a13 OK CLOSE completed")
	s.do("a14 FETCH 1 FLAGS", "a14 BAD FETCH is not valid in this state")
}

func TestFetchSections(t *testing.T) {
	e := newEnv(t)
	fetchTestAppend(t, e, fetchMultipart, folder.Flags{}, fetchDate)
	s := e.dial(t)
	s.login()
	s.fetchSelect("EXAMINE")
	s.do("a1 FETCH 1 BODY.PEEK[HEADER]", fetchLines("* 1 FETCH (BODY[HEADER] {293}", mpHeaderLines, ")", "a1 OK FETCH completed")...)
	s.do("a2 FETCH 1 RFC822.HEADER", fetchLines("* 1 FETCH (RFC822.HEADER {293}", mpHeaderLines, ")", "a2 OK FETCH completed")...)
	// The field list as sent, matched without case, the blank line kept
	// (RFC 9051 §6.4.5).
	s.do("a3 FETCH 1 BODY.PEEK[HEADER.FIELDS (subject FROM X-None)]",
		`* 1 FETCH (BODY[HEADER.FIELDS (subject FROM X-None)] {66}`,
		`From: "Ann Example" <ann@example.org>`, "Subject: multipart test", "", ")", "a3 OK FETCH completed")
	s.do(`a4 FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (From To Subject Date "Message-ID")]`,
		`* 1 FETCH (BODY[HEADER.FIELDS.NOT (From To Subject Date Message-ID)] {67}`,
		"MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="XX"`, "", ")", "a4 OK FETCH completed")
	s.do("a5 FETCH 1 BODY.PEEK[TEXT]<0.20>", "* 1 FETCH (BODY[TEXT]<0> {20}", "preamble", "--XX", "Cont)", "a5 OK FETCH completed")
	s.do("a6 FETCH 1 (BODY.PEEK[1] BODY.PEEK[2.MIME])",
		"* 1 FETCH (BODY[1] {17}", "caf=C3=A9 =", "soft BODY[2.MIME] {142}",
		`Content-Type: application/octet-stream; name="a.bin"`, "Content-Transfer-Encoding: base64",
		`Content-Disposition: attachment; filename="a.bin"`, "", ")", "a6 OK FETCH completed")
	s.do("a7 FETCH 1 BODY.PEEK[2]", "* 1 FETCH (BODY[2] {12}", "AGJpbgBkYXRh)", "a7 OK FETCH completed")
	// Parts of an embedded message (RFC 9051 §6.4.5: 3.HEADER, 3.TEXT,
	// and 3.1 its single body).
	s.do("a8 FETCH 1 (BODY.PEEK[3] BODY.PEEK[3.HEADER] BODY.PEEK[3.TEXT] BODY.PEEK[3.1]<2.3> BODY.PEEK[3.MIME])",
		"* 1 FETCH (BODY[3] {47}", "From: x@y.example", "Subject: inner", "", "inner body BODY[3.HEADER] {37}",
		"From: x@y.example", "Subject: inner", "", " BODY[3.TEXT] {10}", "inner body BODY[3.1]<2> {3}",
		"ner BODY[3.MIME] {32}", "Content-Type: message/rfc822", "", ")", "a8 OK FETCH completed")
	s.do("a9 FETCH 1 BODY.PEEK[3.HEADER.FIELDS (subject)]", "* 1 FETCH (BODY[3.HEADER.FIELDS (subject)] {18}",
		"Subject: inner", "", ")", "a9 OK FETCH completed")
	// Parts that do not exist, a partial past the end, HEADER of a part
	// that is no message: empty, and sent as a literal like every
	// section.
	s.do("a10 FETCH 1 (BODY.PEEK[4] BODY.PEEK[1.1] BODY.PEEK[1.HEADER] BODY.PEEK[TEXT]<1000.5>)",
		"* 1 FETCH (BODY[4] {0}", " BODY[1.1] {0}", " BODY[1.HEADER] {0}", " BODY[TEXT]<1000> {0}", ")", "a10 OK FETCH completed")
	// The whole message, and the RFC822 forms; EXAMINE sets no \Seen.
	body := strings.Split(strings.TrimSuffix(fetchMultipart, "\r\n"), "\r\n")
	s.do("a11 FETCH 1 BODY.PEEK[]", fetchLines("* 1 FETCH (BODY[] {673}", body, ")", "a11 OK FETCH completed")...)
	s.do("a12 FETCH 1 RFC822", fetchLines("* 1 FETCH (RFC822 {673}", body, ")", "a12 OK FETCH completed")...)
	s.do("a13 FETCH 1 RFC822.TEXT", fetchLines("* 1 FETCH (RFC822.TEXT {380}", body[8:], ")", "a13 OK FETCH completed")...)
	s.do("a14 FETCH 1 BODY[]<660.100>", "* 1 FETCH (BODY[]<660> {13}", "ody", "--XX--", ")", "a14 OK FETCH completed")
	s.do("a15 FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[TEXT]<2.4> BINARY.SIZE[2])",
		"* 1 FETCH (FLAGS (\\Recent) BODY[HEADER.FIELDS (Subject)] {27}", "Subject: multipart test", "",
		" BODY[TEXT]<2> {4}", "eamb BINARY.SIZE[2] 9)", "a15 OK FETCH completed")
}

// A single-part message: part 1 is its body (RFC 9051 §6.4.5), and
// MIME of it its header.
func TestFetchSinglePart(t *testing.T) {
	e := newEnv(t)
	fetchTestAppend(t, e, msg1, folder.Flags{}, fetchDate)
	s := e.dial(t)
	s.login()
	s.fetchSelect("EXAMINE")
	s.do("a1 FETCH 1 (BODY.PEEK[1] BODY.PEEK[2] BINARY.PEEK[1] BINARY.SIZE[1] BINARY.SIZE[])",
		"* 1 FETCH (BODY[1] {6}", "body", " BODY[2] {0}", " BINARY[1] {6}", "body", " BINARY.SIZE[1] 6 BINARY.SIZE[] 43)",
		"a1 OK FETCH completed")
	s.do("a2 FETCH 1 BODY.PEEK[1.MIME]", "* 1 FETCH (BODY[1.MIME] {37}", "From: a@example.org", "Subject: one", "", ")",
		"a2 OK FETCH completed")
}

// RFC 9051 §6.4.5: BODY[...] without PEEK, RFC822 and RFC822.TEXT set
// \Seen in a read-write mailbox, and the changed flags are part of the
// answer.
func TestFetchSetsSeen(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 5; i++ {
		fetchTestAppend(t, e, msg1, folder.Flags{}, fetchDate)
	}
	s := e.dial(t)
	s.login()
	s.fetchSelect("SELECT")
	s.do("a1 FETCH 1 BODY[TEXT]", `* 1 FETCH (FLAGS (\Seen \Recent) BODY[TEXT] {6}`, "body", ")", "a1 OK FETCH completed")
	// Already \Seen: nothing changes, no FLAGS.
	s.do("a2 FETCH 1 BODY[TEXT]", "* 1 FETCH (BODY[TEXT] {6}", "body", ")", "a2 OK FETCH completed")
	s.do("a3 FETCH 2 BODY.PEEK[TEXT]", "* 2 FETCH (BODY[TEXT] {6}", "body", ")", "a3 OK FETCH completed")
	s.do("a4 FETCH 2 RFC822.HEADER", "* 2 FETCH (RFC822.HEADER {37}", "From: a@example.org", "Subject: one", "", ")", "a4 OK FETCH completed")
	s.do("a5 FETCH 2 RFC822.SIZE", "* 2 FETCH (RFC822.SIZE 43)", "a5 OK FETCH completed")
	s.do("a6 UID FETCH 2 RFC822.TEXT", `* 2 FETCH (UID 2 FLAGS (\Seen \Recent) RFC822.TEXT {6}`, "body", ")", "a6 OK FETCH completed")
	s.do("a7 FETCH 3 (FLAGS RFC822)", `* 3 FETCH (FLAGS (\Seen \Recent) RFC822 {43}`, "From: a@example.org", "Subject: one", "", "body", ")",
		"a7 OK FETCH completed")
	s.do("a8 FETCH 4 BINARY.PEEK[1]", "* 4 FETCH (BINARY[1] {6}", "body", ")", "a8 OK FETCH completed")
	s.do("a9 FETCH 4 BINARY.SIZE[1]", "* 4 FETCH (BINARY.SIZE[1] 6)", "a9 OK FETCH completed")
	s.do("a10 FETCH 3:5 BINARY[1]", "* 3 FETCH (BINARY[1] {6}", "body", ")",
		`* 4 FETCH (FLAGS (\Seen \Recent) BINARY[1] {6}`, "body", ")",
		`* 5 FETCH (FLAGS (\Seen \Recent) BINARY[1] {6}`, "body", ")", "a10 OK FETCH completed")
	// Another session sees the change as an update, this one did not
	// hear of its own change twice.
	s.do("a11 NOOP", "a11 OK NOOP completed")
	// A read-only mailbox is not changed (RFC 9051 §6.3.3).
	fetchTestAppend(t, e, msg1, folder.Flags{}, fetchDate)
	s2 := e.dial(t)
	s2.login()
	s2.fetchSelect("EXAMINE")
	s2.do("b1 FETCH 6 (BODY[TEXT] FLAGS)", "* 6 FETCH (FLAGS (\\Recent) BODY[TEXT] {6}", "body", ")", "b1 OK FETCH completed")
	s2.do("b2 FETCH 6 FLAGS", "* 6 FETCH (FLAGS (\\Recent))", "b2 OK FETCH completed")
}

// RFC 3516: BINARY decodes the transfer encoding; the data goes as a
// literal8 when it holds NUL; a partial answers with its origin.
func TestFetchBinary(t *testing.T) {
	e := newEnv(t)
	fetchTestAppend(t, e, fetchMultipart, folder.Flags{}, fetchDate)
	fetchTestAppend(t, e, "Subject: uu\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n", folder.Flags{}, fetchDate)
	s := e.dial(t)
	s.login()
	s.do("a0 CAPABILITY", "* CAPABILITY "+e.srv.cmds.capabilities(stateAuth), "a0 OK CAPABILITY completed")
	if !strings.Contains(" "+e.srv.cmds.capabilities(stateSelected)+" ", " BINARY ") {
		t.Fatal("BINARY not advertised")
	}
	s.fetchSelect("SELECT")
	s.do("a1 FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])", "* 1 FETCH (BINARY[1] {10}", "café soft BINARY.SIZE[1] 10)", "a1 OK FETCH completed")
	s.do("a2 FETCH 1 (BINARY.PEEK[2] BINARY.SIZE[2])", "* 1 FETCH (BINARY[2] ~{9}", "\x00bin\x00data BINARY.SIZE[2] 9)", "a2 OK FETCH completed")
	// The partial counts decoded octets, and the name keeps only the
	// origin.
	s.do("a3 FETCH 1 BINARY.PEEK[2]<1.3>", "* 1 FETCH (BINARY[2]<1> {3}", "bin)", "a3 OK FETCH completed")
	s.do("a4 FETCH 1 BINARY.PEEK[2]<0.5>", "* 1 FETCH (BINARY[2]<0> ~{5}", "\x00bin\x00)", "a4 OK FETCH completed")
	s.do("a5 FETCH 1 BINARY.PEEK[1]<0.4>", "* 1 FETCH (BINARY[1]<0> {4}", "caf\xc3)", "a5 OK FETCH completed")
	// An empty answer is a literal, as for BODY.
	s.do("a6 FETCH 1 (BINARY.PEEK[9] BINARY.PEEK[1]<50.5> BINARY.SIZE[9])",
		"* 1 FETCH (BINARY[9] {0}", " BINARY[1]<50> {0}", " BINARY.SIZE[9] 0)", "a6 OK FETCH completed")
	// A message/rfc822 part and the whole message are not decoded.
	s.do("a7 FETCH 1 BINARY.SIZE[3]", "* 1 FETCH (BINARY.SIZE[3] 47)", "a7 OK FETCH completed")
	s.do("a8 FETCH 1 BINARY.PEEK[3.1]", "* 1 FETCH (BINARY[3.1] {10}", "inner body)", "a8 OK FETCH completed")
	s.do("a9 FETCH 1 BINARY.SIZE[]", "* 1 FETCH (BINARY.SIZE[] 673)", "a9 OK FETCH completed")
	// An encoding the server cannot undo (RFC 3516 §4.3).
	s.do("a10 FETCH 2 BINARY.PEEK[1]", "a10 NO [UNKNOWN-CTE] unknown Content-Transfer-Encoding; use BODY[] for the encoded part")
	s.do("a11 FETCH 2 BINARY.SIZE[1]", "a11 NO [UNKNOWN-CTE] unknown Content-Transfer-Encoding; use BODY[] for the encoded part")
	s.do("a12 FETCH 1:2 BINARY.SIZE[1]", "* 1 FETCH (BINARY.SIZE[1] 10)",
		"a12 NO [UNKNOWN-CTE] unknown Content-Transfer-Encoding; use BODY[] for the encoded part")
	s.do("a13 FETCH 2 BINARY.SIZE[]", "* 2 FETCH (BINARY.SIZE[] 93)", "a13 OK FETCH completed")
	s.do("a14 FETCH 2 BODY.PEEK[1]", "* 2 FETCH (BODY[1] {13}", "begin 644 x", ")", "a14 OK FETCH completed")
	// BINARY without PEEK sets \Seen.
	s.do("a15 FETCH 1 BINARY[2]", `* 1 FETCH (FLAGS (\Seen \Recent) BINARY[2] ~{9}`, "\x00bin\x00data)", "a15 OK FETCH completed")
}

// RFC 9051 §4.3: no NUL outside a literal8. BODY[] replaces it (the
// octet count stays), BINARY[] sends it as literal8 (RFC 3516 §4.2).
func TestFetchNUL(t *testing.T) {
	e := newEnv(t)
	fetchTestAppend(t, e, "Subject: nul\r\n\r\na\x00b\r\n", folder.Flags{}, fetchDate)
	s := e.dial(t)
	s.login()
	s.fetchSelect("EXAMINE")
	s.do("a1 FETCH 1 BODY.PEEK[]", "* 1 FETCH (BODY[] {21}", "Subject: nul", "", "a\x80b", ")", "a1 OK FETCH completed")
	s.do("a2 FETCH 1 BODY.PEEK[TEXT]", "* 1 FETCH (BODY[TEXT] {5}", "a\x80b", ")", "a2 OK FETCH completed")
	// Loaded rather than streamed: the same.
	s.do("a3 FETCH 1 (BODY.PEEK[TEXT] BODY.PEEK[1])", "* 1 FETCH (BODY[TEXT] {5}", "a\x80b", " BODY[1] {5}", "a\x80b", ")", "a3 OK FETCH completed")
	s.do("a4 FETCH 1 BINARY.PEEK[]", "* 1 FETCH (BINARY[] ~{21}", "Subject: nul", "", "a\x00b", ")", "a4 OK FETCH completed")
	s.do("a5 FETCH 1 BINARY.PEEK[1]", "* 1 FETCH (BINARY[1] ~{5}", "a\x00b", ")", "a5 OK FETCH completed")
	s.do("a6 FETCH 1 (BINARY.PEEK[1] BODY.PEEK[1])", "* 1 FETCH (BINARY[1] ~{5}", "a\x00b", " BODY[1] {5}", "a\x80b", ")", "a6 OK FETCH completed")
}

// ENVELOPE and BODYSTRUCTURE strings that cannot be quoted go as
// literals: 8-bit without UTF8=ACCEPT, CR or LF always.
func TestFetchEnvelopeLiterals(t *testing.T) {
	e := newEnv(t)
	fetchTestAppend(t, e, "Subject: caf\xc3\xa9\r\nFrom: \"Jo\rX\" <jo@example.org>\r\nContent-Type: text/plain; name=\"d\xc3\xa9\"\r\n\r\nx\r\n", folder.Flags{}, fetchDate)
	s := e.dial(t)
	s.login()
	s.fetchSelect("EXAMINE")
	from := "(({4}\r\nJo\rX NIL \"jo\" \"example.org\"))"
	s.do("a1 FETCH 1 ENVELOPE", strings.Split("* 1 FETCH (ENVELOPE (NIL {5}\r\ncafé "+from+" "+from+" "+from+" NIL NIL NIL NIL NIL))", "\r\n")...)
	s.expect("a1", "a1 OK FETCH completed")
	s.do("a2 FETCH 1 BODY", "* 1 FETCH (BODY (\"text\" \"plain\" (\"name\" {3}", "dé \"charset\" \"us-ascii\") NIL NIL \"7BIT\" 3 1))", "a2 OK FETCH completed")
	s.do("a3 ENABLE UTF8=ACCEPT", "a3 BAD ENABLE is not valid in this state")
	s2 := e.dial(t)
	s2.login()
	s2.do("b1 ENABLE UTF8=ACCEPT", "* ENABLED UTF8=ACCEPT", "b1 OK ENABLE completed")
	s2.fetchSelect("EXAMINE")
	from = "(({4}\r\nJo\rX NIL \"jo\" \"example.org\"))"
	s2.do("b2 FETCH 1 ENVELOPE", strings.Split("* 1 FETCH (ENVELOPE (NIL \"café\" "+from+" "+from+" "+from+" NIL NIL NIL NIL NIL))", "\r\n")...)
	s2.expect("b2", "b2 OK FETCH completed")
}

// Messages another session expunged are left out until this one hears
// of the expunge (RFC 9051 §7.5.1), and no EXPUNGE comes during FETCH.
func TestFetchExpungedElsewhere(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 3; i++ {
		fetchTestAppend(t, e, msg1, folder.Flags{}, fetchDate)
	}
	s := e.dial(t)
	s.login()
	s.fetchSelect("SELECT")
	s2 := e.dial(t)
	s2.login()
	s2.fetchSelect("SELECT")
	s2.do(`b1 STORE 2 +FLAGS.SILENT (\Deleted)`, "b1 OK STORE completed")
	s2.do("b2 EXPUNGE", "* 2 EXPUNGE", "b2 OK EXPUNGE completed")
	s.do("a1 FETCH 1:3 (FLAGS BODY.PEEK[TEXT])", `* 1 FETCH (FLAGS (\Recent) BODY[TEXT] {6}`, "body", ")",
		`* 3 FETCH (FLAGS (\Recent) BODY[TEXT] {6}`, "body", ")", "a1 OK FETCH completed")
	s.do("a2 NOOP", "* 2 EXPUNGE", "a2 OK NOOP completed")
	s.do("a3 FETCH 1:* UID", "* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)", "a3 OK FETCH completed")
}

// messageFile finds the file of a stored message by its content.
func messageFile(t *testing.T, root, content string) string {
	t.Helper()
	var found string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != "" {
			return nil
		}
		// Maildir keeps LF line ends.
		if b, err := os.ReadFile(p); err == nil && (string(b) == content || string(b) == strings.ReplaceAll(content, "\r\n", "\n")) {
			found = p
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no file holds %q", content)
	}
	return found
}

// A message file changed or removed behind the index: the literal keeps
// the size the index announces (padded with spaces, or cut; Maildir reads
// no further than the file's indexed size), and a file
// that is gone is taken over as an expunge (the FETCH leaves it out and
// the EXPUNGE comes when it may, RFC 9051 §7.5.1).
func TestFetchFileChanged(t *testing.T) {
	e, root := newFetchEnv(t)
	const m1 = "Subject: one\r\n\r\nshrinks\r\n"
	const m2 = "Subject: two\r\n\r\ngrows\r\n"
	const m3 = "Subject: three\r\n\r\ngoes\r\n"
	for _, m := range []string{m1, m2, m3} {
		fetchTestAppend(t, e, m, folder.Flags{}, fetchDate)
	}
	f1, f2, f3 := messageFile(t, root, m1), messageFile(t, root, m2), messageFile(t, root, m3)
	s := e.dial(t)
	s.login()
	s.fetchSelect("EXAMINE")
	os.WriteFile(f1, []byte("Subject: one\r\n\r\nshr"), 0o600)
	os.WriteFile(f2, []byte("Subject: two\r\n\r\ngrows and grows\r\n"), 0o600)
	os.Remove(f3)
	s.do("a1 FETCH 1:3 BODY.PEEK[]",
		"* 1 FETCH (BODY[] {25}", "Subject: one", "", "shr      )",
		"* 2 FETCH (BODY[] {23}", "Subject: two", "", "grow   )",
		"a1 OK FETCH completed")
	s.do("a2 FETCH 1:3 (BODY.PEEK[TEXT] BODY.PEEK[HEADER.FIELDS (Subject)])",
		"* 1 FETCH (BODY[TEXT] {9}", "shr       BODY[HEADER.FIELDS (Subject)] {16}", "Subject: one", "", ")",
		"* 2 FETCH (BODY[TEXT] {7}", "grow    BODY[HEADER.FIELDS (Subject)] {16}", "Subject: two", "", ")",
		"a2 OK FETCH completed")
	s.do("a3 FETCH 3 FLAGS", "a3 OK FETCH completed")
	s.do("a4 NOOP", "* 3 EXPUNGE", "a4 OK NOOP completed")
}

func TestFetchManyMessages(t *testing.T) {
	e, root := newFetchEnv(t)
	const n = 1100 // more than two batches of fetchBatch
	fetchTestAppend(t, e, "Subject: 1\r\n\r\nbody 1\r\n", folder.Flags{}, fetchDate)
	// The others arrive as files another MDA dropped into new/; the
	// SELECT's sync gives them UIDs in name order.
	for i := 2; i <= n; i++ {
		name := filepath.Join(root, "new", fmt.Sprintf("%d.m%04d.example", 1700000000+i, i))
		if err := os.WriteFile(name, []byte(fmt.Sprintf("Subject: %d\n\nbody %d\n", i, i)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := e.dial(t)
	s.login()
	s.fetchSelect("EXAMINE")
	want := []string{}
	for i := 1; i <= n; i++ {
		want = append(want, fmt.Sprintf(`* %d FETCH (UID %d ENVELOPE (NIL "%d" NIL NIL NIL NIL NIL NIL NIL NIL))`, i, i, i))
	}
	s.do("a1 UID FETCH 1:* ENVELOPE", append(want, "a1 OK FETCH completed")...)
	want = want[:0]
	for i := 1; i <= n; i++ {
		body := fmt.Sprintf("body %d", i)
		want = append(want, fmt.Sprintf("* %d FETCH (BODY[TEXT] {%d}", i, len(body)+2), body, ")")
	}
	s.do("a2 FETCH 1:* BODY.PEEK[TEXT]", append(want, "a2 OK FETCH completed")...)
}

// Section helpers on their own: header field filters and decoders.
func TestFetchHeaderFields(t *testing.T) {
	hdr := []byte("From: a\r\nX-Long: one\r\n two\r\nbroken line\r\n cont\r\nsubject : s\r\n\r\n")
	for _, c := range []struct {
		names []string
		not   bool
		want  string
	}{
		{[]string{"x-long"}, false, "X-Long: one\r\n two\r\n\r\n"},
		{[]string{"SUBJECT"}, false, "subject : s\r\n\r\n"},
		{[]string{"From", "X-Long"}, true, "subject : s\r\n\r\n"},
		{[]string{"nothing"}, false, "\r\n"},
	} {
		if got := string(appendHeaderFields(nil, hdr, c.names, c.not)); got != c.want {
			t.Errorf("%v not=%v: %q, want %q", c.names, c.not, got, c.want)
		}
	}
	// A header without a blank line (a message with no body) gets none.
	if got := string(appendHeaderFields(nil, []byte("A: 1\r\nB: 2\r\n"), []string{"a"}, false)); got != "A: 1\r\n" {
		t.Errorf("no blank line: %q", got)
	}
}

func TestFetchDecoders(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"AGJpbgBkYXRh", "\x00bin\x00data"},
		{"aGVs\r\nbG8=\r\n", "hello"},
		{"aGVsbA==", "hell"},
		{"a G*V!s bG8", "hello"},
		{"", ""},
	} {
		if got := string(appendBase64(nil, []byte(c.in))); got != c.want {
			t.Errorf("base64 %q: %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"caf=C3=A9 =\r\nsoft", "café soft"},
		{"a=3d=3Db  \r\nc\t\r\n", "a==b\r\nc\r\n"},
		{"bad=ZZ=4", "bad=ZZ=4"},
		{"x=\r\n", "x"},
		{"lf\nonly=\n", "lf\nonly"},
	} {
		if got := string(appendQP(nil, []byte(c.in))); got != c.want {
			t.Errorf("qp %q: %q, want %q", c.in, got, c.want)
		}
	}
}

// benchFetch fills INBOX with n messages and returns a logged-in raw
// client that has selected it.
func benchFetch(b *testing.B, n int) (net.Conn, *bufio.Reader) {
	b.Helper()
	e, root := newFetchEnv(b)
	// One delivery creates the account; the rest are files dropped into
	// new/ as another MDA would, which the SELECT's sync indexes: much
	// faster than n fsynced appends.
	fetchTestAppend(b, e, "Subject: first\r\n\r\nx\r\n", folder.Flags{}, fetchDate)
	for i := 1; i < n; i++ {
		msg := fmt.Sprintf("From: \"Sender %d\" <sender%d@example.org>\n"+
			"To: Team <team@example.com>, other%d@example.net\nCc: cc@example.com\n"+
			"Subject: benchmark message number %d about something\n"+
			"Date: Mon, 2 Jan 2006 15:04:05 -0700\nMessage-ID: <%d.bench@example.org>\n"+
			"Content-Type: text/plain; charset=utf-8\n\n%s",
			i, i, i, i, i, strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n", 40))
		if err := os.WriteFile(filepath.Join(root, "new", fmt.Sprintf("%d.bench%d.example", 1700000000+i, i)), []byte(msg), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	c := e.l.Dial()
	b.Cleanup(func() { c.Close() })
	r := bufio.NewReaderSize(c, 256<<10)
	r.ReadString('\n')
	benchDo(b, c, r, "l LOGIN u p")
	benchDo(b, c, r, "s EXAMINE INBOX")
	if got := benchDo(b, c, r, "c UID FETCH 1:* UID"); got < int64(n*15) {
		b.Fatalf("only %d octets for %d messages", got, n)
	}
	return c, r
}

// benchDo sends a command and reads to its tagged reply, skipping
// literals, allocating nothing per line.
func benchDo(b *testing.B, c net.Conn, r *bufio.Reader, cmd string) int64 {
	tag := []byte(cmd[:strings.IndexByte(cmd, ' ')+1])
	io.WriteString(c, cmd+"\r\n")
	var total int64
	for {
		line, err := r.ReadSlice('\n')
		total += int64(len(line))
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		if len(line) > 3 && line[len(line)-3] == '}' {
			i := bytes.LastIndexByte(line, '{')
			var sz int64
			for _, d := range line[i+1 : len(line)-3] {
				sz = sz*10 + int64(d-'0')
			}
			m, err := io.CopyN(io.Discard, r, sz)
			if err != nil {
				b.Fatal(err)
			}
			total += m
			continue
		}
		if bytes.HasPrefix(line, tag) {
			if !bytes.HasPrefix(line[len(tag):], []byte("OK")) {
				b.Fatalf("%s: %s", cmd, line)
			}
			return total
		}
	}
}

// BenchmarkFetchEnvelope: UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE) of
// 2,000 messages over a pipe; allocs/op are the server's and the
// client's, the client's being a handful.
func BenchmarkFetchEnvelope(b *testing.B) {
	c, r := benchFetch(b, 2000)
	b.ReportAllocs()
	b.ResetTimer()
	var n int64
	for i := 0; i < b.N; i++ {
		n = benchDo(b, c, r, "f"+strconv.Itoa(i)+" UID FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)")
	}
	b.SetBytes(n)
}

// BenchmarkFetchBodies: UID FETCH 1:* (BODY.PEEK[]) of 2,000 messages.
func BenchmarkFetchBodies(b *testing.B) {
	c, r := benchFetch(b, 2000)
	b.ReportAllocs()
	b.ResetTimer()
	var n int64
	for i := 0; i < b.N; i++ {
		n = benchDo(b, c, r, "f"+strconv.Itoa(i)+" UID FETCH 1:* (BODY.PEEK[])")
	}
	b.SetBytes(n)
}

// RFC 3516 §4.4: a message APPENDed as a literal8 keeps its octets. A
// binary part's bare LFs and CRs are data: BINARY gives them back as
// sent, while BODY[] and RFC822.SIZE serve the canonical form (imaptest's
// append-binary).
func TestAppendBinaryKeepsOctets(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.login()
	msg := "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\ntext\r\n--b\r\n" +
		"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00-\xe4\n\r\n\n\r\r\n--b--\r\n"
	s.send("a1 APPEND INBOX ~{" + itoa(uint32(len(msg))) + "+}\r\n" + msg + "\r\n")
	if l := s.line(); !strings.HasPrefix(l, "a1 OK [APPENDUID ") {
		t.Fatalf("APPEND: %q", l)
	}
	s.fetchSelect("EXAMINE")
	s.do("a2 FETCH 1 (BINARY.SIZE[2] BINARY.PEEK[2])", "* 1 FETCH (BINARY.SIZE[2] 8 BINARY[2] ~{8}")
	if got := s.octets(8); got != "\x00-\xe4\n\r\n\n\r" {
		t.Fatalf("BINARY[2] = %q", got)
	}
	s.expect("a2", ")", "a2 OK FETCH completed")
	s.do("a3 FETCH 1 BINARY.PEEK[2]<1.3>", "* 1 FETCH (BINARY[2]<1> {3}")
	if got := s.octets(3); got != "-\xe4\n" {
		t.Fatalf("BINARY[2]<1.3> = %q", got)
	}
	s.expect("a3", ")", "a3 OK FETCH completed")
	// Other parts and other items see the canonical form.
	s.do("a4 FETCH 1 (BINARY.PEEK[1] RFC822.SIZE)", "* 1 FETCH (BINARY[1] {4}", "text RFC822.SIZE 185)", "a4 OK FETCH completed")
	s.do("a5 FETCH 1 BODY.PEEK[2]", "* 1 FETCH (BODY[2] {10}", "\x80-\xe4", "", "", "\r)", "a5 OK FETCH completed")
	// An ordinary literal is canonicalised on the way in.
	lf := "Subject: lf\n\n\x01-\xe4\n\r\n\n"
	s.send("a6 APPEND INBOX {" + itoa(uint32(len(lf))) + "+}\r\n" + lf + "\r\n")
	s.expect("a6", "* 2 EXISTS", "* 2 RECENT")
	if l := s.line(); !strings.HasPrefix(l, "a6 OK [APPENDUID ") {
		t.Fatalf("APPEND: %q", l)
	}
	s.do("a8 FETCH 2 BINARY.SIZE[1]", "* 2 FETCH (BINARY.SIZE[1] 9)", "a8 OK FETCH completed")
}

// A streamed section that ends before the message does is no sign of a
// file that grew; a file that did grow is served at the size the index
// gave the client.
func TestFetchStreamGrownFile(t *testing.T) {
	e := newEnv(t)
	fetchTestAppend(t, e, "Subject: grow\r\n\r\nbody\r\n", folder.Flags{}, fetchDate)
	s := e.dial(t)
	s.login()
	s.fetchSelect("EXAMINE")
	s.do("a1 FETCH 1 BODY.PEEK[HEADER]", "* 1 FETCH (BODY[HEADER] {17}", "Subject: grow", "", ")", "a1 OK FETCH completed")
	s.do("a2 FETCH 1 BODY.PEEK[]<0.5>", "* 1 FETCH (BODY[]<0> {5}", "Subje)", "a2 OK FETCH completed")
	if w := e.logs.Warnings(); len(w) > 0 {
		t.Fatalf("warnings: %q", w)
	}
	files, err := filepath.Glob(filepath.Join(e.mailDir, "new", "*"))
	if err != nil || len(files) != 1 {
		t.Fatalf("message files %v, %v", files, err)
	}
	fd, err := os.OpenFile(files[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fd.WriteString("more\n")
	fd.Close()
	// Maildir files are never written in place: the indexed size is
	// read, what another program added is not.
	s.do("a3 FETCH 1 BODY.PEEK[]", "* 1 FETCH (BODY[] {23}", "Subject: grow", "", "body", ")", "a3 OK FETCH completed")
}
