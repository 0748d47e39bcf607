package server_test

import (
	"context"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/storaged/storaged/folder"
)

// relayMsg is one message the stand-in relay received.
type relayMsg struct {
	from string
	to   []string
	data string
}

// relay is a real SMTP server on loopback standing in for the
// submission relay Sieve sends redirects and vacation replies through.
type relay struct {
	addr string
	mu   sync.Mutex
	msgs []relayMsg
}

func startRelay(t testing.TB) *relay {
	t.Helper()
	r := &relay{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &relaySession{r: r}, nil }))
	srv.Domain = "relay.example.net"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return r
}

func (r *relay) take() []relayMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.msgs
	r.msgs = nil
	return out
}

type relaySession struct {
	r    *relay
	from string
	to   []string
}

func (s *relaySession) Reset()        { s.from, s.to = "", nil }
func (s *relaySession) Logout() error { return nil }
func (s *relaySession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *relaySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.r.mu.Lock()
	s.r.msgs = append(s.r.msgs, relayMsg{from: s.from, to: s.to, data: string(b)})
	s.r.mu.Unlock()
	return nil
}

// storedMsg is one message in a mailbox, as the store has it.
type storedMsg struct {
	flags string
	data  string
}

// contents reads every mailbox of user through the running server's
// store: name → messages in UID order.
func (ts *testServer) contents(t testing.TB, user string) map[string][]storedMsg {
	t.Helper()
	acct, err := ts.Accounts.Open(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	mbs, err := acct.Mailboxes()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]storedMsg{}
	for _, info := range mbs {
		mb, err := acct.Mailbox(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		_, msgs, err := mb.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			rc, err := mb.Open(m)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			out[info.Name] = append(out[info.Name], storedMsg{flags: flagString(m.Flags), data: string(b)})
		}
	}
	return out
}

// layout renders contents as "INBOX=;Lists=\Seen|" : non-empty
// mailboxes sorted, each message's flags (sorted, space separated),
// messages joined by "|".
func layout(c map[string][]storedMsg) string {
	var names []string
	for n, msgs := range c {
		if len(msgs) > 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var parts []string
	for _, n := range names {
		var fl []string
		for _, m := range c[n] {
			fl = append(fl, m.flags)
		}
		parts = append(parts, n+"="+strings.Join(fl, "|"))
	}
	return strings.Join(parts, ";")
}

func flagString(f folder.Flags) string {
	var out []string
	for _, x := range []struct {
		f folder.SysFlags
		s string
	}{{folder.Seen, `\Seen`}, {folder.Answered, `\Answered`}, {folder.Flagged, `\Flagged`}, {folder.Deleted, `\Deleted`}, {folder.Draft, `\Draft`}} {
		if f.Sys.Has(x.f) {
			out = append(out, x.s)
		}
	}
	out = append(out, f.Keywords...)
	sort.Strings(out)
	return strings.Join(out, " ")
}
