package auth

import (
	"fmt"
	"net"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func ip(s string) net.Addr               { return &net.TCPAddr{IP: net.ParseIP(s), Port: 1} }
func newThrottle(cfg ThrottleConfig) (*Throttle, *fakeClock) {
	th := NewThrottle(cfg)
	c := &fakeClock{t: time.Unix(1e9, 0)}
	th.now = c.now
	return th, c
}

// try runs one login with the outcome good; it returns the refusal, or
// the failure count ("" and 0 for a success).
func try(th *Throttle, user, addr string, good bool, sum uint64) (Reason, int) {
	tk, r := th.admit(user, ip(addr))
	if r != "" {
		return r, 0
	}
	if good {
		th.succeeded(tk)
		return "", 0
	}
	return "", th.failed(tk, sum)
}

func TestThrottlePair(t *testing.T) {
	th, clock := newThrottle(ThrottleConfig{MaxPerAddress: 100, MaxPerPair: 3, MaxPerUser: 100, Window: 30 * time.Minute})
	for i := 1; i <= 3; i++ {
		if r, n := try(th, "ann", "192.0.2.1", false, uint64(i)); r != "" || n != i {
			t.Fatalf("failure %d: %q count %d", i, r, n)
		}
	}
	if r, _ := try(th, "ann", "192.0.2.1", true, 0); r != ReasonRefusedPair {
		t.Fatalf("4th attempt from the address: %q, want the pair refused (even with the right password)", r)
	}
	// Another address, and another user from the same address, go on.
	if r, _ := try(th, "ann", "192.0.2.2", true, 0); r != "" {
		t.Fatalf("ann from elsewhere: %q", r)
	}
	if r, n := try(th, "bob", "192.0.2.1", false, 9); r != "" || n != 4 {
		t.Fatalf("bob from the address: %q %d (the address's count grows)", r, n)
	}
	// The bucket leaks its limit over the window: one attempt per 10 min.
	clock.add(10*time.Minute + time.Second)
	if r, _ := try(th, "ann", "192.0.2.1", true, 0); r != "" {
		t.Fatalf("after a third of the window: %q", r)
	}
	// The success forgave ann's failures from there.
	if r, n := try(th, "ann", "192.0.2.1", false, 1); r != "" || n > 3 {
		t.Fatalf("after a success: %q %d", r, n)
	}
}

func TestThrottleAddress(t *testing.T) {
	th, _ := newThrottle(ThrottleConfig{MaxPerAddress: 4, MaxPerPair: 10, MaxPerUser: 100, Window: time.Hour})
	for i := 0; i < 4; i++ {
		if r, _ := try(th, "u"+string(rune('a'+i)), "2001:db8::1", false, 1); r != "" {
			t.Fatalf("failure %d refused: %q", i, r)
		}
	}
	// The /64 is one host.
	if r, _ := try(th, "new", "2001:db8::ffff", true, 0); r != ReasonRefusedAddress {
		t.Fatalf("same /64: %q", r)
	}
	if r, _ := try(th, "new", "2001:db8:0:1::1", true, 0); r != "" {
		t.Fatalf("another /64: %q", r)
	}
}

// Many addresses against one user refuse that user from new addresses
// only; where the user logged in before, they still can.
func TestThrottleUserKnownAddresses(t *testing.T) {
	th, clock := newThrottle(ThrottleConfig{MaxPerAddress: 100, MaxPerPair: 2, MaxPerUser: 6, Window: time.Hour})
	if r, _ := try(th, "ann", "198.51.100.7", true, 0); r != "" {
		t.Fatal(r)
	}
	for a := 1; a <= 3; a++ {
		for i := 0; i < 2; i++ {
			if r, _ := try(th, "ann", "203.0.113."+string(rune('0'+a)), false, uint64(10*a+i)); r != "" {
				t.Fatalf("attacker %d try %d refused early: %q", a, i, r)
			}
		}
		// Each address is held to MaxPerPair.
		if r, _ := try(th, "ann", "203.0.113."+string(rune('0'+a)), false, 99); r != ReasonRefusedPair {
			t.Fatalf("attacker %d over its pair limit: %q", a, r)
		}
	}
	if r, _ := try(th, "ann", "203.0.113.9", false, 1); r != ReasonRefusedUser {
		t.Fatalf("a fourth attacker: %q, want ann refused from new addresses", r)
	}
	if r, _ := try(th, "ann", "198.51.100.7", true, 0); r != "" {
		t.Fatalf("ann from her known address: %q", r)
	}
	if r, _ := try(th, "bob", "203.0.113.9", true, 0); r != "" {
		t.Fatalf("another user: %q", r)
	}
	clock.add(time.Hour)
	if r, _ := try(th, "ann", "203.0.113.50", true, 0); r != "" {
		t.Fatalf("ann from a new address once the bucket drained: %q", r)
	}
}

// Logins in flight count: parallel guesses get no more tries.
func TestThrottleInflight(t *testing.T) {
	th, _ := newThrottle(ThrottleConfig{MaxPerAddress: 3, MaxPerPair: 10, MaxPerUser: 100, Window: time.Hour})
	var tks []ticket
	for i := 0; i < 3; i++ {
		tk, r := th.admit("u", ip("192.0.2.1"))
		if r != "" {
			t.Fatalf("admit %d: %q", i, r)
		}
		tks = append(tks, tk)
	}
	if _, r := th.admit("u", ip("192.0.2.1")); r != ReasonRefusedAddress {
		t.Fatalf("a 4th in flight: %q", r)
	}
	th.release(tks[0])
	if tk, r := th.admit("u", ip("192.0.2.1")); r != "" {
		t.Fatalf("after a release: %q", r)
	} else {
		th.release(tk)
	}
}

// A trusted network (a webmail on loopback) logs many users in at once:
// its logins in flight do not fill its address, its failures still do,
// and one user's logins in flight from it are still bounded by the pair.
func TestThrottleInflightTrusted(t *testing.T) {
	trusted, _ := ParseNetworks([]string{"127.0.0.0/8"})
	th, _ := newThrottle(ThrottleConfig{MaxPerAddress: 3, MaxPerPair: 2, MaxPerUser: 100, Window: time.Hour})
	th.trusted = trusted
	for i := range 10 {
		if _, r := th.admit(fmt.Sprint("user", i), ip("127.0.0.1")); r != "" {
			t.Fatalf("trusted login %d in flight: %q", i, r)
		}
	}
	var tks []ticket
	for range 2 {
		tk, r := th.admit("ann", ip("127.0.0.1"))
		if r != "" {
			t.Fatalf("ann in flight: %q", r)
		}
		tks = append(tks, tk)
	}
	if _, r := th.admit("ann", ip("127.0.0.1")); r != ReasonRefusedPair {
		t.Fatalf("a 3rd ann in flight from one address: %q, want the pair refused", r)
	}
	for i, tk := range tks {
		th.failed(tk, uint64(10+i)) // two different wrong passwords
	}
	tk, _ := th.admit("bob", ip("127.0.0.1"))
	th.failed(tk, 2)
	if _, r := th.admit("carol", ip("127.0.0.1")); r != ReasonRefusedAddress {
		t.Fatalf("after 3 failures from a trusted address: %q, want it refused", r)
	}
	// An untrusted address still counts logins in flight.
	for i := range 3 {
		if _, r := th.admit(fmt.Sprint("user", i), ip("192.0.2.9")); r != "" {
			t.Fatalf("untrusted %d: %q", i, r)
		}
	}
	if _, r := th.admit("user9", ip("192.0.2.9")); r != ReasonRefusedAddress {
		t.Fatalf("a 4th in flight from an untrusted address: %q", r)
	}
}

// The same wrong password again (a client retrying a stale one) counts
// once.
func TestThrottleSamePassword(t *testing.T) {
	th, _ := newThrottle(ThrottleConfig{MaxPerAddress: 100, MaxPerPair: 3, MaxPerUser: 100, Window: time.Hour})
	for i := 0; i < 10; i++ {
		if r, n := try(th, "ann", "192.0.2.1", false, 42); r != "" || n != 1 {
			t.Fatalf("retry %d of one password: %q count %d", i, r, n)
		}
	}
	if r, n := try(th, "ann", "192.0.2.1", false, 43); r != "" || n != 2 {
		t.Fatalf("a new password: %q %d", r, n)
	}
}

func TestThrottleBounded(t *testing.T) {
	th, _ := newThrottle(ThrottleConfig{MaxPerAddress: 100, MaxPerPair: 10, MaxPerUser: 100, Window: time.Hour, MaxEntries: 64})
	for i := 0; i < 1000; i++ {
		try(th, "user"+string(rune(i)), "192.0.2.1", false, uint64(i))
	}
	if len(th.users.m) > 64 || len(th.pairs.m) > 64 {
		t.Fatalf("tables grew to %d users, %d pairs", len(th.users.m), len(th.pairs.m))
	}
}

func TestDelay(t *testing.T) {
	for _, c := range []struct {
		count int
		want  time.Duration
	}{{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {5, 15 * time.Second}, {60, 15 * time.Second}} {
		if got := delay(time.Second, 15*time.Second, c.count); got != c.want {
			t.Errorf("delay after %d = %v, want %v", c.count, got, c.want)
		}
	}
	if got := delay(0, time.Second, 10); got != 0 {
		t.Errorf("no base delay: %v", got)
	}
	// No cap: no doubling, and no overflow however many failures.
	if got := delay(time.Second, 0, 100); got != time.Second {
		t.Errorf("fail_delay_max 0 after 100 failures: %v", got)
	}
}
