package netserve

import (
	"errors"
	"net"
	"testing"
)

func tcp(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000} }

func TestLimitsPerAddressAndTotal(t *testing.T) {
	l := NewLimits(5, 2, func(a net.Addr) bool { return a.String() == tcp("127.0.0.1").String() })
	r1, err := l.Admit(tcp("192.0.2.1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Admit(tcp("192.0.2.1")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Admit(tcp("192.0.2.1")); !errors.Is(err, ErrTooManyFromAddress) {
		t.Fatalf("third from one address: %v", err)
	}
	// Another host of the same IPv6 /64 is the same client; another /64 is not.
	if _, err := l.Admit(tcp("2001:db8::1")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Admit(tcp("2001:db8::2")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Admit(tcp("2001:db8::3")); !errors.Is(err, ErrTooManyFromAddress) {
		t.Fatalf("third from one /64: %v", err)
	}
	// The exempt address counts in the total only, which is now full.
	if _, err := l.Admit(tcp("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Admit(tcp("198.51.100.7")); !errors.Is(err, ErrTooManyConnections) {
		t.Fatalf("over the total: %v", err)
	}
	r1()
	r1() // a second release gives nothing back twice
	if got := l.Open(); got != 4 {
		t.Fatalf("open %d, want 4", got)
	}
	if _, err := l.Admit(tcp("192.0.2.1")); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if _, err := l.Admit(tcp("192.0.2.1")); err == nil {
		t.Fatal("double release freed two slots")
	}
	var none *Limits
	if _, err := none.Admit(tcp("192.0.2.1")); err != nil {
		t.Fatal(err)
	}
}

func TestPerUser(t *testing.T) {
	p := NewPerUser(2)
	a := tcp("192.0.2.1")
	r, ok := p.Acquire("ann", a)
	if !ok {
		t.Fatal("first refused")
	}
	if _, ok := p.Acquire("ann", a); !ok {
		t.Fatal("second refused")
	}
	if _, ok := p.Acquire("ann", a); ok {
		t.Fatal("third admitted")
	}
	if _, ok := p.Acquire("bob", a); !ok {
		t.Fatal("another user refused")
	}
	if _, ok := p.Acquire("ann", tcp("192.0.2.2")); !ok {
		t.Fatal("another address refused")
	}
	r()
	r()
	if _, ok := p.Acquire("ann", a); !ok {
		t.Fatal("refused after a release")
	}
	if _, ok := p.Acquire("ann", a); ok {
		t.Fatal("double release freed two slots")
	}
}
