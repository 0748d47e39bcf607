package imap

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/storaged/storaged/folder"
)

// RFC 7162 §3.2: ENABLE QRESYNC, SELECT (QRESYNC ...) with VANISHED
// (EARLIER) and the changed messages, known-uids, a UIDVALIDITY that does
// not match, [CLOSED], UID FETCH (CHANGEDSINCE n VANISHED), and VANISHED
// instead of EXPUNGE.
func TestQResync(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 6; i++ {
		fetchTestAppend(t, e, "Subject: q\r\n\r\nbody\r\n", folder.Flags{}, fetchDate)
	}
	uv := e.uidValidity(t, "INBOX")
	s := e.dial(t)
	s.login()
	s.do("a1 ENABLE QRESYNC", "* ENABLED QRESYNC", "a1 OK ENABLE completed")
	s.selectInbox("a2") // HIGHESTMODSEQ 7: six appends after the mailbox's 1
	// Another session changes 2, expunges 3 and 5, and adds a message.
	o := e.dial(t)
	o.login()
	o.selectInbox("o0")
	o.do(`o1 STORE 2 +FLAGS.SILENT (\Flagged)`, "o1 OK STORE completed")
	o.do(`o2 STORE 3,5 +FLAGS.SILENT (\Deleted)`, "o2 OK STORE completed")
	o.do("o3 EXPUNGE", "* 3 EXPUNGE", "* 4 EXPUNGE", "o3 OK EXPUNGE completed")
	// The QRESYNC session learns the expunges as one VANISHED.
	s.do("a3 NOOP", "* VANISHED 3,5", `* 2 FETCH (UID 2 FLAGS (\Flagged \Recent) MODSEQ (8))`, "a3 OK NOOP completed")
	fetchTestAppend(t, e, "Subject: q\r\n\r\nbody\r\n", folder.Flags{}, fetchDate)
	s.do("a4 NOOP", "* 5 EXISTS", "* 5 RECENT", "a4 OK NOOP completed")
	// Reselecting with what it knew at MODSEQ 7: CLOSED, then the usual,
	// then VANISHED (EARLIER) and what changed, the new message too.
	s.send("b1 SELECT INBOX (QRESYNC (" + uv + " 7))\r\n")
	var got []string
	for l := s.line(); !strings.HasPrefix(l, "b1 "); l = s.line() {
		got = append(got, l)
	}
	want := []string{"* OK [CLOSED] previous mailbox closed", "* VANISHED (EARLIER) 3,5",
		`* 2 FETCH (UID 2 FLAGS (\Flagged) MODSEQ (8))`, `* 5 FETCH (UID 7 FLAGS () MODSEQ (12))`}
	if got[0] != want[0] || strings.Join(got[len(got)-3:], "|") != strings.Join(want[1:], "|") || !contains(got, "* OK [HIGHESTMODSEQ 12] highest") {
		t.Fatalf("SELECT QRESYNC:\n%s", strings.Join(got, "\n"))
	}
	// known-uids narrows VANISHED; a MODSEQ past the changes sends none.
	s.send("b2 EXAMINE INBOX (QRESYNC (" + uv + " 7 1:4))\r\n")
	got = got[:0]
	for l := s.line(); !strings.HasPrefix(l, "b2 "); l = s.line() {
		got = append(got, l)
	}
	if !contains(got, "* VANISHED (EARLIER) 3") || contains(got, "* VANISHED (EARLIER) 3,5") {
		t.Fatalf("known-uids:\n%s", strings.Join(got, "\n"))
	}
	s.send("b3 EXAMINE INBOX (QRESYNC (" + uv + " 12))\r\n")
	for l := s.line(); !strings.HasPrefix(l, "b3 "); l = s.line() {
		if strings.Contains(l, "VANISHED") || strings.Contains(l, "FETCH") {
			t.Fatalf("nothing changed since 12, got %q", l)
		}
	}
	// Another UIDVALIDITY: the client's cache is not of this mailbox.
	s.send("b4 EXAMINE INBOX (QRESYNC (1 1))\r\n")
	for l := s.line(); !strings.HasPrefix(l, "b4 "); l = s.line() {
		if strings.Contains(l, "VANISHED") || strings.Contains(l, "FETCH") {
			t.Fatalf("UIDVALIDITY mismatch, got %q", l)
		}
	}
	s.selectInbox("b5")
	s.do("c1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 7 VANISHED)", "* VANISHED (EARLIER) 3,5",
		`* 2 FETCH (UID 2 FLAGS (\Flagged) MODSEQ (8))`, `* 5 FETCH (UID 7 FLAGS () MODSEQ (12))`, "c1 OK FETCH completed")
	s.do("c2 UID FETCH 4:6 (FLAGS) (CHANGEDSINCE 1 VANISHED)", "* VANISHED (EARLIER) 5",
		`* 3 FETCH (UID 4 FLAGS () MODSEQ (5))`, `* 4 FETCH (UID 6 FLAGS () MODSEQ (7))`, "c2 OK FETCH completed")
	s.do("c3 FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)", "c3 BAD VANISHED needs UID FETCH and CHANGEDSINCE")
	// Its own EXPUNGE is VANISHED too.
	s.do(`c4 STORE 1 +FLAGS.SILENT (\Deleted)`, "* 1 FETCH (UID 1 MODSEQ (13))", "c4 OK STORE completed")
	s.do("c5 EXPUNGE", "* VANISHED 1", "c5 OK EXPUNGE completed")
}

func contains(lines []string, l string) bool {
	for _, x := range lines {
		if x == l {
			return true
		}
	}
	return false
}

var fetchLine = regexp.MustCompile(`^\* \d+ FETCH \(UID (\d+) FLAGS \(([^)]*)\) MODSEQ \((\d+)\)\)$`)

// A QRESYNC client that reconnects ends with exactly the state another
// session left: its cache, updated by VANISHED (EARLIER) and the FETCHes
// of one SELECT, equals a full FETCH.
func TestQResyncReconnect(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 20; i++ {
		fetchTestAppend(t, e, "Subject: q\r\n\r\nbody\r\n", folder.Flags{}, fetchDate)
	}
	uv := e.uidValidity(t, "INBOX")
	full := func(s *session, tag string) (map[string]string, string) {
		s.send(tag + " UID FETCH 1:* (FLAGS MODSEQ)\r\n")
		state := map[string]string{}
		for l := s.line(); !strings.HasPrefix(l, tag+" "); l = s.line() {
			if m := fetchLine.FindStringSubmatch(noRecent(l)); m != nil {
				state[m[1]] = m[2]
			}
		}
		s.send(tag + "s STATUS INBOX (HIGHESTMODSEQ)\r\n")
		st := s.line()
		s.line()
		return state, strings.TrimSuffix(strings.TrimPrefix(st, "* STATUS INBOX (HIGHESTMODSEQ "), ")")
	}
	a := e.dial(t)
	a.login()
	a.do("a1 ENABLE QRESYNC", "* ENABLED QRESYNC", "a1 OK ENABLE completed")
	a.selectInbox("a2")
	cache, modseq := full(a, "a3")
	if len(cache) != 20 {
		t.Fatalf("cache %v", cache)
	}
	a.do("a4 LOGOUT", "* BYE logging out", "a4 OK LOGOUT completed")

	b := e.dial(t)
	b.login()
	b.selectInbox("b0")
	for i, cmd := range []string{`STORE 1:5 +FLAGS.SILENT (\Seen)`, `STORE 3 +FLAGS.SILENT (\Deleted)`, `STORE 7,9 +FLAGS.SILENT (\Deleted $Junk)`,
		"EXPUNGE", `STORE 2 -FLAGS.SILENT (\Seen)`, `STORE 10:* +FLAGS.SILENT (\Answered)`, `STORE 12 +FLAGS.SILENT (\Deleted)`, "EXPUNGE"} {
		tag := "b" + strconv.Itoa(i+1)
		b.send(tag + " " + cmd + "\r\n")
		for l := b.line(); !strings.HasPrefix(l, tag+" "); l = b.line() {
		}
	}
	fetchTestAppend(t, e, "Subject: q\r\n\r\nnew\r\n", folder.Flags{Keywords: []string{"$new"}}, fetchDate)
	b.send("b9 NOOP\r\n")
	for l := b.line(); !strings.HasPrefix(l, "b9 "); l = b.line() {
	}
	truth, _ := full(b, "b10")

	a = e.dial(t)
	a.login()
	a.do("c1 ENABLE QRESYNC", "* ENABLED QRESYNC", "c1 OK ENABLE completed")
	a.send("c2 SELECT INBOX (QRESYNC (" + uv + " " + modseq + "))\r\n")
	for l := a.line(); !strings.HasPrefix(l, "c2 "); l = a.line() {
		if v, ok := strings.CutPrefix(l, "* VANISHED (EARLIER) "); ok {
			set, err := parseUIDs(v)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range set {
				delete(cache, strconv.Itoa(int(u)))
			}
		}
		if m := fetchLine.FindStringSubmatch(noRecent(l)); m != nil {
			cache[m[1]] = m[2]
		}
	}
	if len(cache) != len(truth) {
		t.Fatalf("after resync %d messages, the other session sees %d:\n%v\n%v", len(cache), len(truth), cache, truth)
	}
	for uid, fl := range truth {
		if cache[uid] != fl {
			t.Errorf("uid %s: resynced flags %q, really %q", uid, cache[uid], fl)
		}
	}
}

// noRecent drops \Recent, which differs between sessions by design.
func noRecent(l string) string {
	l = strings.ReplaceAll(l, ` \Recent`, "")
	return strings.ReplaceAll(strings.ReplaceAll(l, `(\Recent `, "("), `(\Recent)`, "()")
}

func parseUIDs(set string) ([]uint32, error) {
	var out []uint32
	for _, part := range strings.Split(set, ",") {
		lo, hi, ok := strings.Cut(part, ":")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if ok {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, err
			}
		}
		for u := a; u <= b; u++ {
			out = append(out, uint32(u))
		}
	}
	return out, nil
}

// expungedBehind appends n messages, opens a session that start turns
// QRESYNC or CONDSTORE on in and selects INBOX with, and has another
// session flag message seq \Deleted and expunge it: the first session
// is not told of it yet (it sent nothing since).
func expungedBehind(t *testing.T, n, seq int, start func(s *session)) (*testEnv, *session, *session) {
	t.Helper()
	e := newEnv(t)
	for i := 0; i < n; i++ { // MODSEQs 2 to n+1
		fetchTestAppend(t, e, "Subject: q\r\n\r\nbody\r\n", folder.Flags{}, fetchDate)
	}
	s := e.dial(t)
	s.login()
	start(s)
	o := e.dial(t)
	o.login()
	o.selectInbox("o0")
	o.do(fmt.Sprintf(`o1 STORE %d +FLAGS.SILENT (\Deleted)`, seq), "o1 OK STORE completed") // n+2
	o.do("o2 EXPUNGE", fmt.Sprintf("* %d EXPUNGE", seq), "o2 OK EXPUNGE completed")         // n+3
	return e, s, o
}

func startQResync(s *session) {
	s.do("a1 ENABLE QRESYNC", "* ENABLED QRESYNC", "a1 OK ENABLE completed")
	s.selectInbox("a2")
}

// RFC 7162 §3.2: while an expunge is withheld (RFC 9051 §7.5.1: not
// during FETCH, STORE or SEARCH by sequence number), a command that
// shows a MODSEQ at or above the expunge's is followed, before its
// tagged OK, by OK [HIGHESTMODSEQ] just below it; the expunge itself
// comes at the next point it may. A client that takes the highest MODSEQ
// it saw and resynchronises from it is then told of the expunge.
func TestQResyncWithheldExpunge(t *testing.T) {
	e, s, o := expungedBehind(t, 4, 3, startQResync) // UID 3's expunge is MODSEQ 7
	uv := e.uidValidity(t, "INBOX")
	// A MODSEQ below the expunge's needs nothing.
	s.do("a3 FETCH 2 (MODSEQ)", "* 2 FETCH (UID 2 MODSEQ (3))", "a3 OK FETCH completed")
	o.do(`o3 STORE 1 +FLAGS.SILENT (\Flagged)`, "o3 OK STORE completed") // 8
	// A FETCH by sequence number showing MODSEQ 8 while UID 3's expunge
	// (7) is withheld: HIGHESTMODSEQ 6 follows, then the tagged OK.
	s.do("a4 FETCH 1 (FLAGS)", `* 1 FETCH (UID 1 FLAGS (\Flagged \Recent) MODSEQ (8))`,
		`* 1 FETCH (UID 1 FLAGS (\Flagged \Recent) MODSEQ (8))`,
		"* OK [HIGHESTMODSEQ 6] expunges pending", "a4 OK FETCH completed")
	// The same for a STORE, whose own MODSEQ (9) is above the expunge's.
	s.do(`a5 STORE 2 +FLAGS (\Seen)`, `* 2 FETCH (UID 2 FLAGS (\Seen \Recent) MODSEQ (9))`,
		"* OK [HIGHESTMODSEQ 6] expunges pending", "a5 OK STORE completed")
	// The connection drops here: resynchronising from 6 reports UID 3.
	r := e.dial(t)
	r.login()
	r.do("r1 ENABLE QRESYNC", "* ENABLED QRESYNC", "r1 OK ENABLE completed")
	r.send("r2 EXAMINE INBOX (QRESYNC (" + uv + " 6))\r\n")
	var got []string
	for l := r.line(); !strings.HasPrefix(l, "r2 "); l = r.line() {
		got = append(got, l)
	}
	if !contains(got, "* VANISHED (EARLIER) 3") {
		t.Fatalf("resync from 6:\n%s", strings.Join(got, "\n"))
	}
	// The expunge comes at the next point it may, and nothing is
	// withheld after it.
	s.do("a6 NOOP", "* VANISHED 3", "a6 OK NOOP completed")
	s.do("a7 FETCH 1 (FLAGS)", `* 1 FETCH (UID 1 FLAGS (\Flagged \Recent) MODSEQ (8))`, "a7 OK FETCH completed")
}

// A CONDSTORE client resynchronises by HIGHESTMODSEQ too (FETCH
// CHANGEDSINCE): the same OK [HIGHESTMODSEQ] while an EXPUNGE is
// withheld, here for a SEARCH MODSEQ and for a STORE .SILENT.
func TestCondstoreWithheldExpunge(t *testing.T) {
	_, s, _ := expungedBehind(t, 3, 2, func(s *session) { // UID 2's expunge is MODSEQ 6
		s.send("a1 SELECT INBOX (CONDSTORE)\r\n")
		for l := s.line(); !strings.HasPrefix(l, "a1 "); l = s.line() {
		}
	})
	s.do(`a2 STORE 3 +FLAGS.SILENT (\Seen)`, "* 3 FETCH (MODSEQ (7))",
		"* OK [HIGHESTMODSEQ 5] expunges pending", "a2 OK STORE completed")
	s.do("a3 SEARCH MODSEQ 7", "* SEARCH 3 (MODSEQ 7)",
		"* OK [HIGHESTMODSEQ 5] expunges pending", "a3 OK SEARCH completed")
	s.do("a4 NOOP", "* 2 EXPUNGE", "a4 OK NOOP completed")
	s.do("a5 FETCH 1:* (FLAGS) (CHANGEDSINCE 5)", `* 2 FETCH (FLAGS (\Seen \Recent) MODSEQ (7))`, "a5 OK FETCH completed")
}

// An expunge the view still withholds is told once, as "* VANISHED" at
// the point it may be, never also in VANISHED (EARLIER): the client
// counts the message until then (imaptest: "VANISHED UID=n not found",
// then "UID changed for sequence n").
func TestQResyncVanishedOnce(t *testing.T) {
	_, s, _ := expungedBehind(t, 3, 2, startQResync) // UID 2's expunge is MODSEQ 6
	s.do("a3 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)",
		`* 1 FETCH (UID 1 FLAGS (\Recent) MODSEQ (2))`, `* 3 FETCH (UID 3 FLAGS (\Recent) MODSEQ (4))`,
		"* VANISHED 2", "a3 OK FETCH completed")
	s.do("a4 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)", "* VANISHED (EARLIER) 2",
		`* 1 FETCH (UID 1 FLAGS (\Recent) MODSEQ (2))`, `* 2 FETCH (UID 3 FLAGS (\Recent) MODSEQ (4))`, "a4 OK FETCH completed")
}
