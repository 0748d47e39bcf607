package policy

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/delivery"
)

// checker decides by recipient, as delivery's CheckQuota answers.
type checker map[string]error

func (c checker) CheckQuota(_ context.Context, addr string, size int64) error {
	if size > 1000 {
		return &delivery.Error{Kind: delivery.OverQuota, Msg: "Mailbox full"}
	}
	return c[addr]
}

// Requests in, exact actions out, several on one connection; a malformed
// request ends the connection.
func TestTranscript(t *testing.T) {
	srv := New(Config{OverQuota: "DEFER_IF_PERMIT full"}, checker{
		"nobody@example.org": &delivery.Error{Kind: delivery.NoSuchUser, Msg: "no such user"},
		"ann@example.net":    &delivery.Error{Kind: delivery.NoSuchUser, Msg: "not a local domain", Err: delivery.ErrNotLocal},
		"broken@example.org": &delivery.Error{Kind: delivery.TempFail, Msg: "index busy"},
		"full@example.org":   &delivery.Error{Kind: delivery.OverQuotaTemp, Msg: "Mailbox full"},
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	for _, tc := range []struct{ req, want string }{
		{"request=smtpd_access_policy\nprotocol_state=RCPT\nrecipient=ann@example.org\nsize=10\n\n", "action=DUNNO"},
		{"\nrequest=smtpd_access_policy\r\nrecipient=ann@example.org\r\nsize=5000\r\n\r\n", "action=DEFER_IF_PERMIT full"},
		{"request=smtpd_access_policy\nrecipient=full@example.org\n\n", "action=DEFER_IF_PERMIT full"},
		{"request=smtpd_access_policy\nrecipient=nobody@example.org\n\n", "action=REJECT Unknown user"},
		{"request=smtpd_access_policy\nrecipient=ann@example.net\n\n", "action=DUNNO"},
		{"request=smtpd_access_policy\nrecipient=broken@example.org\n\n", "action=DEFER_IF_PERMIT Temporary quota lookup failure, try again later"},
		{"request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\n\n", "action=DUNNO"},
		{"request=something_else\nrecipient=nobody@example.org\n\n", "action=DUNNO"},
	} {
		if _, err := io.WriteString(c, tc.req); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if blank, _ := r.ReadString('\n'); blank != "\n" {
			t.Fatalf("%q: no blank line after the action", tc.req)
		}
		if got := strings.TrimSuffix(line, "\n"); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.req, got, tc.want)
		}
	}
	io.WriteString(c, strings.Repeat("x", maxLine+10)+"\n\n")
	if _, err := r.ReadString('\n'); err == nil {
		t.Fatal("an over-long line did not end the connection")
	}
}

func FuzzReadRequest(f *testing.F) {
	f.Add([]byte("request=smtpd_access_policy\nrecipient=a@b\nsize=1\n\n"))
	f.Add([]byte("\n\n\nx=\n=y\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReaderSize(strings.NewReader(string(b)), maxLine)
		for i := 0; i < 200; i++ {
			if _, err := readRequest(r); err != nil {
				return
			}
		}
	})
}
