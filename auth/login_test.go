package auth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func failReason(t *testing.T, err error) Reason {
	t.Helper()
	var f *Failure
	if !errors.As(err, &f) {
		t.Fatalf("not a Failure: %v", err)
	}
	return f.Reason
}

func TestPasswordLogins(t *testing.T) {
	a := newAuth(t, "alice:{PLAIN}plain\nalice@b.example:{PLAIN}b\nlocked:*LK*\nodd:{NTLM}abc\n", Policy{LocalDomains: []string{"a.example"}})
	ctx := context.Background()
	login := func(authz, authc, pw string) (Login, error) {
		return a.Password(ctx, Attempt{Remote: loopback, Authz: authz, Authc: authc, Password: pw})
	}
	for _, c := range []struct{ authc, pw, want string }{
		{"alice", "plain", "alice"},
		{"ALICE", "plain", "alice"},                 // %Lu
		{"Alice@A.Example", "plain", "alice"},       // a local domain: the plain user
		{"alice@b.example", "b", "alice@b.example"}, // a full-address user
	} {
		l, err := login("", c.authc, c.pw)
		if err != nil || l.User.Name != c.want {
			t.Errorf("%s: %+v %v", c.authc, l.User.Name, err)
		}
	}
	for _, c := range []struct {
		authz, authc, pw string
		want             Reason
	}{
		{"", "alice", "nope", ReasonWrongPassword},
		{"", "alice@c.example", "plain", ReasonUnknownUser}, // not a local domain
		{"", "nobody", "x", ReasonUnknownUser},
		{"", "locked", "x", ReasonDisabled},
		{"", "odd", "x", ReasonBadHash},
		{"", "a@b@c", "x", ReasonBadName},
		{"alice@b.example", "alice", "plain", ReasonAuthz}, // no master users
	} {
		_, err := login(c.authz, c.authc, c.pw)
		if !errors.Is(err, ErrAuthFailed) || failReason(t, err) != c.want {
			t.Errorf("%s/%s: %v, want %s", c.authz, c.authc, err, c.want)
		}
	}
}

func TestMasterUsers(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "masters"), []byte("admin:{PLAIN}master-pw\n"), 0o600)
	masters, err := Open(filepath.Join(dir, "masters"), nil)
	if err != nil {
		t.Fatal(err)
	}
	a := newAuth(t, "ann:{PLAIN}ann-pw\n", Policy{Masters: masters, MasterSeparator: "*"})
	ctx := context.Background()
	for _, at := range []Attempt{
		{Authc: "ann*admin", Password: "master-pw"},
		{Authz: "ann", Authc: "admin", Password: "master-pw"},
		{Authz: "ANN", Authc: "Admin", Password: "master-pw"},
	} {
		at.Remote = loopback
		l, err := a.Password(ctx, at)
		if err != nil || l.User.Name != "ann" || l.Master != "admin" {
			t.Errorf("%+v: %+v %v", at, l, err)
		}
	}
	for _, c := range []struct {
		at   Attempt
		want Reason
	}{
		{Attempt{Authc: "ann*admin", Password: "ann-pw"}, ReasonWrongPassword},
		{Attempt{Authc: "nobody*admin", Password: "master-pw"}, ReasonUnknownUser},
		{Attempt{Authc: "admin", Password: "master-pw"}, ReasonUnknownUser}, // a master cannot log in as itself
		{Attempt{Authz: "admin", Authc: "ann", Password: "ann-pw"}, ReasonUnknownUser},
		{Attempt{Authc: "ann*ann", Password: "ann-pw"}, ReasonUnknownUser}, // users are no masters
	} {
		c.at.Remote = loopback
		_, err := a.Password(ctx, c.at)
		if !errors.Is(err, ErrAuthFailed) || failReason(t, err) != c.want {
			t.Errorf("%+v: %v, want %s", c.at, err, c.want)
		}
	}
}

// A Failure grows its delay; a refusal is ErrRefused and checks no
// password.
func TestPasswordThrottled(t *testing.T) {
	a := newAuth(t, "ann:{PLAIN}pw\n", Policy{Throttle: ThrottleConfig{MaxPerAddress: 100, MaxPerPair: 3, MaxPerUser: 100, Window: time.Hour, MaxDelay: 10 * time.Second}})
	ctx := context.Background()
	var last time.Duration
	for i := 0; i < 3; i++ {
		_, err := a.Password(ctx, Attempt{Remote: loopback, Authc: "ann", Password: "guess" + string(rune('a'+i))})
		d := FailDelay(err, time.Second)
		if !errors.Is(err, ErrAuthFailed) || d <= last {
			t.Fatalf("failure %d: %v, delay %v after %v", i, err, d, last)
		}
		last = d
	}
	_, err := a.Password(ctx, Attempt{Remote: loopback, Authc: "ann", Password: "pw"})
	if !errors.Is(err, ErrRefused) || errors.Is(err, ErrAuthFailed) || failReason(t, err) != ReasonRefusedPair {
		t.Fatalf("4th: %v", err)
	}
	if FailDelay(err, time.Second) != time.Second {
		t.Fatal("a refusal waits the base delay")
	}
	if _, err := a.Password(ctx, Attempt{Remote: ip("127.0.0.2"), Authc: "ann", Password: "pw"}); err != nil {
		t.Fatalf("from another address: %v", err)
	}
	// A cancelled wait is no failure: nothing is counted.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := a.Password(cctx, Attempt{Remote: ip("127.0.0.3"), Authc: "ann", Password: "x"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestAuthenticatorConfig(t *testing.T) {
	db, _ := openTest(t, "")
	if _, err := NewAuthenticator(db, Policy{Mechanisms: []string{"CRAM-MD5"}}); err == nil {
		t.Error("unknown mechanism accepted")
	}
	if _, err := NewAuthenticator(db, Policy{UsernameFormat: "%q"}); err == nil {
		t.Error("bad username_format accepted")
	}
	a, _ := NewAuthenticator(db, Policy{})
	if !a.Offers("plain") || !a.Offers("LOGIN") || a.Offers("SCRAM-SHA-256") {
		t.Error("default mechanisms are PLAIN and LOGIN")
	}
}
