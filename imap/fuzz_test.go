package imap

import (
	"bufio"
	"bytes"
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/store"
)

// pipeListener hands net.Pipe ends to the server.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}
func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.UnixAddr{Name: "pipe", Net: "pipe"} }

// panicLog fails the fuzz run when imapserver reports a recovered panic.
type panicLog struct {
	mu     sync.Mutex
	panics []string
}

func (p *panicLog) Enabled(context.Context, slog.Level) bool { return true }
func (p *panicLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	if strings.Contains(b.String(), "panic") {
		p.mu.Lock()
		p.panics = append(p.panics, b.String())
		p.mu.Unlock()
	}
	return nil
}
func (p *panicLog) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *panicLog) WithGroup(string) slog.Handler      { return p }

// FuzzCommands feeds command lines to a logged-in session with INBOX
// selected. The server must answer every tag, survive, and never panic.
func FuzzCommands(f *testing.F) {
	for _, s := range []string{
		"FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODYSTRUCTURE)",
		"UID FETCH 1:* (BODY[1.2.MIME]<0.10> BINARY[1] BINARY.SIZE[1])",
		"STORE 1 +FLAGS.SILENT (\\Seen $x)", "SEARCH OR FROM a (NOT BODY b) LARGER 10",
		"UID SEARCH RETURN (MIN MAX COUNT) UID 1:*", "COPY 1 INBOX", "MOVE 1:* Trash", "EXPUNGE",
		"LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"%\" \"*\") RETURN (CHILDREN STATUS (MESSAGES SIZE))",
		"CREATE a/b/c", "RENAME a z", "DELETE z/b", "STATUS INBOX (MESSAGES UIDNEXT UNSEEN SIZE RECENT)",
		"APPEND INBOX (\\Flagged) {12+}\r\nSubject: x\r\n", "SELECT ../x", "EXAMINE INBOX", "CLOSE", "UNSELECT",
		"NOOP", "ENABLE IMAP4rev2", "NAMESPACE", "FETCH * (ENVELOPE)", "UID EXPUNGE 1:3",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	users, err := auth.Open(filepath.Join(dir, "users"), nil)
	if err != nil {
		f.Fatal(err)
	}
	users.SetHashParams(auth.HashParams{Memory: 64, Time: 1, Threads: 1})
	users.Add("u", "p", nil)
	accounts := store.NewAccounts(store.Options{MailDir: filepath.Join(dir, "mail"), IndexDir: filepath.Join(dir, "index")})
	defer accounts.Close()
	acct, err := accounts.Open(context.Background(), "u")
	if err != nil {
		f.Fatal(err)
	}
	inbox, _ := acct.Mailbox("INBOX")
	for _, m := range []string{
		"From: A <a@x.org>\r\nSubject: one\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nx\r\n--b--\r\n",
		"Subject: two\r\n\r\nbody\r\n",
	} {
		inbox.Append(context.Background(), []byte(m), store.AppendOptions{})
	}
	logs := &panicLog{}
	srv := New(Config{MaxMessageSize: 1 << 20, AuthFailDelay: time.Millisecond}, users, accounts, slog.New(logs))
	l := &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
	go srv.Serve(l)
	defer srv.Shutdown()

	f.Fuzz(func(t *testing.T, line string) {
		client, server := net.Pipe()
		l.conns <- server
		defer client.Close()
		// An unfinished literal leaves the server waiting: the deadline ends it.
		client.SetDeadline(time.Now().Add(2 * time.Second))
		r := bufio.NewReader(client)
		var script bytes.Buffer
		script.WriteString("a LOGIN u p\r\nb SELECT INBOX\r\nc " + line + "\r\nz NOOP\r\n")
		go client.Write(script.Bytes())
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				break // the server may close on garbage; that is allowed
			}
			if strings.HasPrefix(l, "z ") {
				break
			}
		}
		logs.mu.Lock()
		defer logs.mu.Unlock()
		if len(logs.panics) > 0 {
			t.Fatalf("panic on %q: %s", line, logs.panics[0])
		}
	})
}
