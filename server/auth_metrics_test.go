package server_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/storaged/storaged/config"
)

// storaged_auth_failures_total counts each failed login once, by
// protocol (IMAP, POP3, ManageSieve) and by the reason its log line gives: unknown user, wrong
// password, a disabled account, an unusable hash, SCRAM for a hash that
// cannot do it, and logins the throttle refused unchecked.
func TestAuthFailureMetrics(t *testing.T) {
	ts := startServer(t, t.TempDir(), func(c *config.Config) {
		c.Metrics.Listen = "127.0.0.1:0"
		c.Auth.Mechanisms = []string{"PLAIN", "LOGIN", "SCRAM-SHA-256"}
		c.Auth.MaxFailuresPerAddress = 1000
		c.Auth.MaxFailuresPerUser = 1000
		c.Auth.MaxFailuresPerUserAddress = 2
	}, "ann", "bob", "dis", "dis2", "odd", "thr")
	for u, h := range map[string]string{"dis": "!locked", "dis2": "*", "odd": "{NO-SUCH-SCHEME}abc"} {
		if err := ts.Users.SetHash(u, h); err != nil {
			t.Fatal(err)
		}
	}
	im := dialLine(t, ts.imap, "")
	im.line()
	n := 0
	imapLogin := func(user, pw, want string) {
		t.Helper()
		n++
		im.send(fmt.Sprintf("a%d LOGIN %s %q\r\n", n, user, pw))
		if l := im.line(); !strings.HasPrefix(l, fmt.Sprintf("a%d NO [%s]", n, want)) {
			t.Fatalf("LOGIN %s: %q", user, l)
		}
	}
	imapLogin("zed", "x", "AUTHENTICATIONFAILED")
	imapLogin("ann", "wrong", "AUTHENTICATIONFAILED")
	imapLogin("dis", "x", "AUTHENTICATIONFAILED")
	imapLogin("odd", "x", "AUTHENTICATIONFAILED")
	imapLogin("thr", "wrong1", "AUTHENTICATIONFAILED")
	imapLogin("thr", "wrong2", "AUTHENTICATIONFAILED")
	imapLogin("thr", "secret-thr", "UNAVAILABLE")
	// SCRAM for bob, whose argon2id hash cannot do it: the proof is
	// refused at the end of the exchange.
	first := "n,,n=bob,r=abcdefghijklmnop"
	im.send("s1 AUTHENTICATE SCRAM-SHA-256 " + base64.StdEncoding.EncodeToString([]byte(first)) + "\r\n")
	sf, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(im.line(), "+ "))
	nonce, _, _ := strings.Cut(strings.TrimPrefix(string(sf), "r="), ",")
	im.send(base64.StdEncoding.EncodeToString([]byte("c=biws,r="+nonce+",p="+base64.StdEncoding.EncodeToString(make([]byte, 32)))) + "\r\n")
	if l := im.line(); !strings.HasPrefix(l, "s1 NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("SCRAM for bob: %q", l)
	}

	pop := dialLine(t, ts.pop3, "")
	pop.line()
	popLogin := func(user, pw string) {
		t.Helper()
		pop.send("USER " + user + "\r\n")
		pop.line()
		pop.send("PASS " + pw + "\r\n")
		if l := pop.line(); !strings.HasPrefix(l, "-ERR") {
			t.Fatalf("PASS for %s: %q", user, l)
		}
	}
	popLogin("zed", "y")
	popLogin("dis", "y")
	popLogin("odd", "y")
	popLogin("ann", "wrong again")
	popLogin("thr", "wrong3")

	ms := dialLine(t, ts.addr("managesieve"), "")
	ms.until("OK")
	for _, u := range []string{"nobody", "dis2"} {
		ms.send(`AUTHENTICATE "PLAIN" "` + base64.StdEncoding.EncodeToString([]byte("\x00"+u+"\x00nope")) + "\"\r\n")
		if l := ms.line(); !strings.HasPrefix(l, "NO") {
			t.Fatalf("ManageSieve AUTHENTICATE %s: %q", u, l)
		}
	}

	resp, err := http.Get("http://" + ts.MetricsAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		`storaged_auth_failures_total{proto="imap",reason="unknown_user"} 1`,
		`storaged_auth_failures_total{proto="imap",reason="wrong_password"} 3`,
		`storaged_auth_failures_total{proto="imap",reason="disabled"} 1`,
		`storaged_auth_failures_total{proto="imap",reason="bad_hash"} 1`,
		`storaged_auth_failures_total{proto="imap",reason="no_scram"} 1`,
		`storaged_auth_failures_total{proto="imap",reason="throttled"} 1`,
		`storaged_auth_failures_total{proto="pop3",reason="unknown_user"} 1`,
		`storaged_auth_failures_total{proto="pop3",reason="disabled"} 1`,
		`storaged_auth_failures_total{proto="pop3",reason="bad_hash"} 1`,
		`storaged_auth_failures_total{proto="pop3",reason="wrong_password"} 1`,
		`storaged_auth_failures_total{proto="pop3",reason="throttled"} 1`,
		`storaged_auth_failures_total{proto="managesieve",reason="unknown_user"} 1`,
		`storaged_auth_failures_total{proto="managesieve",reason="disabled"} 1`,
		`storaged_logins_total{proto="managesieve",result="failed"} 2`,
		`storaged_logins_total{proto="imap",result="failed"} 8`,
		`storaged_logins_total{proto="pop3",result="failed"} 5`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "storaged_auth_failures_total") || strings.HasPrefix(l, "storaged_logins_total") {
				t.Log(l)
			}
		}
	}
}
