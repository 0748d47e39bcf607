package imap

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/internal/scramclient"
)

// scramEnv is newEnv with SCRAM-SHA-256 enabled and a user s (password
// pw) whose hash can do it; u's argon2id hash cannot.
func scramEnv(t *testing.T) *testEnv {
	t.Helper()
	e := newEnv(t)
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

// scram runs the exchange up to the server's verdict on the proof and
// returns the client; sasl-ir sends client-first with the command.
func (s *session) scram(tag string, c *scramclient.Client, saslIR bool) {
	s.t.Helper()
	_, first, _ := c.Start()
	if saslIR {
		s.send(tag + " AUTHENTICATE SCRAM-SHA-256 " + b64(string(first)) + "\r\n")
	} else {
		s.do(tag+" AUTHENTICATE SCRAM-SHA-256", "+ ")
		s.send(b64(string(first)) + "\r\n")
	}
	l := s.line()
	sf, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(l, "+ "))
	if !strings.HasPrefix(l, "+ ") || err != nil {
		s.t.Fatalf("server-first: %q", l)
	}
	final, err := c.Next(sf)
	if err != nil {
		s.t.Fatal(err)
	}
	s.send(b64(string(final)) + "\r\n")
}

func TestAuthenticateSCRAM(t *testing.T) {
	e := scramEnv(t)
	s := e.dial(t)
	s.do("a1 CAPABILITY", "* CAPABILITY IMAP4rev2 IMAP4rev1 LITERAL+ ID ENABLE AUTH=PLAIN AUTH=LOGIN AUTH=SCRAM-SHA-256 SASL-IR", "a1 OK CAPABILITY completed")
	c := scramclient.New("", "s", "pw")
	s.scram("a2", c, true)
	// The server proves it knows the key, as a last challenge; the
	// client answers it with an empty line.
	s.expect("server-final", "+ "+b64(c.ServerFinalWanted()))
	s.do("", "a2 OK [CAPABILITY "+capsPost+"] logged in")

	// Without SASL-IR, and with the user's name in another case.
	s = e.dial(t)
	c = scramclient.New("", "S", "pw")
	s.scram("b1", c, false)
	s.expect("server-final", "+ "+b64(c.ServerFinalWanted()))
	s.do("", "b1 OK [CAPABILITY "+capsPost+"] logged in")

	// A wrong password, a user whose hash cannot do SCRAM, an unknown
	// one: all the same failure, after the whole exchange.
	s = e.dial(t)
	for i, c := range []*scramclient.Client{scramclient.New("", "s", "nope"), scramclient.New("", "u", "p"), scramclient.New("", "nobody", "p")} {
		tag := "c" + string(rune('1'+i))
		s.scram(tag, c, true)
		s.expect("failure", tag+" NO [AUTHENTICATIONFAILED] authentication failed")
	}
	// Acting as another user: no master users here.
	s.scram("c4", scramclient.New("u", "s", "pw"), true)
	s.expect("authzid", "c4 NO [AUTHENTICATIONFAILED] authentication failed")

	// Cancelled, malformed, channel binding asked for, a non-empty
	// answer to the server's final message.
	s.do("d1 AUTHENTICATE SCRAM-SHA-256", "+ ")
	s.do("*", "d1 BAD AUTHENTICATE cancelled")
	s.do("d2 AUTHENTICATE SCRAM-SHA-256 "+b64("n=s,r=x"), "d2 BAD malformed SASL message: SCRAM client-first-message needs a gs2 header")
	s.do("d3 AUTHENTICATE SCRAM-SHA-256 "+b64("p=tls-exporter,,n=s,r=x"), "d3 BAD malformed SASL message: SCRAM channel binding is not supported (use SCRAM-SHA-256 without -PLUS)")
	c = scramclient.New("", "s", "pw")
	s.scram("d4", c, true)
	s.expect("server-final", "+ "+b64(c.ServerFinalWanted()))
	s.do(b64("more"), "d4 BAD SCRAM: the answer to the server's final message must be empty")
	s.do("d5 CAPABILITY", "* CAPABILITY IMAP4rev2 IMAP4rev1 LITERAL+ ID ENABLE AUTH=PLAIN AUTH=LOGIN AUTH=SCRAM-SHA-256 SASL-IR", "d5 OK CAPABILITY completed")
}

// Not enabled (the default): neither advertised nor accepted.
func TestAuthenticateSCRAMOff(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.do("a1 AUTHENTICATE SCRAM-SHA-256 "+b64("n,,n=u,r=abc"), "a1 NO [CANNOT] unsupported authentication mechanism SCRAM-SHA-256")
}
