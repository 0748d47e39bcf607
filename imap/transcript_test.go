package imap

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/testnet"
	"github.com/storaged/storaged/store"
)

// session is a raw client connection for transcript tests: command in,
// exact lines out.
type session struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

type testEnv struct {
	mailDir  string // u's store
	srv      *Server
	accounts *store.Accounts
	l        *testnet.PipeListener
	logs     *testnet.PanicLog
}

// newEnv starts a server over a pipe listener with one user, u/p; with
// changes the store's options.
func newEnv(t testing.TB, with ...func(*store.Options)) *testEnv {
	t.Helper()
	return newEnvConfig(t, nil, with...)
}

// newEnvConfig is newEnv with the server's Config changed by mut first.
func newEnvConfig(t testing.TB, mut func(*Config), with ...func(*store.Options)) *testEnv {
	t.Helper()
	dir := t.TempDir()
	users, err := auth.Open(filepath.Join(dir, "users"), nil)
	if err != nil {
		t.Fatal(err)
	}
	users.SetHashParams(auth.HashParams{Memory: 64, Time: 1, Threads: 1})
	if err := users.Add("u", "p", nil); err != nil {
		t.Fatal(err)
	}
	opts := store.Options{MailDir: filepath.Join(dir, "mail"), IndexDir: filepath.Join(dir, "index"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, f := range with {
		f(&opts)
	}
	accounts := store.NewAccounts(opts)
	t.Cleanup(func() { accounts.Close() })
	logs := &testnet.PanicLog{}
	cfg := Config{AuthFailDelay: time.Millisecond, MaxBadCommands: 5}
	if mut != nil {
		mut(&cfg)
	}
	srv := New(cfg, users, accounts, slog.New(logs))
	l := testnet.NewPipeListener()
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Shutdown()
		if p := logs.First(); p != "" {
			t.Errorf("server panicked: %v", p)
		}
	})
	return &testEnv{mailDir: filepath.Join(dir, "mail", "u"), srv: srv, accounts: accounts, l: l, logs: logs}
}

// dial connects and checks the greeting's first words.
func (e *testEnv) dial(t *testing.T) *session {
	t.Helper()
	c := e.l.Dial()
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	s := &session{t: t, conn: c, r: bufio.NewReader(c)}
	if g := s.line(); !strings.HasPrefix(g, "* OK [CAPABILITY IMAP4rev2 ") {
		t.Fatalf("greeting %q", g)
	}
	return s
}

func (s *session) line() string {
	s.t.Helper()
	l, err := s.r.ReadString('\n')
	if err != nil {
		s.t.Fatalf("read: %v (after %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		s.t.Fatalf("line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// octets reads n octets as they come: a literal whose lines need not end
// in CRLF.
func (s *session) octets(n int) string {
	s.t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(s.r, b); err != nil {
		s.t.Fatalf("read %d octets: %v (got %q)", n, err, b)
	}
	return string(b)
}

func (s *session) send(raw string) {
	s.t.Helper()
	if _, err := io.WriteString(s.conn, raw); err != nil {
		s.t.Fatal(err)
	}
}

// do sends one command line and expects exactly the lines want, the last
// being the tagged reply.
func (s *session) do(cmd string, want ...string) {
	s.t.Helper()
	s.send(cmd + "\r\n")
	s.expect(cmd, want...)
}

func (s *session) expect(what string, want ...string) {
	s.t.Helper()
	for i, w := range want {
		got := s.line()
		if got != w {
			s.t.Fatalf("%q: line %d = %q, want %q", what, i+1, got, w)
		}
	}
}

// closed expects the server to have closed the connection.
func (s *session) closed() {
	s.t.Helper()
	if l, err := s.r.ReadString('\n'); err == nil {
		s.t.Fatalf("connection still open, got %q", l)
	}
}

func (s *session) login() {
	s.t.Helper()
	s.send("L1 LOGIN u p\r\n")
	if l := s.line(); !strings.HasPrefix(l, "L1 OK [CAPABILITY ") {
		s.t.Fatalf("login: %q", l)
	}
}

// appendMsg puts a message into u's mailbox through the store, as a
// delivery would.
func (e *testEnv) appendMsg(t *testing.T, mailbox, msg string, flags folder.Flags) uint32 {
	t.Helper()
	acct, err := e.accounts.Open(context.Background(), "u")
	if err != nil {
		t.Fatal(err)
	}
	mb, err := acct.Mailbox(mailbox)
	if err != nil {
		t.Fatal(err)
	}
	res, err := mb.Append(context.Background(), []byte(msg), store.AppendOptions{Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	return res.UID
}

// uidValidity is u's mailbox's UIDVALIDITY, for expected transcripts.
func (e *testEnv) uidValidity(t *testing.T, mailbox string) string {
	t.Helper()
	acct, err := e.accounts.Open(context.Background(), "u")
	if err != nil {
		t.Fatal(err)
	}
	mb, err := acct.Mailbox(mailbox)
	if err != nil {
		t.Fatal(err)
	}
	info, err := mb.Info()
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatUint(uint64(info.UIDValidity), 10)
}
