package pop3

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/internal/testnet"
	"github.com/storaged/storaged/store"
)

// Transcript tests: command in, exact lines out, over in-memory pipes.

type testEnv struct {
	srv   *Server
	l     *testnet.PipeListener
	inbox *store.Mailbox
	size  int64 // octets of the messages put in the maildrop
}

// testMsg is canonical already, so its CRLF size is its length.
const testMsg = "Subject: t\r\n\r\n.dot\r\nbody\r\n"

// newEnv serves user u (password p) with msgs messages in INBOX.
func newEnv(t *testing.T, cfg Config, msgs int) *testEnv {
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
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	accounts := store.NewAccounts(store.Options{MailDir: filepath.Join(dir, "mail"), IndexDir: filepath.Join(dir, "index"), Logger: quiet})
	t.Cleanup(func() { accounts.Close() })
	acct, err := accounts.Open(context.Background(), "u")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := acct.Mailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < msgs; i++ {
		if _, err := inbox.Append(context.Background(), []byte(testMsg), store.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.AuthFailDelay == 0 {
		cfg.AuthFailDelay = time.Millisecond
	}
	logs := &testnet.PanicLog{}
	srv := New(cfg, users, accounts, slog.New(logs))
	l := testnet.NewPipeListener()
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Shutdown()
		if p := logs.First(); p != "" {
			t.Errorf("server panicked: %v", p)
		}
	})
	return &testEnv{srv: srv, l: l, inbox: inbox, size: int64(msgs * len(testMsg))}
}

// held reports whether a session holds user's maildrop.
func (e *testEnv) held(user string) bool {
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	return e.srv.inUse[user] != nil
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
	c.expect("greeting", "+OK storaged POP3 ready")
	return c
}

func (c *client) expect(what string, want ...string) {
	c.t.Helper()
	for _, w := range want {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("%s: read: %v (got %q, want %q)", what, err, l, w)
		}
		if got := strings.TrimSuffix(l, "\r\n"); got != w || !strings.HasSuffix(l, "\r\n") {
			c.t.Fatalf("%s: got %q, want %q", what, l, w+"\r\n")
		}
	}
}

// do sends one line and expects exactly the lines want.
func (c *client) do(cmd string, want ...string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, cmd+"\r\n"); err != nil {
		c.t.Fatalf("%s: %v", cmd, err)
	}
	c.expect(cmd, want...)
}

// closed reports whether the server ended the connection.
func (c *client) closed() bool {
	_, err := c.r.ReadByte()
	return err != nil
}

func plain(authz, authc, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + authc + "\x00" + pass))
}

// The sessions Python's poplib ran when a login half a second later
// got -ERR [IN-USE]: each ends with QUIT, and each QUIT frees the
// maildrop before it is answered, so the next login, right after, gets
// it. With LockSession a lock left behind would make that login wait
// LockWait (longer than the test's deadline) and fail.
func TestTranscriptLoginsThenLogin(t *testing.T) {
	for _, lock := range []bool{false, true} {
		t.Run(fmt.Sprintf("lock_session=%v", lock), func(t *testing.T) {
			e := newEnv(t, Config{LockSession: lock, LockWait: time.Minute}, 2)
			ok := fmt.Sprintf("+OK maildrop has 2 messages (%d octets)", e.size)
			bye := "+OK storaged signing off (2 messages left)"

			// quit answers QUIT; by then the maildrop must be free (the
			// connection is still open: its end cannot have freed it).
			quit := func(c *client, want string) {
				t.Helper()
				c.do("QUIT", want)
				if e.held("u") {
					t.Fatal("the maildrop is still held when QUIT is answered")
				}
				if !c.closed() {
					t.Fatal("QUIT left the connection open")
				}
			}
			c := e.dial(t)
			c.do("USER u", "+OK send PASS")
			c.do("PASS p", ok)
			if e.held("u") != lock {
				t.Fatalf("maildrop held: %v, want %v", !lock, lock)
			}
			quit(c, bye)

			c = e.dial(t)
			c.do("AUTH PLAIN "+plain("", "u", "p"), ok)
			quit(c, bye)

			c = e.dial(t)
			c.do("AUTH PLAIN", "+ ")
			c.do(plain("u", "u", "p"), ok)
			quit(c, bye)

			c = e.dial(t)
			c.do("AUTH PLAIN "+plain("", "u", "wrong"), "-ERR [AUTH] invalid user name or password")
			c.do("AUTH PLAIN", "+ ")
			c.do(plain("", "u", "wrong"), "-ERR [AUTH] invalid user name or password")
			quit(c, "+OK bye")

			c = e.dial(t)
			c.do("USER u", "+OK send PASS")
			c.do("PASS p", ok)
			c.do("QUIT", bye)
		})
	}
}

// Without lock_session (the default) two sessions share the maildrop;
// with it the second login gets -ERR [IN-USE] until the first QUITs,
// and a wrong password never learns that the maildrop is in use.
func TestTranscriptLockSession(t *testing.T) {
	t.Run("lock_session=false", func(t *testing.T) {
		e := newEnv(t, Config{}, 2)
		ok := fmt.Sprintf("+OK maildrop has 2 messages (%d octets)", e.size)
		a, b := e.dial(t), e.dial(t)
		a.do("USER u", "+OK send PASS")
		a.do("PASS p", ok)
		b.do("USER u", "+OK send PASS")
		b.do("PASS p", ok)
		a.do("DELE 1", "+OK message 1 deleted")
		a.do("QUIT", "+OK storaged signing off (1 messages left)")
		// b's listing is its login's; the message a removed is gone.
		b.do("STAT", fmt.Sprintf("+OK 2 %d", e.size))
		b.do("RETR 1", "-ERR message 1 was removed by another session")
		b.do("DELE 1", "+OK message 1 deleted")
		b.do("QUIT", "+OK storaged signing off (1 messages left)")
		info, err := e.inbox.Info()
		if err != nil || info.Messages != 1 {
			t.Fatalf("INBOX after both sessions: %+v %v, want 1 message", info, err)
		}
	})
	t.Run("lock_session=true", func(t *testing.T) {
		e := newEnv(t, Config{LockSession: true, LockWait: 20 * time.Millisecond}, 2)
		ok := fmt.Sprintf("+OK maildrop has 2 messages (%d octets)", e.size)
		a, b := e.dial(t), e.dial(t)
		a.do("USER u", "+OK send PASS")
		a.do("PASS p", ok)
		b.do("USER u", "+OK send PASS")
		b.do("PASS wrong", "-ERR [AUTH] invalid user name or password")
		b.do("USER u", "+OK send PASS")
		b.do("PASS p", "-ERR [IN-USE] another POP3 session holds this maildrop")
		b.do("AUTH PLAIN "+plain("", "u", "p"), "-ERR [IN-USE] another POP3 session holds this maildrop")
		a.do("DELE 1", "+OK message 1 deleted")
		a.do("QUIT", "+OK storaged signing off (1 messages left)")
		// Freed before a heard +OK: b gets it at once.
		b.do("USER u", "+OK send PASS")
		b.do("PASS p", fmt.Sprintf("+OK maildrop has 1 messages (%d octets)", e.size/2))
		b.do("QUIT", "+OK storaged signing off (1 messages left)")
	})
}

// A session whose connection drops holds nothing: the next login gets
// the maildrop (waiting, if need be, for the server to see the drop)
// and nothing was deleted.
func TestTranscriptLockReleasedOnDrop(t *testing.T) {
	e := newEnv(t, Config{LockSession: true, LockWait: time.Minute}, 2)
	ok := fmt.Sprintf("+OK maildrop has 2 messages (%d octets)", e.size)
	for _, end := range []string{"drop", "drop in AUTH"} {
		a := e.dial(t)
		if end == "drop in AUTH" {
			a.do("AUTH PLAIN", "+ ")
			a.do(plain("", "u", "p"), ok)
		} else {
			a.do("USER u", "+OK send PASS")
			a.do("PASS p", ok)
		}
		a.do("DELE 1", "+OK message 1 deleted")
		a.conn.Close()
		b := e.dial(t)
		b.do("USER u", "+OK send PASS")
		b.do("PASS p", ok)
		b.do("QUIT", "+OK storaged signing off (2 messages left)")
	}
}

// A login waiting for the maildrop gets it when the holder QUITs.
func TestTranscriptLockWaitsForHolder(t *testing.T) {
	e := newEnv(t, Config{LockSession: true, LockWait: time.Minute}, 1)
	ok := fmt.Sprintf("+OK maildrop has 1 messages (%d octets)", e.size)
	a, b := e.dial(t), e.dial(t)
	a.do("USER u", "+OK send PASS")
	a.do("PASS p", ok)
	b.do("USER u", "+OK send PASS")
	if _, err := io.WriteString(b.conn, "PASS p\r\n"); err != nil {
		t.Fatal(err)
	}
	a.do("QUIT", "+OK storaged signing off (1 messages left)")
	b.expect("PASS p", ok)
	b.do("QUIT", "+OK storaged signing off (1 messages left)")
}

// A holder that goes idle until the server ends it frees the maildrop
// then: the login waiting for it gets it.
func TestTranscriptLockReleasedOnIdleTimeout(t *testing.T) {
	e := newEnv(t, Config{LockSession: true, LockWait: time.Minute, IdleTimeout: 100 * time.Millisecond}, 1)
	ok := fmt.Sprintf("+OK maildrop has 1 messages (%d octets)", e.size)
	a := e.dial(t)
	a.do("USER u", "+OK send PASS")
	a.do("PASS p", ok)
	b := e.dial(t)
	b.do("USER u", "+OK send PASS")
	if _, err := io.WriteString(b.conn, "PASS p\r\n"); err != nil {
		t.Fatal(err)
	}
	a.expect("idle holder", "-ERR idle for too long, closing")
	b.expect("PASS p", ok)
}
