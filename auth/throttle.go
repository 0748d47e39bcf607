package auth

import (
	"net"
	"strings"
	"sync"
	"time"

	"github.com/storaged/storaged/internal/netaddr"
)

// The throttle slows and then refuses password guessing (doc.go, "Login
// policy"). It keeps three tables of leaky buckets, each failure adding
// one and every bucket leaking its limit over Window:
//
//   - per remote address (an IPv6 address counts by its /64, as one
//     host's): failures against any user. At MaxPerAddress the address
//     is refused, whoever it names.
//   - per (user, address) pair: at MaxPerPair that address is refused
//     for that user only.
//   - per user: failures from every address, but each address adds at
//     most MaxPerPair (its pair is refused beyond that), so one address
//     alone never reaches MaxPerUser. At MaxPerUser the user is refused
//     from addresses that have not logged in as them lately; the
//     addresses they did log in from (known, the last 8 for 30 days) go
//     on. That is the whole lock-out an attacker can cause: a real user
//     on a new address waits until the attack stops and the bucket
//     drains (Window).
//
// A failure answers after a delay that doubles with the fullest of the
// three buckets (the protocol's auth_fail_delay first, up to MaxDelay);
// a success answers at once, forgives its pair's failures (the typos of
// the user who now got it right) and makes the address known. A client
// that keeps retrying one stale password (a phone with an old saved
// one) counts once, as Dovecot's penalty does, not once per retry.
// Logins being verified count against their address's and pair's limit
// too, so a thousand parallel connections get no more guesses than a
// patient one; except against the address of a trusted network
// (Policy.Trusted: a webmail or proxy logs many users in at
// once from one address), where only failures count, and the pair's
// limit on logins in flight still holds. Every table holds at most MaxEntries buckets: drained
// ones go first, then arbitrary ones (a bucket lost early only forgets
// failures, it never refuses anyone).

// ThrottleConfig are the throttle's limits; a zero limit never refuses
// (failures still grow the delay).
type ThrottleConfig struct {
	MaxPerAddress int
	MaxPerPair    int
	MaxPerUser    int
	// Window is how long a full bucket takes to drain.
	Window time.Duration
	// MaxDelay caps a failure's delay; 0 keeps it at the protocol's
	// auth_fail_delay (no doubling).
	MaxDelay time.Duration
	// MaxEntries bounds each table (0: 50000).
	MaxEntries int
}

// DefaultThrottle are the limits without configuration.
var DefaultThrottle = ThrottleConfig{
	MaxPerAddress: 20, MaxPerPair: 10, MaxPerUser: 50,
	Window: 15 * time.Minute, MaxDelay: 15 * time.Second,
}

const (
	knownPerUser = 8
	knownFor     = 30 * 24 * time.Hour
)

// Throttle tracks failed logins; the zero value is not usable, see
// NewThrottle.
type Throttle struct {
	cfg ThrottleConfig
	now func() time.Time
	// trusted are the networks whose logins in flight are not counted
	// against their address (nil: none).
	trusted Networks

	mu    sync.Mutex
	addrs table
	pairs table
	users table
	known map[string][]knownAddr
}

type knownAddr struct {
	addr string
	at   time.Time
}

type bucket struct {
	score    float64
	at       time.Time
	inflight int
	// lastSum is the checksum of the last failed password (pairs only).
	lastSum uint64
}

type table struct {
	limit int
	m     map[string]*bucket
}

// NewThrottle returns a throttle with cfg's limits.
func NewThrottle(cfg ThrottleConfig) *Throttle {
	if cfg.Window <= 0 {
		cfg.Window = DefaultThrottle.Window
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 50000
	}
	return &Throttle{
		cfg: cfg, now: time.Now,
		addrs: table{limit: cfg.MaxPerAddress, m: map[string]*bucket{}},
		pairs: table{limit: cfg.MaxPerPair, m: map[string]*bucket{}},
		users: table{limit: cfg.MaxPerUser, m: map[string]*bucket{}},
		known: map[string][]knownAddr{},
	}
}

// addrKey is the part of a remote address the throttle counts by: the
// IPv4 address, an IPv6 address's /64, "local" for a unix socket or a
// pipe.
func addrKey(remote net.Addr) string {
	if k, ok := netaddr.Key(remote); ok {
		return k
	}
	return "local"
}

// level is a bucket's score now, leaked since it was last touched.
func (t *Throttle) level(tb *table, b *bucket, now time.Time) float64 {
	if b == nil {
		return 0
	}
	if tb.limit > 0 && b.score > 0 {
		leak := float64(now.Sub(b.at)) / float64(t.cfg.Window) * float64(tb.limit)
		b.score = max(0, b.score-leak)
	} else if tb.limit <= 0 && now.Sub(b.at) > t.cfg.Window {
		// No limit to leak by: the failures are forgotten a window after
		// the last one.
		b.score = 0
	}
	b.at = now
	return b.score
}

func (t *Throttle) get(tb *table, key string, now time.Time) *bucket {
	b := tb.m[key]
	if b == nil {
		t.evict(tb, now)
		b = &bucket{at: now}
		tb.m[key] = b
	}
	return b
}

// evict keeps a table under MaxEntries: drained buckets go first, then
// any that no login is using, down to 7/8 of the bound.
func (t *Throttle) evict(tb *table, now time.Time) {
	if len(tb.m) < t.cfg.MaxEntries {
		return
	}
	for k, b := range tb.m {
		if b.inflight == 0 && t.level(tb, b, now) == 0 {
			delete(tb.m, k)
		}
	}
	for k, b := range tb.m {
		if len(tb.m) < t.cfg.MaxEntries*7/8 {
			break
		}
		if b.inflight == 0 {
			delete(tb.m, k)
		}
	}
}

// ticket is one login attempt between Admit and its outcome.
type ticket struct {
	user, addr, pair string
	// countAddr: the login is counted in flight against its address.
	countAddr bool
}

// admit decides whether a login of user (lower case) from remote may be
// checked; a refusal names the reason. An admitted login must end in
// failed, succeeded or release.
func (t *Throttle) admit(user string, remote net.Addr) (ticket, Reason) {
	addr := addrKey(remote)
	tk := ticket{user: user, addr: addr, pair: user + "\x00" + addr}
	// A trusted network's own logins in flight do not fill its address:
	// only its failures do. Non-IP connections are trusted by
	// Networks.Trusts but have no address of their own ("local").
	_, isIP := netaddr.IP(remote)
	tk.countAddr = !(isIP && t.trusted != nil && t.trusted.Trusts(remote))
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	a, p := t.addrs.m[tk.addr], t.pairs.m[tk.pair]
	addrLevel := t.level(&t.addrs, a, now)
	switch {
	case tk.countAddr && full(&t.addrs, addrLevel, a),
		!tk.countAddr && t.addrs.limit > 0 && addrLevel > float64(t.addrs.limit-1):
		return tk, ReasonRefusedAddress
	case full(&t.pairs, t.level(&t.pairs, p, now), p):
		return tk, ReasonRefusedPair
	case t.cfg.MaxPerUser > 0 && t.level(&t.users, t.users.m[user], now) > float64(t.cfg.MaxPerUser-1) && !t.isKnown(user, addr, now):
		return tk, ReasonRefusedUser
	}
	if tk.countAddr {
		t.get(&t.addrs, tk.addr, now).inflight++
	}
	t.get(&t.pairs, tk.pair, now).inflight++
	return tk, ""
}

// full: one more failure would take the bucket, with the logins in
// flight, over its limit. A bucket leaks continuously, so one that has
// just taken its limit's worth holds a hair less than that: the test is
// against limit-1, which the leak passes one window/limit after the
// last failure.
func full(tb *table, level float64, b *bucket) bool {
	if tb.limit <= 0 || b == nil {
		return false
	}
	return level+float64(b.inflight) > float64(tb.limit-1)
}

func (t *Throttle) isKnown(user, addr string, now time.Time) bool {
	for _, k := range t.known[user] {
		if k.addr == addr && now.Sub(k.at) < knownFor {
			return true
		}
	}
	return false
}

func (t *Throttle) done(tk ticket, now time.Time) (a, p *bucket) {
	a, p = t.get(&t.addrs, tk.addr, now), t.get(&t.pairs, tk.pair, now)
	if tk.countAddr {
		a.inflight = max(0, a.inflight-1)
	}
	p.inflight = max(0, p.inflight-1)
	return a, p
}

// failed records a failure and returns the count its delay grows with.
// sum is a checksum of the password tried (0: none, as with SCRAM); the
// same wrong password again counts once.
func (t *Throttle) failed(tk ticket, sum uint64) int {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	a, p := t.done(tk, now)
	la, lp := t.level(&t.addrs, a, now), t.level(&t.pairs, p, now)
	u := t.get(&t.users, tk.user, now)
	lu := t.level(&t.users, u, now)
	if sum == 0 || sum != p.lastSum || lp == 0 {
		a.score, p.score = la+1, lp+1
		u.score = lu + 1
		p.lastSum = sum
	}
	return int(max(a.score, p.score, u.score) + 0.5)
}

// succeeded forgives the pair's failures, from the address's and the
// user's buckets too, and makes the address known for the user.
func (t *Throttle) succeeded(tk ticket) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	a, p := t.done(tk, now)
	forgiven := t.level(&t.pairs, p, now)
	a.score = max(0, t.level(&t.addrs, a, now)-forgiven)
	if u := t.users.m[tk.user]; u != nil {
		u.score = max(0, t.level(&t.users, u, now)-forgiven)
	}
	if p.inflight == 0 {
		delete(t.pairs.m, tk.pair)
	} else {
		p.score, p.lastSum = 0, 0
	}
	ks := t.known[tk.user]
	out := ks[:0]
	for _, k := range ks {
		if k.addr != tk.addr && now.Sub(k.at) < knownFor {
			out = append(out, k)
		}
	}
	if len(out) >= knownPerUser {
		out = out[len(out)-knownPerUser+1:]
	}
	t.known[tk.user] = append(out, knownAddr{addr: tk.addr, at: now})
}

// release ends an admitted login that neither failed nor succeeded (the
// client cancelled, the connection broke, the server is stopping).
func (t *Throttle) release(tk ticket) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done(tk, now)
}

// delay is a failure's delay after count failures: base, doubled for
// each failure after the first, at most maxDelay. A maxDelay of 0 keeps
// every delay at base: unbounded doubling would overflow a Duration
// after a few dozen failures.
func delay(base, maxDelay time.Duration, count int) time.Duration {
	d := base
	for i := 1; i < count && d < maxDelay; i++ {
		d *= 2
	}
	if d > maxDelay && d > base {
		d = maxDelay
	}
	return d
}

// userKey is the name the per-user bucket counts by.
func userKey(name string) string { return strings.ToLower(name) }
