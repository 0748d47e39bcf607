// Package scramclient is the client side of SCRAM-SHA-256 (RFC 5802 §3,
// RFC 7677), for tests: written from the RFCs apart from auth's server
// (its own Hi loop rather than a PBKDF2 call), so that each checks the
// other. It implements go-sasl's Client, so go-imap's client can use it.
//
// Invariants:
//   - The server's signature (v=) is checked; a server that does not
//     prove it knows the password fails the exchange.
//   - Nothing here is used outside tests.
package scramclient

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Client is one exchange.
type Client struct {
	Authz, User, Password string
	// Nonce is the client nonce; empty: random.
	Nonce string

	step        int
	bare        string
	gs2         string
	serverSig   []byte
	Verified    bool
	ServerFinal string
}

// New returns a client for user (authz: "" or the user to act as).
func New(authz, user, password string) *Client {
	return &Client{Authz: authz, User: user, Password: password}
}

func escape(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

// Start is go-sasl's: the mechanism and the client-first-message.
func (c *Client) Start() (string, []byte, error) {
	if c.Nonce == "" {
		b := make([]byte, 24)
		rand.Read(b)
		c.Nonce = base64.RawURLEncoding.EncodeToString(b)
	}
	c.gs2 = "n,,"
	if c.Authz != "" {
		c.gs2 = "n,a=" + escape(c.Authz) + ","
	}
	c.bare = "n=" + escape(c.User) + ",r=" + c.Nonce
	c.step = 1
	return "SCRAM-SHA-256", []byte(c.gs2 + c.bare), nil
}

func mac(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// hi is RFC 5802 §2.2's Hi(str, salt, i), spelt out.
func hi(password, salt []byte, n int) []byte {
	u := mac(password, append(append([]byte{}, salt...), 0, 0, 0, 1))
	out := append([]byte{}, u...)
	for i := 1; i < n; i++ {
		u = mac(password, u)
		for j := range out {
			out[j] ^= u[j]
		}
	}
	return out
}

// ServerFinalWanted is the server-final-message a server that knows the
// password sends ("v=" and its signature), known once the client-final
// message is made.
func (c *Client) ServerFinalWanted() string {
	return "v=" + base64.StdEncoding.EncodeToString(c.serverSig)
}

// Next answers the server's challenges: the server-first-message with
// the client-final-message, then the server-final-message (checked) with
// an empty response.
func (c *Client) Next(challenge []byte) ([]byte, error) {
	switch c.step {
	case 1:
		c.step = 2
		attrs := map[string]string{}
		for _, kv := range strings.Split(string(challenge), ",") {
			k, v, _ := strings.Cut(kv, "=")
			attrs[k] = v
		}
		nonce, salt64, iters := attrs["r"], attrs["s"], attrs["i"]
		if !strings.HasPrefix(nonce, c.Nonce) || len(nonce) == len(c.Nonce) {
			return nil, fmt.Errorf("scram: server nonce %q does not extend ours", nonce)
		}
		salt, err := base64.StdEncoding.DecodeString(salt64)
		n, nerr := strconv.Atoi(iters)
		if err != nil || nerr != nil || n < 1 {
			return nil, fmt.Errorf("scram: bad server-first-message %q", challenge)
		}
		salted := hi([]byte(c.Password), salt, n)
		clientKey := mac(salted, []byte("Client Key"))
		stored := sha256.Sum256(clientKey)
		final := "c=" + base64.StdEncoding.EncodeToString([]byte(c.gs2)) + ",r=" + nonce
		authMsg := []byte(c.bare + "," + string(challenge) + "," + final)
		sig := mac(stored[:], authMsg)
		proof := make([]byte, len(clientKey))
		for i := range proof {
			proof[i] = clientKey[i] ^ sig[i]
		}
		c.serverSig = mac(mac(salted, []byte("Server Key")), authMsg)
		return []byte(final + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
	case 2:
		c.step = 3
		c.ServerFinal = string(challenge)
		if e, ok := strings.CutPrefix(c.ServerFinal, "e="); ok {
			return nil, errors.New("scram: server error " + e)
		}
		v, ok := strings.CutPrefix(c.ServerFinal, "v=")
		got, err := base64.StdEncoding.DecodeString(v)
		if !ok || err != nil || !hmac.Equal(got, c.serverSig) {
			return nil, fmt.Errorf("scram: the server's signature %q is wrong", challenge)
		}
		c.Verified = true
		return []byte{}, nil
	}
	return nil, errors.New("scram: unexpected challenge")
}
