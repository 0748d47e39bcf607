package server_test

import (
	"bufio"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/storaged/storaged/config"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func greets(t *testing.T, addr, prefix string) bool {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	line, err := textproto.NewReader(bufio.NewReader(c)).ReadLine()
	return err == nil && strings.HasPrefix(line, prefix)
}

// A reload moves IMAP to another port and opens POP3, while the IMAP
// session accepted on the old port goes on; the log level takes its new
// value; a setting that needs a restart is named, at every reload until
// then; the listener closed on purpose is not a server failure.
func TestReload(t *testing.T) {
	a, b, p := freeAddr(t), freeAddr(t), freeAddr(t)
	ts := startServer(t, t.TempDir(), func(c *config.Config) {
		c.IMAP.Listen = []string{a}
		c.POP3.Listen = nil
	}, "ann")
	level := new(slog.LevelVar)
	ts.LogLevel = level
	next := *ts.cfg
	next.IMAP.Listen = []string{b}
	next.POP3.Listen = []string{p}
	next.Log.Level = "debug"
	next.IMAP.MaxMessageSize = 1 << 20
	ts.LoadConfig = func() (*config.Config, error) { c := next; return &c, nil }

	c := ts.login(t, "ann", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msg, err := ts.Reload()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"closed imap " + a, "opened imap " + b, "opened pop3 " + p, "log level debug",
		"at the next restart: imap.max_message_size", "users file read (1 users)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("reload said %q, lacks %q", msg, want)
		}
	}
	if level.Level() != slog.LevelDebug {
		t.Errorf("log level %v", level.Level())
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("the session on the old port was dropped: %v", err)
	}
	if _, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil {
		t.Fatalf("the session on the old port was dropped: %v", err)
	}
	if greets(t, a, "* OK") {
		t.Error("the old IMAP port still accepts")
	}
	if !greets(t, b, "* OK") || !greets(t, p, "+OK") {
		t.Error("the new listeners do not greet")
	}
	msg, err = ts.Reload()
	if err != nil || strings.Contains(msg, "opened") || strings.Contains(msg, "closed") || !strings.Contains(msg, "at the next restart: imap.max_message_size") {
		t.Fatalf("second reload: %q %v", msg, err)
	}
	select {
	case err := <-ts.Err():
		t.Fatalf("a listener failure was reported: %v", err)
	default:
	}
}
