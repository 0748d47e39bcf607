package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Reason says why a login failed, for the log only: the client is told
// "authentication failed" whatever it is, so that no reply tells which
// user names exist.
type Reason string

// The reasons a login fails.
const (
	ReasonUnknownUser   Reason = "unknown user"
	ReasonWrongPassword Reason = "wrong password"
	// ReasonBadHash: the stored hash's scheme is unknown or the hash is
	// malformed (the log says which, once per attempt).
	ReasonBadHash Reason = "password scheme not usable"
	// ReasonDisabled: the hash field is empty or starts with '!' or '*'
	// (a locked account, as shadow files write it).
	ReasonDisabled Reason = "account disabled"
	// ReasonNoSCRAM: SCRAM-SHA-256 for a user whose hash cannot do it
	// (only {SCRAM-SHA-256} and {PLAIN} can).
	ReasonNoSCRAM Reason = "hash cannot do SCRAM-SHA-256"
	// ReasonAuthz: an authorization identity other than the user, and
	// no master-user rule allows it.
	ReasonAuthz Reason = "authorization identity refused"
	// ReasonBadName: the login name is not one a user can have.
	ReasonBadName Reason = "invalid login name"
	// ReasonBadProof: a SCRAM proof that does not match (a wrong
	// password, or a client that computed it wrong).
	ReasonBadProof       Reason = "wrong password (SCRAM proof)"
	ReasonRefusedAddress Reason = "refused: too many failures from this address"
	ReasonRefusedPair    Reason = "refused: too many failures for this user from this address"
	ReasonRefusedUser    Reason = "refused: too many failures for this user from addresses it has not logged in from"
)

// ErrRefused is a login refused without looking at its password, after
// too many failures (Throttle): a temporary refusal, answered as one
// (IMAP NO [UNAVAILABLE], POP3 -ERR [SYS/TEMP], ManageSieve NO
// (TRYLATER)).
var ErrRefused = errors.New("too many failed logins; try again later")

// Failure is a failed or refused login. It Is ErrAuthFailed, or
// ErrRefused when Reason is a refusal.
type Failure struct {
	Reason Reason
	// Name is the login name after username_format, Master the master
	// user of a master login; for the log.
	Name, Master string
	// Count is how many failures the delay grows with.
	Count    int
	maxDelay time.Duration
}

func (f *Failure) Error() string {
	if f.Refused() {
		return ErrRefused.Error() + " (" + string(f.Reason) + ")"
	}
	return ErrAuthFailed.Error() + ": " + string(f.Reason)
}

// Refused reports whether the login was refused unchecked.
func (f *Failure) Refused() bool { return strings.HasPrefix(string(f.Reason), "refused:") }

// Is makes errors.Is(f, ErrAuthFailed) or errors.Is(f, ErrRefused) true.
func (f *Failure) Is(target error) bool {
	return target == ErrRefused && f.Refused() || target == ErrAuthFailed && !f.Refused()
}

// Delay is how long the protocol waits before it answers this failure,
// base being its auth_fail_delay: base, doubled for each failure counted
// after the first, at most the throttle's MaxDelay. A refusal waits
// base.
func (f *Failure) Delay(base time.Duration) time.Duration {
	if f.Refused() {
		return base
	}
	return delay(base, f.maxDelay, f.Count)
}

// FailDelay is err's Delay, base for an error that is no Failure.
func FailDelay(err error, base time.Duration) time.Duration {
	var f *Failure
	if errors.As(err, &f) {
		return f.Delay(base)
	}
	return base
}

// Mechanisms are the SASL mechanisms the protocols know.
const (
	MechPlain  = "PLAIN"
	MechLogin  = "LOGIN"
	MechSCRAM  = "SCRAM-SHA-256"
	mechPasswd = "password" // IMAP LOGIN, POP3 USER/PASS
)

// KnownMechanisms are the mechanisms [auth] mechanisms may list.
var KnownMechanisms = []string{MechPlain, MechLogin, MechSCRAM}

// DefaultMechanisms are Dovecot's auth_mechanisms default with LOGIN,
// which Outlook needs. SCRAM-SHA-256 is offered only when configured:
// clients that see it prefer it, and it works only for users whose
// stored hash allows it.
var DefaultMechanisms = []string{MechPlain, MechLogin}

// Policy is how logins are decided, every protocol alike.
type Policy struct {
	// UsernameFormat is auth_username_format; "" is DefaultUsernameFormat.
	UsernameFormat string
	// Mechanisms are the SASL mechanisms offered; nil is
	// DefaultMechanisms.
	Mechanisms []string
	// LocalDomains: a login "alice@D", D one of these, is the plain user
	// "alice" when no full-address user "alice@D" exists.
	LocalDomains []string
	// Masters are the master users (Dovecot's passdb with master=yes):
	// they log in as any existing user, as "user*master" (LOGIN, USER,
	// SASL LOGIN) or with the user as SASL authorization identity
	// (PLAIN, SCRAM-SHA-256). nil: no master users.
	Masters *DB
	// MasterSeparator is auth_master_user_separator ("*", as UW-IMAP).
	MasterSeparator string
	// Throttle are the limits on failed logins; the zero value is
	// DefaultThrottle.
	Throttle ThrottleConfig
	// Trusted are the networks (a webmail, a proxy) whose logins in
	// flight do not count against their address in the throttle: they
	// log many users in at once. Their failures still count.
	Trusted Networks
}

// Authenticator decides logins for every protocol: username_format, the
// local domains, master users, the throttle, SCRAM. One per server, so
// that a failure over POP3 counts for IMAP too.
type Authenticator struct {
	users    *DB
	masters  *DB
	format   UsernameFormat
	mechs    map[string]bool
	local    map[string]bool
	sep      string
	throttle *Throttle
	maxDelay time.Duration
	secret   []byte
	// scramNonce makes a server nonce; tests replace it.
	scramNonce func() string
}

// NewAuthenticator returns the authenticator of a policy over users.
func NewAuthenticator(users *DB, p Policy) (*Authenticator, error) {
	if p.UsernameFormat == "" {
		p.UsernameFormat = DefaultUsernameFormat
	}
	f, err := ParseUsernameFormat(p.UsernameFormat)
	if err != nil {
		return nil, fmt.Errorf("auth: username_format: %w", err)
	}
	if p.Mechanisms == nil {
		p.Mechanisms = DefaultMechanisms
	}
	a := &Authenticator{users: users, masters: p.Masters, format: f, mechs: map[string]bool{}, local: map[string]bool{},
		sep: p.MasterSeparator, secret: make([]byte, 32), scramNonce: randomNonce}
	for _, m := range p.Mechanisms {
		m = strings.ToUpper(m)
		if !known(m) {
			return nil, fmt.Errorf("auth: mechanisms: %q is not one of %s", m, strings.Join(KnownMechanisms, ", "))
		}
		a.mechs[m] = true
	}
	for _, d := range p.LocalDomains {
		a.local[strings.ToLower(strings.TrimSuffix(d, "."))] = true
	}
	tc := p.Throttle
	if tc == (ThrottleConfig{}) {
		tc = DefaultThrottle
	}
	a.throttle, a.maxDelay = NewThrottle(tc), tc.MaxDelay
	a.throttle.trusted = p.Trusted
	rand.Read(a.secret)
	return a, nil
}

func known(m string) bool {
	for _, k := range KnownMechanisms {
		if k == m {
			return true
		}
	}
	return false
}

// Users is the user database logins are checked against.
func (a *Authenticator) Users() *DB { return a.users }

// Offers reports whether a SASL mechanism is enabled.
func (a *Authenticator) Offers(mech string) bool { return a.mechs[strings.ToUpper(mech)] }

// Attempt is one login as a protocol received it.
type Attempt struct {
	Proto  string   // "imap", "pop3", "managesieve": for the log
	Mech   string   // "PLAIN", "LOGIN", "" for IMAP LOGIN and POP3 USER/PASS
	Remote net.Addr // the client
	// Authz is the SASL authorization identity ("" if none), Authc the
	// authentication identity, Password its password.
	Authz, Authc, Password string
}

// Login is a successful login.
type Login struct {
	User User
	// Master is the master user who logged in as User, "" if none.
	Master string
}

// find is the user a login name names: a full name, else, for an
// address of a local domain, the plain user of its local part.
func (a *Authenticator) find(name string) (User, bool) {
	if u, ok := a.users.Lookup(name); ok {
		return u, true
	}
	if local, domain, ok := splitAddress(name); ok && a.local[strings.ToLower(domain)] && local != "" {
		return a.users.Lookup(local)
	}
	return User{}, false
}

// identities normalises a login's names and tells a master login:
// target is who the session will be, master who proves it ("" for an
// ordinary login). ok is false for an authorization identity no rule
// allows.
func (a *Authenticator) identities(authz, authc string) (target, master string, ok bool) {
	authc = a.format.Apply(authc)
	if authz != "" {
		authz = a.format.Apply(authz)
	}
	if authz == "" && a.masters != nil && a.sep != "" {
		if i := strings.LastIndex(authc, a.sep); i > 0 && i+len(a.sep) < len(authc) {
			return authc[:i], authc[i+len(a.sep):], true
		}
	}
	if authz == "" || strings.EqualFold(authz, authc) {
		return authc, "", true
	}
	if a.masters == nil {
		return authz, authc, false
	}
	return authz, authc, true
}

// Password checks a password login: IMAP LOGIN, POP3 USER/PASS, SASL
// PLAIN and LOGIN. The error is a *Failure (delay it by its Delay), or
// the context's when it ended while the login waited for its turn.
func (a *Authenticator) Password(ctx context.Context, at Attempt) (Login, error) {
	target, master, ok := a.identities(at.Authz, at.Authc)
	fail := &Failure{Name: target, Master: master, maxDelay: a.maxDelay}
	// The throttle counts by who proves the identity: the master for a
	// master login, else the user (their full name once known).
	who := target
	var u User
	var found bool
	if master != "" {
		who = master
	} else if u, found = a.find(target); found {
		who = u.Name
	}
	tk, refused := a.throttle.admit(userKey(who), at.Remote)
	if refused != "" {
		fail.Reason = refused
		return Login{}, fail
	}
	var reason Reason
	var err error
	switch {
	case !ok:
		reason = ReasonAuthz
	case ValidName(target) != nil || master != "" && ValidName(master) != nil:
		reason = ReasonBadName
	case master != "":
		if _, reason, err = a.masters.check(ctx, master, at.Password); err == nil {
			// Dovecot's result_success=continue: the user must exist.
			if u, found = a.find(target); !found {
				reason, err = ReasonUnknownUser, ErrAuthFailed
			}
		}
	default:
		name := target
		if found {
			name = u.Name
		}
		u, reason, err = a.users.check(ctx, name, at.Password)
	}
	if err != nil && reason == "" {
		// The context ended while the login waited for a verification
		// slot: no outcome.
		a.throttle.release(tk)
		return Login{}, err
	}
	if reason != "" {
		fail.Reason = reason
		fail.Count = a.throttle.failed(tk, a.passwordSum(who, at.Password))
		return Login{}, fail
	}
	a.throttle.succeeded(tk)
	return Login{User: u, Master: master}, nil
}

// disabledHash: no password, or one locked the way shadow files lock
// them.
func disabledHash(h string) bool {
	return h == "" || h[0] == '!' || h[0] == '*'
}

// passwordSum is a keyed checksum of a password tried for a user, so the
// throttle can tell the same wrong password again without keeping it.
func (a *Authenticator) passwordSum(user, password string) uint64 {
	m := hmac.New(sha256.New, a.secret)
	m.Write([]byte("pw\x00"))
	m.Write([]byte(strings.ToLower(user)))
	m.Write([]byte{0})
	m.Write([]byte(password))
	s := binary.BigEndian.Uint64(m.Sum(nil))
	if s == 0 {
		s = 1
	}
	return s
}
