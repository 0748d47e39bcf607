package pop3

import (
	"bufio"
	"context"
	"errors"
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

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"STAT", "top 1 10", "PASS a b  c", "AUTH PLAIN AGEAYg==", "LIST", "USER x", "", " ", "RETR \x00", "UIDL 99999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, err := parseCommand([]byte(line))
		if err != nil {
			return
		}
		if len(cmd.name) < 3 || len(cmd.name) > 4 || strings.ToUpper(cmd.name) != cmd.name {
			t.Fatalf("%q: keyword %q", line, cmd.name)
		}
		for _, a := range cmd.args {
			if a == "" || cmd.name != "PASS" && strings.ContainsAny(a, " \t") {
				t.Fatalf("%q: argument %q", line, a)
			}
		}
	})
}

// FuzzSession feeds command lines to a logged-in session over a pipe,
// then RSET and QUIT: the server must never panic and must end the
// session (not hang) whatever came before.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"STAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 1", "DELE 1\r\nRETR 1\r\nLIST 1", "TOP 1 99999999",
		"AUTH PLAIN", "USER x\r\nPASS y", "CAPA", "RETR 0\r\nRETR 3\r\nDELE 2\r\nQUIT", "NOOP " + strings.Repeat("x", 300),
		"LIST 1 2 3", "UIDL 00002", "\r\n\r\n", "XTND XMIT",
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
	ctx := context.Background()
	acct, err := accounts.Open(ctx, "u")
	if err != nil {
		f.Fatal(err)
	}
	inbox, _ := acct.Mailbox("INBOX")
	logs := &testnet.PanicLog{}
	srv := New(Config{AuthFailDelay: time.Millisecond, IdleTimeout: 5 * time.Second}, users, accounts, slog.New(logs))
	l := testnet.NewPipeListener()
	go srv.Serve(l)
	defer srv.Shutdown()

	f.Fuzz(func(t *testing.T, lines string) {
		info, err := inbox.Info()
		if err != nil {
			t.Fatal(err)
		}
		n := int(info.Messages)
		for ; n < 3; n++ {
			if _, err := inbox.Append(ctx, []byte("Subject: x\r\n\r\n.dot\r\nbody\r\n"), store.AppendOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		client := l.Dial()
		defer client.Close()
		client.SetDeadline(time.Now().Add(3 * time.Second))
		go io.WriteString(client, "USER u\r\nPASS p\r\n"+lines+"\r\nRSET\r\nQUIT\r\n")
		_, err = io.Copy(io.Discard, bufio.NewReader(client))
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("session on %q did not end", lines)
		}
		if p := logs.First(); p != "" {
			t.Fatalf("panic on %q: %s", lines, p)
		}
	})
}
