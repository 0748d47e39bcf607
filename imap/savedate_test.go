package imap

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var saveDateRE = regexp.MustCompile(`^\* (\d+) FETCH \((?:UID \d+ )?SAVEDATE (NIL|"([^"]+)")\)$`)

// saveDate FETCHes one message's SAVEDATE; zero for NIL.
func (s *session) saveDate(tag, set string) time.Time {
	s.t.Helper()
	s.send(tag + " FETCH " + set + " (SAVEDATE)\r\n")
	l := s.line()
	m := saveDateRE.FindStringSubmatch(l)
	if m == nil {
		s.t.Fatalf("FETCH %s SAVEDATE: %q", set, l)
	}
	s.expect(tag, tag+" OK FETCH completed")
	if m[2] == "NIL" {
		return time.Time{}
	}
	d, err := time.Parse(internalDateLayout, m[3])
	if err != nil {
		s.t.Fatalf("SAVEDATE %q: %v", m[3], err)
	}
	return d
}

// within fails unless d is a save date taken between from and to (the
// wire has whole seconds).
func within(t *testing.T, what string, d, from, to time.Time) {
	t.Helper()
	if d.IsZero() || d.Before(from.Truncate(time.Second)) || d.After(to) {
		t.Fatalf("%s: save date %v, want one in [%v, %v]", what, d, from, to)
	}
}

// RFC 8514: SAVEDATE of an APPEND, of a COPY and a MOVE (the time of the
// copy, not the original's), of a file another program dropped in; NIL
// for a message adopted from Dovecot's store, whose SAVED* keys compare
// the internal date instead; a flag change leaves it alone;
// SAVEDATESUPPORTED matches every message.
func TestSaveDate(t *testing.T) {
	e := newEnv(t)
	// A Dovecot Maildir with one message (UID 7), adopted at the first
	// open: storaged cannot know when Dovecot saved it.
	for _, d := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(e.mailDir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	const name = "1577966400.M1P1.host"
	file := filepath.Join(e.mailDir, "cur", name+":2,S")
	if err := os.WriteFile(file, []byte("Subject: old\n\nold\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	idate := time.Date(2020, 1, 2, 12, 0, 0, 0, time.UTC)
	if err := os.Chtimes(file, idate, idate); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.mailDir, "dovecot-uidlist"), []byte("3 V1234 N8 G00\n7 :"+name+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	s := e.dial(t)
	s.login()
	s.do("a0 CAPABILITY", "* CAPABILITY "+capsPost, "a0 OK CAPABILITY completed")
	if !strings.Contains(" "+capsPost+" ", " SAVEDATE ") {
		t.Fatal("SAVEDATE not advertised")
	}
	before := time.Now()
	s.appendOK("a1", "INBOX", "Subject: new\r\n\r\nnew\r\n")
	s.selectInbox("a2")
	if uv := e.uidValidity(t, "INBOX"); uv != "1234" {
		t.Fatalf("the uidlist was not adopted: UIDVALIDITY %s", uv)
	}
	s.do("a3 FETCH 1 (UID SAVEDATE)", "* 1 FETCH (UID 7 SAVEDATE NIL)", "a3 OK FETCH completed")
	appended := s.saveDate("a4", "2")
	within(t, "APPEND", appended, before, time.Now())
	// RFC 8514 §4.3: SAVEDATESUPPORTED matches all; message 1 has no
	// save date, so its internal date (2 Jan 2020) stands in.
	day := appended.Format("2-Jan-2006")
	s.do("b1 SEARCH SAVEDATESUPPORTED", "* SEARCH 1 2", "b1 OK SEARCH completed")
	s.do("b2 SEARCH SAVEDON "+day, "* SEARCH 2", "b2 OK SEARCH completed")
	s.do("b3 SEARCH SAVEDSINCE "+day, "* SEARCH 2", "b3 OK SEARCH completed")
	s.do("b4 SEARCH SAVEDBEFORE "+day, "* SEARCH 1", "b4 OK SEARCH completed")
	s.do("b5 SEARCH SAVEDON 2-Jan-2020", "* SEARCH 1", "b5 OK SEARCH completed")
	s.do("b6 SEARCH SAVEDBEFORE 2-Jan-2020", "* SEARCH", "b6 OK SEARCH completed")
	s.do("b7 UID SEARCH SAVEDSINCE 3-Jan-2020 NOT SAVEDATESUPPORTED", "* SEARCH", "b7 OK SEARCH completed")
	s.do("b8 UID SEARCH OR SAVEDON 2-Jan-2020 SAVEDON "+day, "* SEARCH 7 8", "b8 OK SEARCH completed")
	s.do("b9 SEARCH SAVEDON 2-Jan-2020 SAVEDON "+day, "* SEARCH", "b9 OK SEARCH completed")
	s.do("b10 SEARCH SAVEDON 2020-01-02", `b10 BAD invalid date "2020-01-02"`)
	// SORT and THREAD take the same criteria.
	s.do("b11 SORT (ARRIVAL) UTF-8 SAVEDSINCE "+day, "* SORT 2", "b11 OK SORT completed")

	// A flag change keeps the save date (§3: it does not change while the
	// message stays).
	s.do(`c1 STORE 1:2 +FLAGS.SILENT (\Flagged)`, "c1 OK STORE completed")
	s.do("c2 FETCH 1 (SAVEDATE)", "* 1 FETCH (SAVEDATE NIL)", "c2 OK FETCH completed")
	if again := s.saveDate("c3", "2"); !again.Equal(appended) {
		t.Fatalf("STORE changed the save date: %v, was %v", again, appended)
	}

	// COPY and MOVE save anew: the copy's save date is the copy's time,
	// for the adopted message too.
	s.do("d1 CREATE Archive", "d1 OK CREATE completed")
	beforeCopy := time.Now()
	s.send("d2 COPY 1 Archive\r\n")
	if l := s.line(); !strings.HasPrefix(l, "d2 OK [COPYUID ") {
		t.Fatalf("COPY: %q", l)
	}
	s.send("d3 MOVE 2 Archive\r\n")
	s.until("d3 OK")
	afterCopy := time.Now()
	s.send("d4 SELECT Archive\r\n")
	s.until("d4 OK")
	within(t, "COPY", s.saveDate("d5", "1"), beforeCopy, afterCopy)
	moved := s.saveDate("d6", "2")
	within(t, "MOVE", moved, beforeCopy, afterCopy)
	s.do("d7 SEARCH SAVEDATESUPPORTED", "* SEARCH 1 2", "d7 OK SEARCH completed")
	s.do("d8 SEARCH SAVEDBEFORE "+moved.Format("2-Jan-2006"), "* SEARCH", "d8 OK SEARCH completed")

	// A file another program drops in is saved when the sync finds it.
	beforeSync := time.Now()
	if err := os.WriteFile(filepath.Join(e.mailDir, ".Archive", "new", "1577966401.M2P2.host"), []byte("Subject: dropped\n\nx\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.do("e1 CHECK", "* 3 EXISTS", "* 3 RECENT", "e1 OK CHECK completed")
	within(t, "sync", s.saveDate("e2", "3"), beforeSync, time.Now())
}
