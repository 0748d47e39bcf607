package lmtp

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/delivery"
	"github.com/storaged/storaged/internal/testnet"
	"github.com/storaged/storaged/store"
)

// Transcript tests: command in, exact reply lines out, over in-memory
// pipes, with the real delivery and store underneath.

// records keeps the server's log records, to find a delivery's line.
type records struct {
	mu   sync.Mutex
	recs []map[string]string
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	m := map[string]string{"msg": rec.Message}
	rec.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	r.mu.Lock()
	r.recs = append(r.recs, m)
	r.mu.Unlock()
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// find returns the records with message msg.
func (r *records) find(msg string) []map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]string
	for _, m := range r.recs {
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

type testEnv struct {
	l        *testnet.PipeListener
	accounts *store.Accounts
	logs     *records
}

// newEnv serves users ann and bob of example.org.
func newEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	users, err := auth.Open(filepath.Join(dir, "users"), nil)
	if err != nil {
		t.Fatal(err)
	}
	users.SetHashParams(auth.HashParams{Memory: 64, Time: 1, Threads: 1})
	for _, u := range []string{"ann", "bob"} {
		if err := users.Add(u, "pw", nil); err != nil {
			t.Fatal(err)
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	accounts := store.NewAccounts(store.Options{MailDir: filepath.Join(dir, "mail"), IndexDir: filepath.Join(dir, "index"), Logger: quiet})
	t.Cleanup(func() { accounts.Close() })
	d := &delivery.Deliverer{Users: users, Accounts: accounts, Hostname: "mx.example.org",
		Domains: []string{"example.org"}, DetailDelimiter: "+", Log: quiet}
	logs := &records{}
	srv := New(Config{Hostname: "mx.example.org", MaxRecipients: 3}, d, slog.New(logs))
	l := testnet.NewPipeListener()
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		for _, m := range logs.find("panic in lmtp session") {
			t.Errorf("server panicked: %v", m)
		}
	})
	return &testEnv{l: l, accounts: accounts, logs: logs}
}

type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func (e *testEnv) dial(t *testing.T) *client {
	t.Helper()
	conn := e.l.Dial()
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.expect("greeting", "220 mx.example.org LMTP Service Ready")
	return c
}

// idPattern is what "{id}" in an expected line stands for: a session's
// id and the transaction's number.
const idPattern = `([0-9a-f]{12}-[0-9]+)`

// expect reads one line per want; "{id}" in want matches a transaction
// id, and the ids matched are returned in order.
func (c *client) expect(what string, want ...string) []string {
	c.t.Helper()
	var ids []string
	for _, w := range want {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("%s: read: %v (got %q, want %q)", what, err, l, w)
		}
		got, crlf := strings.CutSuffix(l, "\r\n")
		re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(w), regexp.QuoteMeta("{id}"), idPattern) + "$")
		m := re.FindStringSubmatch(got)
		if m == nil || !crlf {
			c.t.Fatalf("%s: got %q, want %q", what, l, w+"\r\n")
		}
		ids = append(ids, m[1:]...)
	}
	return ids
}

// do sends one line and expects exactly the lines want.
func (c *client) do(cmd string, want ...string) []string {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, cmd+"\r\n"); err != nil {
		c.t.Fatalf("%s: %v", cmd, err)
	}
	return c.expect(cmd, want...)
}

func (c *client) lhlo() {
	c.t.Helper()
	c.do("LHLO client.example.net", "250-Hello client.example.net", "250-PIPELINING", "250-8BITMIME",
		"250-ENHANCEDSTATUSCODES", "250-SMTPUTF8", "250-SIZE 52428800", "250 LIMITS RCPTMAX=3")
}

// The replies of a transaction read as a last hop's (RFC 2033, RFC 3463
// codes, Dovecot's texts after DATA), and the id in each "Saved" is the
// one storaged logs for that delivery.
func TestTranscriptDelivery(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t)
	c.lhlo()
	c.do("NOOP", "250 2.0.0 OK")
	c.do("VRFY ann", "252 2.5.0 cannot VRFY user, but will accept message")
	c.do("MAIL FROM:<sender@example.net>", "250 2.1.0 sender <sender@example.net> OK")
	c.do("RCPT TO:<ann@example.org>", "250 2.1.5 recipient <ann@example.org> OK")
	// A bare user name is a local user, as at Dovecot's LMTP.
	c.do("RCPT TO:<bob>", "250 2.1.5 recipient <bob> OK")
	c.do("RCPT TO:<nobody@example.org>", "550 5.1.1 no such user here")
	c.do("RCPT TO:<ann@elsewhere.example>", "550 5.1.1 not a local domain")
	c.do("RCPT TO:<Ann+lists@example.org>", "250 2.1.5 recipient <Ann+lists@example.org> OK")
	c.do("RCPT TO:<ann@example.org>", "452 4.5.3 too many recipients")
	c.do("DATA", "354 go ahead; end with <CRLF>.<CRLF>")
	ids := c.do("Subject: t\r\n\r\nbody\r\n.",
		"250 2.0.0 <ann@example.org> {id} Saved",
		"250 2.0.0 <bob> {id} Saved",
		"250 2.0.0 <Ann+lists@example.org> {id} Saved")
	if ids[0] != ids[1] || ids[1] != ids[2] {
		t.Errorf("one transaction, several ids: %v", ids)
	}
	// Every user's delivery is logged with that id.
	logged := map[string]bool{}
	for _, m := range e.logs.find("delivered") {
		if m["id"] == ids[0] {
			logged[m["user"]] = true
		}
	}
	if !logged["ann"] || !logged["bob"] {
		t.Errorf("no \"delivered\" log line with id %s for ann and bob: %v", ids[0], e.logs.find("delivered"))
	}

	// The next transaction has another id; RSET ends one.
	c.do("MAIL FROM:<>", "250 2.1.0 sender <> OK")
	c.do("RCPT TO:<bob@example.org>", "250 2.1.5 recipient <bob@example.org> OK")
	c.do("RSET", "250 2.0.0 OK, transaction reset")
	c.do("DATA", "503 5.5.1 no valid recipients")
	c.do("MAIL FROM:<root>", "250 2.1.0 sender <root> OK")
	c.do("RCPT TO:<bob@example.org>", "250 2.1.5 recipient <bob@example.org> OK")
	c.do("DATA", "354 go ahead; end with <CRLF>.<CRLF>")
	next := c.do("Subject: t2\r\n\r\nbody\r\n.", "250 2.0.0 <bob@example.org> {id} Saved")
	if next[0] == ids[0] {
		t.Errorf("two transactions share id %s", next[0])
	}
	c.do("QUIT", "221 2.0.0 mx.example.org closing connection")

	acct, err := e.accounts.Open(context.Background(), "bob")
	if err != nil {
		t.Fatal(err)
	}
	mb, err := acct.Mailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	info, err := mb.Info()
	if err != nil || info.Messages != 2 {
		t.Fatalf("bob's INBOX: %+v %v, want 2 messages", info, err)
	}
}

// Errors carry enhanced codes too, and none of go-smtp's server texts
// ("Roger, accepting mail", "OK: queued", "Was expecting ... arg syntax")
// is left.
func TestTranscriptErrors(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t)
	for _, tc := range []struct{ cmd, want string }{
		{"MAIL FROM:<a@example.net>", "503 5.5.1 send LHLO first"},
		{"HELO x", "500 5.5.1 this is an LMTP server: use LHLO"},
		{"LHLO", "501 5.5.2 LHLO needs a domain or address"},
	} {
		c.do(tc.cmd, tc.want)
	}
	c.lhlo()
	for _, tc := range []struct{ cmd, want string }{
		{"RCPT TO:<ann@example.org>", "503 5.5.1 send MAIL first"},
		{"MAIL TO:<a@example.net>", "501 5.5.2 syntax: MAIL FROM:<address>"},
		{"MAIL FROM:a@example.net", "501 5.1.7 bad sender address: expected <"},
		{"MAIL FROM:<a@example.net> SIZE=99999999999", "552 5.3.4 message too big"},
		{"MAIL FROM:<a@example.net> FOO=1", "555 5.5.4 MAIL parameter FOO is not supported"},
		{"MAIL FROM:<a@example.net>", "250 2.1.0 sender <a@example.net> OK"},
		{"MAIL FROM:<a@example.net>", "503 5.5.1 nested MAIL command"},
		{"RCPT FROM:<ann@example.org>", "501 5.5.2 syntax: RCPT TO:<address>"},
		{"RCPT TO:ann", "501 5.1.3 bad recipient address: expected <"},
		{"RCPT TO:<>", "501 5.1.3 bad recipient address: empty address"},
		{"RCPT TO:<a b@example.org>", "501 5.1.3 bad recipient address: malformed local part"},
		{"RCPT TO:<ann@example.org> NOTIFY=NEVER", "555 5.5.4 RCPT parameters are not supported"},
		{"DATA", "503 5.5.1 no valid recipients"},
		{"STARTTLS", "502 5.5.1 STARTTLS is not available"},
		{"XYZZY", "502 5.5.1 XYZZY is not implemented"},
	} {
		c.do(tc.cmd, tc.want)
	}
}
