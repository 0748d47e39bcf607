package managesieve

import (
	"encoding/base64"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/internal/scramclient"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func (c *client) line() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func TestSCRAM(t *testing.T) {
	h := newHarness(t)
	users := h.srv.users.(*auth.DB)
	a, err := auth.NewAuthenticator(users, auth.Policy{Mechanisms: []string{"PLAIN", "LOGIN", "SCRAM-SHA-256"}})
	if err != nil {
		t.Fatal(err)
	}
	h.srv.cfg.Auth = a
	hash, _ := auth.SCRAMHash("pw", 0)
	users.Add("s", "x", nil)
	if err := users.SetHash("s", hash); err != nil {
		t.Fatal(err)
	}
	c := h.dial()
	caps := append([]string{}, capLines...)
	caps[1] = `"SASL" "PLAIN LOGIN SCRAM-SHA-256"`
	c.do("CAPABILITY", append(caps, `"UNAUTHENTICATE"`, `"VERSION" "1.0"`, `OK "Capability completed."`)...)

	exchange := func(sc *scramclient.Client) {
		t.Helper()
		_, first, _ := sc.Start()
		io.WriteString(c.c, `AUTHENTICATE "SCRAM-SHA-256" "`+b64(string(first))+"\"\r\n")
		l := c.line()
		q, err := strconv.Unquote(l)
		sf, err2 := base64.StdEncoding.DecodeString(q)
		if err != nil || err2 != nil {
			t.Fatalf("server-first: %q", l)
		}
		final, err := sc.Next(sf)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c.c, strconv.Quote(b64(string(final)))+"\r\n")
	}
	for _, sc := range []*scramclient.Client{scramclient.New("", "s", "nope"), scramclient.New("", "ann", "secret"), scramclient.New("", "nobody", "x")} {
		exchange(sc)
		if l := c.line(); l != `NO "Authentication failed."` {
			t.Fatalf("%s: %q", sc.User, l)
		}
	}
	sc := scramclient.New("", "s", "pw")
	exchange(sc)
	// RFC 5804 §2.1: the server's final message in the OK.
	if l, want := c.line(), `OK (SASL "`+b64(sc.ServerFinalWanted())+`") "Logged in."`; l != want {
		t.Fatalf("got %q, want %q", l, want)
	}
	c.do("LISTSCRIPTS", `OK "Listscripts completed."`)
}
