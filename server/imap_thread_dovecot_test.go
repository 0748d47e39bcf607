package server_test

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	imap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// threadCorpus is a mailbox that exercises threading: reply chains by
// References, by In-Reply-To alone, with the References cut short or
// with a gap, replies to messages that never arrive or arrive later,
// duplicate and missing Message-IDs, reference loops, subjects shared by
// unrelated threads (REFERENCES merges them, REFS must not), messages
// without Date (the internal date stands in) and equal dates.
func threadCorpus(n int) (msgs [][]byte, dates []time.Time) {
	r := rand.New(rand.NewPCG(5256, 8514))
	base := time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)
	type planned struct {
		id      string
		subject string
		refs    []string // ancestors, oldest first
	}
	subjects := []string{"plans", "lunch", "release", "budget", "[list] news", "hello", "question"}
	plan := make([]planned, n)
	for i := range plan {
		p := &plan[i]
		p.id = fmt.Sprintf("<m%d@thread.test>", i)
		switch {
		case i > 10 && r.IntN(40) == 0:
			p.id = plan[r.IntN(i)].id // a duplicate Message-ID
		case r.IntN(30) == 0:
			p.id = "" // none
		}
		p.subject = subjects[r.IntN(len(subjects))]
		if i == 0 || r.IntN(10) < 4 {
			continue // a thread of its own
		}
		var parent planned
		switch k := r.IntN(20); {
		case k == 0:
			// A parent that never arrives.
			parent = planned{id: fmt.Sprintf("<lost%d@thread.test>", r.IntN(8)), subject: p.subject}
		case k == 1 && i+1 < n:
			// A parent that arrives later (its plan is made later; only
			// its id is known now).
			parent = planned{id: fmt.Sprintf("<m%d@thread.test>", i+1+r.IntN(min(5, n-i-1))), subject: p.subject}
		default:
			parent = plan[r.IntN(i)]
		}
		if parent.id == "" {
			continue
		}
		p.subject = parent.subject
		p.refs = append(append([]string{}, parent.refs...), parent.id)
	}
	// A loop: two messages naming each other.
	if n > 40 {
		plan[30].refs = []string{plan[31].id}
		plan[31].refs = []string{plan[30].id}
	}
	for i, p := range plan {
		var b strings.Builder
		if p.id != "" {
			fmt.Fprintf(&b, "Message-ID: %s\r\n", p.id)
		}
		if len(p.refs) > 0 {
			switch r.IntN(6) {
			case 0: // In-Reply-To only
				fmt.Fprintf(&b, "In-Reply-To: %s\r\n", p.refs[len(p.refs)-1])
			case 1: // References cut short to the parent
				fmt.Fprintf(&b, "References: %s\r\n", p.refs[len(p.refs)-1])
			case 2: // a gap in the middle
				refs := p.refs
				if len(refs) > 2 {
					refs = append([]string{refs[0]}, refs[2:]...)
				}
				fmt.Fprintf(&b, "References: %s\r\n", strings.Join(refs, " "))
			default:
				fmt.Fprintf(&b, "References: %s\r\nIn-Reply-To: %s\r\n", strings.Join(p.refs, "\r\n "), p.refs[len(p.refs)-1])
			}
		}
		subj := p.subject
		if len(p.refs) > 0 && r.IntN(4) != 0 {
			subj = []string{"Re: ", "RE: ", "Fwd: ", "Re: Re: "}[r.IntN(4)] + subj
		}
		fmt.Fprintf(&b, "Subject: %s\r\nFrom: a%d@thread.test\r\n", subj, i%7)
		if r.IntN(20) != 0 {
			// Minutes from a small range, so equal dates happen.
			d := base.Add(time.Duration(r.IntN(n*2)) * time.Minute)
			fmt.Fprintf(&b, "Date: %s\r\n", d.Format(time.RFC1123Z))
		}
		fmt.Fprintf(&b, "\r\nmessage %d\r\n", i)
		msgs = append(msgs, []byte(b.String()))
		dates = append(dates, base.Add(time.Duration(i)*90*time.Second))
	}
	return msgs, dates
}

// threadIMAP is a line-level IMAP client: THREAD replies compared as the
// servers send them, octet for octet. (go-imap's client reads only the
// first thread of a THREAD reply.)
type threadIMAP struct {
	t    *testing.T
	c    net.Conn
	r    *bufio.Reader
	next int
}

func dialThreadIMAP(t *testing.T, addr, user, pass string) *threadIMAP {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	m := &threadIMAP{t: t, c: c, r: bufio.NewReaderSize(c, 1<<20)}
	if l, err := m.r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* OK") {
		t.Fatalf("%s: greeting %q %v", addr, l, err)
	}
	m.run(fmt.Sprintf("LOGIN %q %q", user, pass))
	m.run("SELECT INBOX")
	return m
}

// run sends one command and returns its untagged lines; a tagged reply
// other than OK fails the test.
func (m *threadIMAP) run(cmd string) []string {
	m.t.Helper()
	m.next++
	tag := fmt.Sprintf("r%d", m.next)
	fmt.Fprintf(m.c, "%s %s\r\n", tag, cmd)
	var out []string
	for {
		l, err := m.r.ReadString('\n')
		if err != nil {
			m.t.Fatalf("%s: %v", cmd, err)
		}
		l = strings.TrimRight(l, "\r\n")
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				m.t.Fatalf("%s: %s", cmd, l)
			}
			return out
		}
		out = append(out, l)
	}
}

func (m *threadIMAP) thread(cmd string) string {
	m.t.Helper()
	for _, l := range m.run(cmd) {
		if strings.HasPrefix(l, "* THREAD") {
			return strings.TrimSpace(strings.TrimPrefix(l, "* THREAD"))
		}
	}
	m.t.Fatalf("%s: no THREAD response", cmd)
	return ""
}

// Dovecot is the oracle for THREAD=REFS (its algorithm is the one the
// draft describes) and for REFERENCES and ORDEREDSUBJECT: the same
// mailbox, appended in the same order with the same internal dates,
// must thread the same on both servers, octet for octet, whole and
// under search criteria, by UID and by sequence number.
func TestThreadAgainstDovecot(t *testing.T) {
	dv := startDovecot(t)
	ts := startServer(t, t.TempDir(), nil, "ann")
	msgs, dates := threadCorpus(400)
	dc := dv.imap(t)
	sc := ts.login(t, "ann", nil)
	for _, c := range []*imapclient.Client{dc, sc} {
		for i, m := range msgs {
			appendMsg(t, c, "INBOX", m, &imap.AppendOptions{Time: dates[i]})
		}
		c.Logout().Wait()
	}
	dr := dialThreadIMAP(t, dv.imapAd, "u1", "pw")
	sr := dialThreadIMAP(t, ts.imap, "ann", "secret-ann")
	for _, l := range sr.run("CAPABILITY") {
		if strings.HasPrefix(l, "* CAPABILITY ") && !strings.Contains(l+" ", " THREAD=REFS ") {
			t.Fatalf("THREAD=REFS not advertised: %s", l)
		}
	}
	// Expunge a few, so that sequence numbers and UIDs differ and some
	// parents are gone.
	for _, m := range []*threadIMAP{dr, sr} {
		m.run(`UID STORE 3,17,120:125 +FLAGS.SILENT (\Deleted)`)
		m.run("EXPUNGE")
	}
	for _, cmd := range []string{
		"UID THREAD REFS UTF-8 ALL",
		"THREAD REFS UTF-8 ALL",
		"THREAD REFS UTF-8 UID 1:200",
		"UID THREAD REFS US-ASCII SUBJECT lunch",
		"UID THREAD REFS UTF-8 NOT FROM a3",
		"UID THREAD REFERENCES UTF-8 ALL",
		"THREAD REFERENCES UTF-8 UID 150:*",
		"UID THREAD ORDEREDSUBJECT UTF-8 ALL",
	} {
		want, got := dr.thread(cmd), sr.thread(cmd)
		if got != want {
			t.Errorf("%s:\n storaged %s\n dovecot  %s\n first difference at octet %d", cmd, got, want, firstDiff(got, want))
		} else {
			t.Logf("%s: %d octets alike: %.300s", cmd, len(got), got)
		}
	}
}

func firstDiff(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
