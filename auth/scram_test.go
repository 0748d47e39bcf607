package auth

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/storaged/storaged/internal/scramclient"
)

var loopback = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}

func newAuth(t *testing.T, users string, p Policy) *Authenticator {
	t.Helper()
	db, _ := openTest(t, users)
	a, err := NewAuthenticator(db, p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// scramLogin runs a whole exchange with the independent client.
func scramLogin(t *testing.T, a *Authenticator, c *scramclient.Client) (Login, error) {
	t.Helper()
	x := a.SCRAM(Attempt{Proto: "test", Remote: loopback})
	_, first, _ := c.Start()
	sf, err := x.Start(first)
	if err != nil {
		return Login{}, err
	}
	final, err := c.Next(sf)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	v, l, err := x.Finish(context.Background(), final)
	if err != nil {
		return l, err
	}
	if _, err := c.Next(v); err != nil || !c.Verified {
		t.Fatalf("server signature: %v", err)
	}
	return l, nil
}

// RFC 7677 §3's example, octet for octet: the client's final message and
// the server's signature.
func TestSCRAMRFC7677(t *testing.T) {
	salt := []byte{0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e, 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81}
	h := scramHashWith("pencil", salt, 4096)
	if !strings.HasPrefix(h, "{SCRAM-SHA-256}4096,W22ZaJ0SNY7soEsUEjb6gQ==,") {
		t.Fatalf("hash %s", h)
	}
	a := newAuth(t, "user:"+h+"\n", Policy{Mechanisms: []string{"SCRAM-SHA-256"}})
	a.scramNonce = func() string { return "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0" }
	c := scramclient.New("", "user", "pencil")
	c.Nonce = "rOprNGfwEbeRWgbNEkqO"
	x := a.SCRAM(Attempt{Remote: loopback})
	_, first, _ := c.Start()
	if string(first) != "n,,n=user,r=rOprNGfwEbeRWgbNEkqO" {
		t.Fatalf("client-first %q", first)
	}
	sf, err := x.Start(first)
	if err != nil || string(sf) != "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096" {
		t.Fatalf("server-first %q %v", sf, err)
	}
	final, err := c.Next(sf)
	if err != nil || string(final) != "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=" {
		t.Fatalf("client-final %q %v", final, err)
	}
	v, l, err := x.Finish(context.Background(), final)
	if err != nil || string(v) != "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" || l.User.Name != "user" {
		t.Fatalf("server-final %q %+v %v", v, l, err)
	}
	if _, err := c.Next(v); err != nil || !c.Verified {
		t.Fatalf("client did not verify the server: %v", err)
	}
	// The same hash serves a PLAIN login.
	if ok, err := VerifyHash(h, "pencil"); !ok || err != nil {
		t.Fatalf("PLAIN against a SCRAM hash: %v %v", ok, err)
	}
	if ok, _ := VerifyHash(h, "pencil2"); ok {
		t.Fatal("wrong password verified against a SCRAM hash")
	}
}

// Hashes doveadm makes verify here, and ours verify in doveadm.
func TestSCRAMDovecotHashes(t *testing.T) {
	doveadm, err := exec.LookPath("doveadm")
	if err != nil {
		t.Skip("doveadm (dovecot-core) is not installed")
	}
	out, err := exec.Command(doveadm, "pw", "-s", "SCRAM-SHA-256", "-p", "s3cret, with=signs").Output()
	if err != nil {
		t.Skipf("doveadm pw: %v", err)
	}
	theirs := strings.TrimSpace(string(out))
	a := newAuth(t, "ann:"+theirs+"\n", Policy{Mechanisms: []string{"SCRAM-SHA-256", "PLAIN"}})
	if l, err := scramLogin(t, a, scramclient.New("", "ann", "s3cret, with=signs")); err != nil || l.User.Name != "ann" {
		t.Fatalf("SCRAM with doveadm's hash %s: %+v %v", theirs, l, err)
	}
	if _, err := a.Password(context.Background(), Attempt{Remote: loopback, Authc: "ann", Password: "s3cret, with=signs"}); err != nil {
		t.Fatalf("PLAIN with doveadm's hash: %v", err)
	}
	ours, err := SCRAMHash("pencil", 0)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(doveadm, "pw", "-t", ours, "-p", "pencil").CombinedOutput(); err != nil || !strings.Contains(string(out), "verified") {
		t.Fatalf("doveadm pw -t %s: %s %v", ours, out, err)
	}
	if out, err := exec.Command(doveadm, "pw", "-t", ours, "-p", "pencil2").CombinedOutput(); err == nil {
		t.Fatalf("doveadm verified a wrong password against our hash: %s", out)
	}
}

func TestSCRAMFailures(t *testing.T) {
	argon, _ := Hash("pw", cheap)
	scram, _ := SCRAMHash("pw", 0)
	a := newAuth(t, "plain:{PLAIN}pw\nargon:"+argon+"\nscram:"+scram+"\nlocked:!\n", Policy{})
	reason := func(err error) Reason {
		var f *Failure
		if !errors.As(err, &f) {
			t.Fatalf("not a Failure: %v", err)
		}
		return f.Reason
	}
	// {PLAIN} users do SCRAM, with a salt that stays the same.
	if _, err := scramLogin(t, a, scramclient.New("", "plain", "pw")); err != nil {
		t.Fatalf("SCRAM for a {PLAIN} user: %v", err)
	}
	salt := func(user string) string {
		x := a.SCRAM(Attempt{Remote: loopback})
		sf, err := x.Start([]byte("n,,n=" + user + ",r=abcdefgh"))
		if err != nil {
			t.Fatal(err)
		}
		x.Abort()
		return strings.Split(string(sf), ",")[1]
	}
	if salt("plain") != salt("plain") || salt("nobody") != salt("nobody") || salt("nobody") == salt("other") {
		t.Fatal("salts must be stable per name and differ between names")
	}
	for _, c := range []struct {
		user, pw string
		want     Reason
	}{
		{"scram", "wrong", ReasonBadProof},
		{"argon", "pw", ReasonNoSCRAM},
		{"nobody", "pw", ReasonUnknownUser},
		{"locked", "pw", ReasonDisabled},
	} {
		_, err := scramLogin(t, a, scramclient.New("", c.user, c.pw))
		if !errors.Is(err, ErrAuthFailed) || reason(err) != c.want {
			t.Errorf("%s: %v, want %s", c.user, err, c.want)
		}
	}
	// Acting as another user without a master rule.
	if _, err := scramLogin(t, a, scramclient.New("plain", "scram", "pw")); reason(err) != ReasonAuthz {
		t.Errorf("authzid: %v", err)
	}
	for _, bad := range []string{"", "n", "p=tls-unique,,n=u,r=x", "x,,n=u,r=x", "n,,m=x,n=u,r=x", "n,,n=u", "n,,n=a=3Eb,r=x", "n,b,n=u,r=x", "n,,n=u,r=a\x01b"} {
		x := a.SCRAM(Attempt{Remote: loopback})
		if _, err := x.Start([]byte(bad)); !errors.Is(err, ErrBadSASL) {
			t.Errorf("client-first %q: %v", bad, err)
		}
	}
	x := a.SCRAM(Attempt{Remote: loopback})
	if _, err := x.Start([]byte("n,,n=scram,r=abc")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := x.Finish(context.Background(), []byte("c=biws,r=abc")); !errors.Is(err, ErrBadSASL) {
		t.Errorf("final without proof: %v", err)
	}
	// A client that changes the nonce fails like a wrong password.
	x = a.SCRAM(Attempt{Remote: loopback})
	x.Start([]byte("n,,n=scram,r=abc"))
	if _, _, err := x.Finish(context.Background(), []byte("c=biws,r=abcdef,p=AAAA")); reason(err) != ReasonBadProof {
		t.Errorf("changed nonce: %v", err)
	}
	// The same client-final twice: the second is refused.
	if _, _, err := x.Finish(context.Background(), []byte("c=biws,r=abcdef,p=AAAA")); !errors.Is(err, ErrBadSASL) {
		t.Errorf("replayed final: %v", err)
	}
}

// "y" (a client that could bind but thinks we cannot) is fine, and an
// authzid naming the user itself is no master login.
func TestSCRAMGS2Header(t *testing.T) {
	a := newAuth(t, "ann:{PLAIN}pw\n", Policy{})
	x := a.SCRAM(Attempt{Remote: loopback})
	sf, err := x.Start([]byte("y,a=ann,n=ann,r=nonce"))
	if err != nil {
		t.Fatal(err)
	}
	// c= must repeat the "y,a=ann," header: "biws" ("n,,") fails.
	if _, _, err := x.Finish(context.Background(), []byte("c=biws,r="+strings.TrimPrefix(strings.Split(string(sf), ",")[0], "r=")+",p=AAAA")); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("c= not repeating the gs2 header: %v", err)
	}
	if _, err := scramLogin(t, a, scramclient.New("ANN", "ann", "pw")); err != nil {
		t.Fatalf("authzid = the user (another case): %v", err)
	}
}
