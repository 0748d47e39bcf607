// Package netaddr reads the remote address of a connection the way the
// login throttle, the trusted networks and the connection limits all
// count it, so that the three agree on who a client is.
//
// Rules:
//   - Only IP connections have an address: a unix socket or an
//     in-process pipe has none (ok false), and callers decide what that
//     means (local, trusted, one shared count).
//   - An IPv4-mapped IPv6 address is its IPv4 address.
//   - Key counts an IPv6 client by its /64: one host's usual share, so
//     counting single IPv6 addresses would bound nothing.
package netaddr

import (
	"net"
	"net/netip"
)

// IP is the IP address of remote; ok is false when remote is not an IP
// address.
func IP(remote net.Addr) (ip netip.Addr, ok bool) {
	switch a := remote.(type) {
	case *net.TCPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	case *net.UDPAddr:
		ip, _ = netip.AddrFromSlice(a.IP)
	default:
		return netip.Addr{}, false
	}
	ip = ip.Unmap()
	return ip, ip.IsValid()
}

// Key is what limits and throttles count remote by: its IPv4 address,
// or its IPv6 address's /64.
func Key(remote net.Addr) (key string, ok bool) {
	ip, ok := IP(remote)
	if !ok {
		return "", false
	}
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String(), true
	}
	return ip.String(), true
}
