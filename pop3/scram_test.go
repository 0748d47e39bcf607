package pop3

import (
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/internal/scramclient"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// scramEnv is newEnv with SCRAM-SHA-256 enabled and a user s (password
// pw) whose hash can do it; u's argon2id hash cannot.
func scramEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newEnv(t, Config{}, 1)
	a, err := auth.NewAuthenticator(e.srv.users, auth.Policy{Mechanisms: []string{"PLAIN", "LOGIN", "SCRAM-SHA-256"}})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.cfg.Auth = a
	h, _ := auth.SCRAMHash("pw", 0)
	if err := e.srv.users.Add("s", "x", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.users.SetHash("s", h); err != nil {
		t.Fatal(err)
	}
	return e
}

func (c *client) line() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// scram sends AUTH SCRAM-SHA-256 (client-first as initial response) and
// the client-final-message.
func (c *client) scram(sc *scramclient.Client) {
	c.t.Helper()
	_, first, _ := sc.Start()
	io.WriteString(c.conn, "AUTH SCRAM-SHA-256 "+b64(string(first))+"\r\n")
	l := c.line()
	sf, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(l, "+ "))
	if !strings.HasPrefix(l, "+ ") || err != nil {
		c.t.Fatalf("server-first: %q", l)
	}
	final, err := sc.Next(sf)
	if err != nil {
		c.t.Fatal(err)
	}
	io.WriteString(c.conn, b64(string(final))+"\r\n")
}

func TestTranscriptSCRAM(t *testing.T) {
	e := scramEnv(t)
	c := e.dial(t)
	c.do("CAPA", "+OK capability list follows", "TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER",
		"IMPLEMENTATION storaged", "USER", "SASL PLAIN LOGIN SCRAM-SHA-256", ".")
	c.do("AUTH", "+OK mechanisms follow", "PLAIN", "LOGIN", "SCRAM-SHA-256", ".")
	sc := scramclient.New("", "s", "pw")
	c.scram(sc)
	// RFC 5034 has no data with success: the server's final message is a
	// last challenge, answered with an empty line.
	c.expect("server-final", "+ "+b64(sc.ServerFinalWanted()))
	c.do("", "+OK maildrop has 0 messages (0 octets)")
	c.do("QUIT", "+OK storaged signing off (0 messages left)")

	c = e.dial(t)
	for _, sc := range []*scramclient.Client{scramclient.New("", "s", "nope"), scramclient.New("", "u", "p"), scramclient.New("u", "s", "pw")} {
		c.scram(sc)
		c.expect(fmt.Sprintf("%s/%s", sc.Authz, sc.User), "-ERR [AUTH] invalid user name or password")
	}
	// Without an initial response: an empty challenge first.
	c.do("AUTH SCRAM-SHA-256", "+ ")
	c.do("*", "-ERR authentication cancelled")
	c.do("AUTH SCRAM-SHA-256 "+b64("n,,n=s"), "-ERR malformed SASL message: SCRAM client-first-message-bare is not n=user,r=nonce")
	// u logs in with PLAIN, and with LOGIN, both still offered.
	c.do("AUTH LOGIN", "+ "+b64("Username:"))
	c.do(b64("u"), "+ "+b64("Password:"))
	c.do(b64("p"), fmt.Sprintf("+OK maildrop has 1 messages (%d octets)", e.size))
}

// Not enabled (the default): not listed, not accepted.
func TestTranscriptSCRAMOff(t *testing.T) {
	e := newEnv(t, Config{}, 0)
	c := e.dial(t)
	c.do("AUTH", "+OK mechanisms follow", "PLAIN", "LOGIN", ".")
	c.do("AUTH SCRAM-SHA-256 "+b64("n,,n=u,r=x"), "-ERR unsupported SASL mechanism SCRAM-SHA-256 (PLAIN LOGIN)")
}
