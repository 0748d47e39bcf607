package imap

import (
	"bufio"
	"bytes"
	"context"
	"errors"
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

// FuzzCommands feeds command lines to a logged-in session with INBOX
// selected. The server must survive, never panic, and, unless it ended
// the connection with BYE, answer the command that follows.
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
	logs := &testnet.PanicLog{}
	srv := New(Config{MaxMessageSize: 1 << 20, AuthFailDelay: time.Millisecond}, users, accounts, slog.New(logs))
	l := testnet.NewPipeListener()
	go srv.Serve(l)
	defer srv.Shutdown()

	f.Fuzz(func(t *testing.T, line string) {
		client := l.Dial()
		defer client.Close()
		// An unfinished literal leaves the server waiting: the deadline ends it.
		client.SetDeadline(time.Now().Add(2 * time.Second))
		r := bufio.NewReader(client)
		var script bytes.Buffer
		script.WriteString("a LOGIN u p\r\nb SELECT INBOX\r\nc " + line + "\r\nz NOOP\r\n")
		go client.Write(script.Bytes())
		bye := false
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				// Only after BYE, or a literal the script never sends
				// (the deadline).
				var ne net.Error
				if !bye && !(errors.As(err, &ne) && ne.Timeout()) {
					t.Fatalf("connection ended without BYE on %q: %v", line, err)
				}
				break
			}
			bye = bye || strings.HasPrefix(l, "* BYE ")
			if strings.HasPrefix(l, "z ") {
				break
			}
		}
		if p := logs.First(); p != "" {
			t.Fatalf("panic on %q: %s", line, p)
		}
	})
}
