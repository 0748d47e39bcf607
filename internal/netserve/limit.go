package netserve

import (
	"errors"
	"net"
	"sync"

	"github.com/storaged/storaged/internal/netaddr"
)

// Connection limits. A Limits is shared by the listeners it bounds
// (IMAP, POP3 and ManageSieve share one: a client's connections count
// together); a PerUser is one protocol's, as Dovecot's
// mail_max_userip_connections counts each protocol apart.
//
// Rules:
//   - Every admission is given back exactly once: the release function
//     a successful Admit or Acquire returns ignores a second call.
//   - Refusing is the caller's to answer, in its protocol's words
//     (IMAP "* BYE [LIMIT]", POP3 "-ERR [SYS/TEMP]", ManageSieve "BYE
//     (TRYLATER)"): these types only count. A refused connection is
//     never counted.
//   - A nil *Limits or *PerUser, or a limit of 0, admits everything.

// ErrTooManyConnections and ErrTooManyFromAddress are Admit's refusals.
var (
	ErrTooManyConnections = errors.New("too many connections")
	ErrTooManyFromAddress = errors.New("too many connections from this address")
)

// Limits counts open connections in total and per remote address.
type Limits struct {
	max, perAddr int
	exempt       func(net.Addr) bool

	mu    sync.Mutex
	total int
	addrs map[string]int
}

// NewLimits bounds connections to max in all and perAddr from one
// address (0: no bound). Addresses exempt reports true for (a webmail
// or proxy on a trusted network, which speaks for many users) are
// counted in the total only; so are unix sockets and pipes.
func NewLimits(max, perAddr int, exempt func(net.Addr) bool) *Limits {
	return &Limits{max: max, perAddr: perAddr, exempt: exempt, addrs: map[string]int{}}
}

// Admit counts a new connection from remote, or refuses it.
func (l *Limits) Admit(remote net.Addr) (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	key, ok := netaddr.Key(remote)
	if !ok || l.perAddr <= 0 || (l.exempt != nil && l.exempt(remote)) {
		key = ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		return nil, ErrTooManyConnections
	}
	if key != "" && l.addrs[key] >= l.perAddr {
		return nil, ErrTooManyFromAddress
	}
	l.total++
	if key != "" {
		l.addrs[key]++
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if key != "" {
				if l.addrs[key]--; l.addrs[key] <= 0 {
					delete(l.addrs, key)
				}
			}
		})
	}, nil
}

// Open is the number of connections admitted and not yet released.
func (l *Limits) Open() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// PerUser counts one protocol's logged-in sessions per (user, remote
// address), Dovecot's mail_max_userip_connections.
type PerUser struct {
	max int

	mu sync.Mutex
	m  map[string]int
}

// NewPerUser allows max sessions per user and address (0: no bound).
func NewPerUser(max int) *PerUser { return &PerUser{max: max, m: map[string]int{}} }

// Acquire counts a session of user from remote; ok false when the user
// has max sessions from there already. Unix sockets and pipes count as
// one address, "local".
func (p *PerUser) Acquire(user string, remote net.Addr) (release func(), ok bool) {
	if p == nil || p.max <= 0 {
		return func() {}, true
	}
	addr, ok := netaddr.Key(remote)
	if !ok {
		addr = "local"
	}
	key := user + "\x00" + addr
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m[key] >= p.max {
		return nil, false
	}
	p.m[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.m[key]--; p.m[key] <= 0 {
				delete(p.m, key)
			}
		})
	}, true
}
