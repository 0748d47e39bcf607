package server_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storaged/storaged/server"
)

// syncBuffer is a log destination tests read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLMTPRepliesPython: through Python's smtplib.LMTP, storaged answers
// as a last hop: 250 2.1.0 at MAIL, 250 2.1.5 at RCPT (a bare user name
// too), "250 2.0.0 <rcpt> <id> Saved" after DATA with the id storaged
// logs for the delivery, enhanced codes on RSET, NOOP and QUIT, and
// nothing of go-smtp's server texts ("Roger", "queued").
func TestLMTPRepliesPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	cfg := newConfig(t, t.TempDir())
	var logs syncBuffer
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	srv.Users.SetHashParams(cheapHash)
	for _, u := range []string{"ann", "bob"} {
		if err := srv.Users.Add(u, "secret-"+u, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, t: t, cfg: cfg}
	t.Cleanup(ts.stop)
	<-srv.Repaired()
	var addr string
	for _, a := range srv.Addrs("lmtp") {
		if a.Network() == "tcp" {
			addr = a.String()
		}
	}
	script := `
import json, smtplib, sys
host, port = sys.argv[1].rsplit(":", 1)
c = smtplib.LMTP(host, int(port))
out = {}
def rec(k, r):
    out[k] = [r[0], r[1].decode()]
rec("lhlo", c.ehlo("client.example.net"))
rec("noop", c.noop())
rec("mail", c.mail("sender@example.net"))
rec("rcpt", c.rcpt("bob@example.org"))
rec("rcpt_bare", c.rcpt("ann"))
rec("rcpt_unknown", c.rcpt("nobody@example.org"))
rec("data", c.data(b"Subject: texts\r\nMessage-ID: <t1@example.net>\r\n\r\nbody\r\n"))
rec("data_second", c.getreply())
rec("mail2", c.mail("<>"))
rec("rset", c.rset())
rec("quit", c.quit())
print(json.dumps(out))
`
	out, err := exec.Command(py, "-c", script, addr).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	var got map[string][2]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	reply := func(k string) string {
		code, _ := got[k][0].(float64)
		text, _ := got[k][1].(string)
		return strings.TrimSpace(strconv.Itoa(int(code)) + " " + text)
	}
	id := `([0-9a-f]{12}-[0-9]+)`
	want := map[string]string{
		"noop":         `^250 2\.0\.0 OK$`,
		"mail":         `^250 2\.1\.0 sender <sender@example\.net> OK$`,
		"rcpt":         `^250 2\.1\.5 recipient <bob@example\.org> OK$`,
		"rcpt_bare":    `^250 2\.1\.5 recipient <ann> OK$`,
		"rcpt_unknown": `^550 5\.1\.1 no such user here$`,
		"data":         `^250 2\.0\.0 <bob@example\.org> ` + id + ` Saved$`,
		"data_second":  `^250 2\.0\.0 <ann> ` + id + ` Saved$`,
		"mail2":        `^250 2\.1\.0 sender <> OK$`,
		"rset":         `^250 2\.0\.0 `,
		"quit":         `^221 2\.0\.0 `,
	}
	for k, re := range want {
		if !regexp.MustCompile(re).MatchString(reply(k)) {
			t.Errorf("%s: %q, want %s", k, reply(k), re)
		}
	}
	for k := range got {
		if r := reply(k); strings.Contains(r, "Roger") || strings.Contains(r, "queued") {
			t.Errorf("%s: go-smtp's text %q", k, r)
		}
	}
	m := regexp.MustCompile(id).FindStringSubmatch(reply("data"))
	if m == nil {
		t.Fatal("no id in the DATA reply")
	}
	log := logs.String()
	for _, user := range []string{"bob", "ann"} {
		found := false
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, "msg=delivered") && strings.Contains(l, " id="+m[1]+" ") && strings.Contains(l, " user="+user+" ") {
				found = true
			}
		}
		if !found {
			t.Errorf("no log line \"delivered\" with id=%s for %s:\n%s", m[1], user, log)
		}
		// And one per stored copy: where it went, under the same id. No
		// UID: the 250 comes before the index commit that gives it (as
		// Dovecot's "saved mail to INBOX" names none).
		stored := regexp.MustCompile(`msg=stored id=` + regexp.QuoteMeta(m[1]) + ` user=` + user + ` mailbox=INBOX bytes=[0-9]+ msgid=<t1@example.net>`)
		if !stored.MatchString(log) {
			t.Errorf("no log line \"stored\" with id=%s, mailbox and Message-ID for %s:\n%s", m[1], user, log)
		}
	}
}
