package config

import (
	"fmt"
	"net"
	"strings"
)

// Listen addresses are host:port. Rules:
//   - "*" as the host means every address, IPv4 and IPv6 (Dovecot's
//     spelling): it becomes "", which is how Go's net.Listen says it.
//   - "[::]", "0.0.0.0", "*" and "" all bind the same dual-stack socket
//     in Go, so a list naming two of them with one port (Dovecot's
//     habit: listen = *, ::) keeps the first; a second bind would fail.
//   - Anything else is kept as written and must split as host:port.

// listenAddr checks and normalises one listen address of key.
func listenAddr(key, addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return "", fmt.Errorf("%s: %q is not host:port (like \"127.0.0.1:143\", \"*:143\" for every address, or \"[::1]:143\")", key, addr)
	}
	if host == "*" {
		return net.JoinHostPort("", port), nil
	}
	if strings.ContainsAny(host, "*") {
		return "", fmt.Errorf("%s: %q: \"*\" stands alone, for every address (\"*:%s\")", key, addr, port)
	}
	return addr, nil
}

// isWildcard reports whether host means every address to net.Listen.
func isWildcard(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// listenList normalises a list of listen addresses in place and drops
// wildcards that repeat an earlier one's port (see above). With unixOK,
// "unix:PATH" entries pass as they are.
func listenList(key string, addrs *[]string, unixOK bool) error {
	out := (*addrs)[:0]
	wild := map[string]bool{} // ports bound on every address
	for _, a := range *addrs {
		if unixOK && strings.HasPrefix(a, "unix:") {
			out = append(out, a)
			continue
		}
		n, err := listenAddr(key, a)
		if err != nil {
			return err
		}
		host, port, _ := net.SplitHostPort(n)
		if isWildcard(host) && port != "0" { // port 0: each bind gets its own
			if wild[port] {
				continue
			}
			wild[port] = true
		}
		out = append(out, n)
	}
	*addrs = out
	return nil
}
