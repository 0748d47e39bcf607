package netaddr

import (
	"net"
	"testing"
)

func TestKey(t *testing.T) {
	for _, c := range []struct {
		addr net.Addr
		key  string
		ok   bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 1}, "192.0.2.7", true},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 1}, "192.0.2.7", true},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 1}, "2001:db8:1:2::/64", true},
		{&net.UDPAddr{IP: net.ParseIP("2001:db8:1:2::9")}, "2001:db8:1:2::/64", true},
		{&net.UnixAddr{Name: "/run/x.sock", Net: "unix"}, "", false},
		{&net.TCPAddr{}, "", false},
		{nil, "", false},
	} {
		if k, ok := Key(c.addr); k != c.key || ok != c.ok {
			t.Errorf("Key(%v) = %q, %v; want %q, %v", c.addr, k, ok, c.key, c.ok)
		}
	}
}
