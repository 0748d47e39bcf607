package imap

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/storaged/storaged/folder"
)

const (
	capsPre  = "IMAP4rev2 IMAP4rev1 LITERAL+ ID ENABLE AUTH=PLAIN AUTH=LOGIN SASL-IR"
	capsPost = "IMAP4rev2 IMAP4rev1 LITERAL+ ID ENABLE UNAUTHENTICATE UTF8=ACCEPT NAMESPACE UNSELECT CHILDREN SPECIAL-USE CREATE-SPECIAL-USE STATUS=SIZE LIST-EXTENDED LIST-STATUS UIDPLUS MOVE MULTIAPPEND BINARY PREVIEW SAVEDATE ESEARCH SEARCHRES WITHIN SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS METADATA APPENDLIMIT=67108864 IDLE QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE CONDSTORE QRESYNC COMPRESS=DEFLATE NOTIFY"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestAnyState(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.do("a1 CAPABILITY", "* CAPABILITY "+capsPre, "a1 OK CAPABILITY completed")
	s.do("a2 noop", "a2 OK NOOP completed")
	// RFC 2971: ID before login, as Apple Mail and Outlook send it.
	s.do(`a3 ID ("name" "Mail" "version" "16.0")`, `* ID ("name" "storaged" "vendor" "storaged")`, "a3 OK ID completed")
	s.do("a4 ID NIL", `* ID ("name" "storaged" "vendor" "storaged")`, "a4 OK ID completed")
	s.do("a5 LOGOUT", "* BYE logging out", "a5 OK LOGOUT completed")
	s.closed()
}

func TestEmptyLinesAndCase(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	// iOS Mail sends empty lines: ignored, not answered.
	s.send("\r\n\r\n")
	s.do("a1 capability", "* CAPABILITY "+capsPre, "a1 OK CAPABILITY completed")
	s.do("a2 login u P", "a2 NO [AUTHENTICATIONFAILED] authentication failed")
	s.do("a3 Login u p", "a3 OK [CAPABILITY "+capsPost+"] logged in")
}

func TestStateErrors(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.do("a1 ENABLE CONDSTORE", "a1 BAD ENABLE is not valid in this state")
	s.do("a2 UNAUTHENTICATE", "a2 BAD UNAUTHENTICATE is not valid in this state")
	s.do("a3 FOO", "a3 BAD unknown command FOO")
	s.login()
	s.do("a4 LOGIN u p", "a4 BAD LOGIN is not valid in this state")
	s.do("a5 AUTHENTICATE PLAIN", "a5 BAD AUTHENTICATE is not valid in this state")
	s.do("a6 CAPABILITY", "* CAPABILITY "+capsPost, "a6 OK CAPABILITY completed")
	// Unknown extensions are ignored (RFC 5161 §3.1).
	s.do("a7 ENABLE CONDSTORE X-UNKNOWN", "* ENABLED CONDSTORE", "a7 OK ENABLE completed")
	s.do("a8 UNAUTHENTICATE", "a8 OK UNAUTHENTICATE completed")
	s.do("a9 CAPABILITY", "* CAPABILITY "+capsPre, "a9 OK CAPABILITY completed")
	s.login()
}

func TestLogin(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.do("a1 LOGIN u wrong", "a1 NO [AUTHENTICATIONFAILED] authentication failed")
	s.do("a2 LOGIN nobody p", "a2 NO [AUTHENTICATIONFAILED] authentication failed")
	s.do(`a3 LOGIN "u" {1+}`+"\r\np", "a3 OK [CAPABILITY "+capsPost+"] logged in")
}

func TestLoginSyncLiteral(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.send("a1 LOGIN {1}\r\n")
	s.expect("literal", "+ Ready for literal data")
	s.send("u p\r\n")
	s.expect("login", "a1 OK [CAPABILITY "+capsPost+"] logged in")
}

func TestAuthenticatePlain(t *testing.T) {
	e := newEnv(t)
	// SASL-IR (RFC 4959).
	s := e.dial(t)
	s.do("a1 AUTHENTICATE PLAIN "+b64("\x00u\x00wrong"), "a1 NO [AUTHENTICATIONFAILED] authentication failed")
	s.do("a2 AUTHENTICATE PLAIN "+b64("u\x00u\x00p"), "a2 OK [CAPABILITY "+capsPost+"] logged in")

	// Without an initial response: an empty challenge.
	s = e.dial(t)
	s.send("b1 AUTHENTICATE plain\r\n")
	s.expect("challenge", "+ ")
	s.send(b64("\x00u\x00p") + "\r\n")
	s.expect("response", "b1 OK [CAPABILITY "+capsPost+"] logged in")

	// Cancelled (RFC 9051 §6.2.2: BAD), not base64, malformed, acting
	// for another user.
	s = e.dial(t)
	s.send("c1 AUTHENTICATE PLAIN\r\n")
	s.expect("challenge", "+ ")
	s.send("*\r\n")
	s.expect("cancel", "c1 BAD AUTHENTICATE cancelled")
	s.send("c2 AUTHENTICATE PLAIN\r\n")
	s.expect("challenge", "+ ")
	s.send("!!!\r\n")
	s.expect("garbage", "c2 BAD SASL response is not base64")
	s.do("c3 AUTHENTICATE PLAIN "+b64("u\x00p"), "c3 BAD malformed PLAIN response (authzid NUL authcid NUL password)")
	s.do("c4 AUTHENTICATE PLAIN "+b64("admin\x00u\x00p"), "c4 NO [AUTHENTICATIONFAILED] authentication failed")
	s.do("c5 AUTHENTICATE CRAM-MD5", "c5 NO [CANNOT] unsupported authentication mechanism CRAM-MD5")
	s.do("c6 AUTHENTICATE PLAIN =", "c6 BAD malformed PLAIN response (authzid NUL authcid NUL password)")
}

func TestAuthenticateLogin(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.send("a1 AUTHENTICATE LOGIN\r\n")
	s.expect("user prompt", "+ "+b64("Username:"))
	s.send(b64("u") + "\r\n")
	s.expect("password prompt", "+ "+b64("Password:"))
	s.send(b64("p") + "\r\n")
	s.expect("done", "a1 OK [CAPABILITY "+capsPost+"] logged in")

	s = e.dial(t)
	s.send("b1 AUTHENTICATE LOGIN " + b64("u") + "\r\n")
	s.expect("password prompt", "+ "+b64("Password:"))
	s.send(b64("nope") + "\r\n")
	s.expect("done", "b1 NO [AUTHENTICATIONFAILED] authentication failed")
}

func TestSyntaxErrorsKeepTheConnection(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.do("a1 LOGIN u", "a1 BAD missing argument")
	s.do("a2 NOOP extra", "a2 BAD unexpected argument")
	s.do("a3 CAPABILITY", "* CAPABILITY "+capsPre, "a3 OK CAPABILITY completed")
	// A literal for a command that may not run now is refused before
	// its octets come: no "+", and the stream stays in step.
	s.do("a4 ENABLE {5}", "a4 BAD ENABLE is not valid in this state")
	s.do("a5 NOOP", "a5 OK NOOP completed")
}

func TestGarbageEndsTheConnection(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	for i := 0; i < 4; i++ {
		s.do("GET / HTTP/1.1", "GET BAD invalid command name")
	}
	s.send("GET / HTTP/1.1\r\n")
	s.expect("last", "GET BAD invalid command name", "* BYE too many invalid commands")
	s.closed()
}

func TestShutdownSaysBye(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.login()
	done := make(chan struct{})
	go func() { e.srv.Shutdown(); close(done) }()
	s.expect("shutdown", "* BYE server shutting down")
	s.closed()
	<-done
}

func TestPipelined(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.send("a1 NOOP\r\na2 LOGIN u p\r\na3 CAPABILITY\r\n")
	s.expect("pipelined", "a1 OK NOOP completed", "a2 OK [CAPABILITY "+capsPost+"] logged in",
		"* CAPABILITY "+capsPost, "a3 OK CAPABILITY completed")
}

func TestEnableUTF8(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.login()
	s.do("a1 CREATE \"\xc3\xa9t\xc3\xa9\"", "a1 BAD 8-bit mailbox names need ENABLE UTF8=ACCEPT; use modified UTF-7")
	s.do("a2 CREATE &AOk-t&AOk-", "a2 OK CREATE completed")
	s.do("a3 ENABLE utf8=accept", "* ENABLED UTF8=ACCEPT", "a3 OK ENABLE completed")
	s.do("a4 ENABLE UTF8=ACCEPT", "* ENABLED", "a4 OK ENABLE completed")
	// Names are UTF-8 both ways now (RFC 6855 §3).
	s.do("a5 STATUS \"\xc3\xa9t\xc3\xa9\" (MESSAGES)", "* STATUS \"\xc3\xa9t\xc3\xa9\" (MESSAGES 0)", "a5 OK STATUS completed")
	s.do("a6 APPEND \"\xc3\xa9t\xc3\xa9\" UTF8 (~{18+}\r\nSubject: \xc3\xa9\r\n\r\nx\r\n)",
		"a6 OK [APPENDUID "+e.uidValidity(t, "\u00e9t\u00e9")+" 1] APPEND completed")
	s.do("a7 CREATE \"\xff\"", "a7 BAD mailbox name is not valid UTF-8")
}

// After ENABLE IMAP4rev2 there is no RECENT and no \Recent (RFC 9051
// Appendix E); IMAP4rev1 clients keep both.
func TestRev2HasNoRecent(t *testing.T) {
	e := newEnv(t)
	e.appendMsg(t, "INBOX", msg1, folder.Flags{})
	s := e.dial(t)
	s.login()
	s.do("a1 ENABLE IMAP4rev2", "* ENABLED IMAP4REV2", "a1 OK ENABLE completed")
	s.send("a2 SELECT INBOX\r\n")
	for l := s.line(); !strings.HasPrefix(l, "a2 "); l = s.line() {
		if strings.HasSuffix(l, " RECENT") {
			t.Fatalf("RECENT sent to an IMAP4rev2 client: %q", l)
		}
	}
	s.do("a3 FETCH 1 FLAGS", "* 1 FETCH (FLAGS ())", "a3 OK FETCH completed")
	e.appendMsg(t, "INBOX", msg1, folder.Flags{})
	s.do("a4 NOOP", "* 2 EXISTS", "a4 OK NOOP completed")
}

// A user database field withdraws capabilities from one user's clients:
// not listed, and ENABLE leaves them off.
func TestWithdrawnCapabilities(t *testing.T) {
	e := newEnv(t)
	if err := e.srv.users.SetExtra("u", "userdb_imap_withdraw", "condstore,QRESYNC"); err != nil {
		t.Fatal(err)
	}
	s := e.dial(t)
	want := strings.Replace(capsPost, " CONDSTORE QRESYNC", "", 1)
	s.do("a1 LOGIN u p", "a1 OK [CAPABILITY "+want+"] logged in")
	s.do("a2 CAPABILITY", "* CAPABILITY "+want, "a2 OK CAPABILITY completed")
	s.do("a3 ENABLE QRESYNC CONDSTORE UTF8=ACCEPT", "* ENABLED UTF8=ACCEPT", "a3 OK ENABLE completed")
	// Another user keeps them.
	if err := e.srv.users.Add("v", "p", nil); err != nil {
		t.Fatal(err)
	}
	s2 := e.dial(t)
	s2.do("b1 LOGIN v p", "b1 OK [CAPABILITY "+capsPost+"] logged in")
}
