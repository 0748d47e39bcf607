package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/index"
	"github.com/storaged/storaged/server"
	"github.com/storaged/storaged/store"
)

// testServer is a whole storaged on loopback in a temporary directory.
type testServer struct {
	*server.Server
	t    testing.TB
	dir  string
	lmtp string // TCP address
	sock string // unix socket path
	imap string // IMAP address
	pop3 string // POP3 address
	cfg  *config.Config
}

func newConfig(t testing.TB, dir string) *config.Config {
	t.Helper()
	t.Setenv("STORAGED_DATA", dir)
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.LocalDomains = []string{"example.org", "localhost"}
	cfg.Hostname = "mx.example.org"
	cfg.LMTP.Listen = []string{"127.0.0.1:0", "unix:" + filepath.Join(dir, "lmtp.sock")}
	cfg.IMAP.Listen = []string{"127.0.0.1:0"}
	cfg.IMAP.AuthFailDelay = config.Duration(50 * time.Millisecond)
	cfg.POP3.Listen = []string{"127.0.0.1:0"}
	cfg.POP3.AuthFailDelay = config.Duration(50 * time.Millisecond)
	cfg.ManageSieve.Listen = []string{"127.0.0.1:0"}
	cfg.ManageSieve.AuthFailDelay = config.Duration(50 * time.Millisecond)
	return cfg
}

func startServer(t testing.TB, dir string, mutate func(*config.Config), users ...string) *testServer {
	t.Helper()
	cfg := newConfig(t, dir)
	if mutate != nil {
		mutate(cfg)
	}
	var logger *slog.Logger
	if _, bench := t.(*testing.B); bench {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	} else {
		logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := server.New(cfg, logger, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	srv.Users.SetHashParams(cheapHash)
	for _, u := range users {
		if _, ok := srv.Users.Lookup(u); !ok {
			if err := srv.Users.Add(u, "secret-"+u, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, t: t, dir: dir, sock: filepath.Join(dir, "lmtp.sock"), cfg: cfg}
	for _, a := range srv.Addrs("lmtp") {
		if a.Network() == "tcp" {
			ts.lmtp = a.String()
		}
	}
	if a := srv.Addrs("imap"); len(a) > 0 {
		ts.imap = a[0].String()
	}
	if a := srv.Addrs("pop3"); len(a) > 0 {
		ts.pop3 = a[0].String()
	}
	<-srv.Repaired()
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) stop() {
	if ts.Server == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		ts.t.Errorf("shutdown: %v", err)
	}
	ts.Server = nil
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// lmtpClient dials the server's TCP LMTP listener.
func (ts *testServer) lmtpClient() *smtp.Client {
	ts.t.Helper()
	conn, err := net.Dial("tcp", ts.lmtp)
	if err != nil {
		ts.t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	if err := c.Hello("client.example.net"); err != nil {
		ts.t.Fatal(err)
	}
	return c
}

// send delivers one message and returns the per-recipient replies (nil
// for 250), or the error of a command before DATA.
func send(c *smtp.Client, from string, rcpts []string, msg []byte) (map[string]*smtp.SMTPError, error) {
	if err := c.Mail(from, nil); err != nil {
		return nil, err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return nil, err
		}
	}
	return lmtpData(c, msg)
}

// lmtpData sends DATA and returns every recipient's reply: nil for 250.
func lmtpData(c *smtp.Client, msg []byte) (map[string]*smtp.SMTPError, error) {
	w, err := c.Data()
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(msg); err != nil {
		return nil, err
	}
	ok, err := w.CloseWithLMTPResponse()
	out := make(map[string]*smtp.SMTPError)
	for r := range ok {
		out[r] = nil
	}
	var lerr smtp.LMTPDataError
	if errors.As(err, &lerr) {
		for r, se := range lerr {
			out[r] = se
		}
		return out, nil
	}
	return out, err
}

// cheapHash keeps argon2id fast in tests; production costs are in auth.
var cheapHash = auth.HashParams{Memory: 1024, Time: 1, Threads: 1}

// mailFiles returns the messages in a user's INBOX directories, by name.
func mailFiles(t *testing.T, dir, user string) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte)
	for _, sub := range []string{"new", "cur"} {
		p := filepath.Join(dir, "mail", user, sub)
		ents, err := os.ReadDir(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(p, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out[sub+"/"+e.Name()] = b
		}
	}
	return out
}

// indexed reads a user's INBOX from the index (the server must be stopped).
func indexed(t *testing.T, dir, user string) (index.Mailbox, []index.Message) {
	t.Helper()
	db, err := index.Open(filepath.Join(dir, "index", user, "index.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mb index.Mailbox
	var msgs []index.Message
	err = db.View(func(tx *index.Tx) error {
		var err error
		if mb, err = tx.Mailbox("INBOX"); err != nil {
			return err
		}
		return tx.ForEachMessage(mb.ID, func(m *index.Message) error {
			msgs = append(msgs, *m)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].UID < msgs[j].UID })
	return mb, msgs
}

func readAllFile(t *testing.T, p string) []byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	return b
}

func acctMailbox(t *testing.T, ts *testServer, user string) *store.Mailbox {
	t.Helper()
	acct, err := ts.Accounts.Open(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := acct.Mailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return mb
}

func startServerB(b *testing.B, dir string, users []string) *testServer {
	return startServer(b, dir, nil, users...)
}

// lmtpClientOrNil dials like lmtpClient but returns nil when the server
// no longer accepts or greets.
func (ts *testServer) lmtpClientOrNil() *smtp.Client {
	conn, err := net.Dial("tcp", ts.lmtp)
	if err != nil {
		return nil
	}
	c := smtp.NewClientLMTP(conn)
	if err := c.Hello("client.example.net"); err != nil {
		c.Close()
		return nil
	}
	return c
}

// storeFormats are the storage formats the IMAP and POP3 suites run on,
// each suite once per format.
var storeFormats = []string{"maildir", "mbox", "mh"}

func eachFormat(t *testing.T, fn func(t *testing.T, format string)) {
	for _, f := range storeFormats {
		t.Run(f, func(t *testing.T) { fn(t, f) })
	}
}

// withFormat sets the storage format, then applies more changes.
func withFormat(format string, more ...func(*config.Config)) func(*config.Config) {
	return func(c *config.Config) {
		c.Mail.Format = format
		for _, m := range more {
			m(c)
		}
	}
}

// diskMessage is a message as its format's files hold it.
type diskMessage struct {
	folder.Entry
	Bytes []byte // canonical
}

// stored counts the messages of a mailbox on disk.
func (ts *testServer) stored(t testing.TB, user, mailbox string) int {
	t.Helper()
	return len(onDisk(t, ts.cfg, user, mailbox))
}

// onDisk reads a mailbox through a folder store opened apart from the
// server's, in the format the server was configured with: what another
// program reading the files would see.
func onDisk(t testing.TB, cfg *config.Config, user, mailbox string) []diskMessage {
	t.Helper()
	var st folder.Store
	for _, f := range server.Formats {
		if f.Name == cfg.Mail.Format {
			var err error
			if st, err = f.Open(filepath.Join(cfg.Mail.Dir, user), folder.Options{LockWait: cfg.Mail.LockWait.D()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if st == nil {
		t.Fatalf("no format %q", cfg.Mail.Format)
	}
	fo, err := st.Folder(mailbox)
	if err != nil {
		t.Fatal(err)
	}
	ents, _, err := fo.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []diskMessage
	for _, e := range ents {
		out = append(out, diskMessage{Entry: e, Bytes: readMessage(t)(fo.Open(e))})
	}
	return out
}

// inboxInUIDOrder returns user's INBOX messages through the server's
// store, in UID order, canonical.
func (ts *testServer) inboxInUIDOrder(t testing.TB, user string) []diskMessage {
	t.Helper()
	mb := acctMailbox(t.(*testing.T), ts, user)
	_, msgs, err := mb.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var out []diskMessage
	for _, m := range msgs {
		out = append(out, diskMessage{Entry: folder.Entry{Key: m.Key, Name: m.Name, Flags: m.Flags}, Bytes: readMessage(t)(mb.Open(m))})
	}
	return out
}

// readMessage reads an opened message whole: readMessage(t)(f.Open(e)).
func readMessage(t testing.TB) func(io.ReadCloser, error) []byte {
	return func(r io.ReadCloser, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
}

// dropExternal adds a message to a mailbox the way another program on
// the same store would (procmail, inc, mutt), behind the server's back.
// msg has LF line ends, as such programs write.
func (ts *testServer) dropExternal(t testing.TB, user, mailbox string, msg []byte) {
	t.Helper()
	root := filepath.Join(ts.cfg.Mail.Dir, user)
	switch ts.cfg.Mail.Format {
	case "maildir":
		dir := root
		if mailbox != folder.Inbox {
			dir = filepath.Join(root, "."+strings.ReplaceAll(mailbox, "/", "."))
		}
		name := fmt.Sprintf("%d.M%dP%d.elsewhere", time.Now().Unix(), time.Now().Nanosecond()/1000, os.Getpid())
		if err := os.WriteFile(filepath.Join(dir, "new", name), msg, 0o600); err != nil {
			t.Fatal(err)
		}
	case "mh":
		// As inc does: the next number, taken with link(2).
		dir := filepath.Join(root, "inbox")
		if mailbox != folder.Inbox {
			dir = filepath.Join(root, mailbox)
		}
		tmp := filepath.Join(dir, ",inc-tmp")
		if err := os.WriteFile(tmp, msg, 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(tmp)
		for n := 1; ; n++ {
			err := os.Link(tmp, filepath.Join(dir, strconv.Itoa(n)))
			if err == nil {
				break
			}
			if !errors.Is(err, fs.ErrExist) {
				t.Fatal(err)
			}
		}
	case "mbox":
		// As procmail does: a From_ line and the message at the end of
		// the file, under the dotlock.
		p := filepath.Join(root, folder.Inbox)
		if mailbox != folder.Inbox {
			p = filepath.Join(root, strings.ReplaceAll(mailbox, "/", ".sbd/"))
		}
		lock := p + ".lock"
		for i := 0; ; i++ {
			fd, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err == nil {
				fd.Close()
				break
			}
			if i > 200 {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		defer os.Remove(lock)
		fd, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer fd.Close()
		rec := append([]byte("From procmail@example.org Mon Mar  2 10:00:00 2020\n"), msg...)
		if _, err := fd.Write(append(rec, '\n')); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("dropExternal: no way to write format %q", ts.cfg.Mail.Format)
	}
}
