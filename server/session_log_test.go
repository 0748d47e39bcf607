package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/storaged/storaged/server"
	"github.com/storaged/storaged/store"
)

// A POP3 session ends with one log line saying what it did: commands,
// messages retrieved and deleted, octets each way, duration.
func TestSessionEndLogged(t *testing.T) {
	cfg := newConfig(t, t.TempDir())
	var logs syncBuffer
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	srv.Users.SetHashParams(cheapHash)
	if err := srv.Users.Add("ann", "secret-ann", nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	<-srv.Repaired()
	acct, err := srv.Accounts.Open(context.Background(), "ann")
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := acct.Mailbox("INBOX")
	for i := 0; i < 2; i++ {
		inbox.Append(context.Background(), []byte(fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i)), store.AppendOptions{})
	}
	c, err := net.Dial("tcp", srv.Addrs("pop3")[0].String())
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	r.ReadString('\n')
	for _, cmd := range []string{"USER ann", "PASS secret-ann", "RETR 1", "DELE 2", "QUIT"} {
		io.WriteString(c, cmd+"\r\n")
		line, _ := r.ReadString('\n')
		if cmd == "RETR 1" {
			for line != ".\r\n" {
				if line, err = r.ReadString('\n'); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	c.Close()
	want := regexp.MustCompile(`msg="session ended" proto=pop3 .* ms=\d+ commands=5 retrieved=1 deleted=1 bytes_in=(\d+) bytes_out=(\d+)`)
	for deadline := time.Now().Add(10 * time.Second); ; {
		if m := want.FindStringSubmatch(logs.String()); m != nil {
			if m[1] != "49" {
				t.Errorf("bytes_in=%s, want the 49 octets sent", m[1])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session-end line:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
