package auth

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// SCRAM-SHA-256 (RFC 7677 over RFC 5802), server side, and Dovecot's
// {SCRAM-SHA-256} password scheme:
//
//	{SCRAM-SHA-256}<iterations>,<base64 salt>,<base64 StoredKey>,<base64 ServerKey>
//
// as `doveadm pw -s SCRAM-SHA-256` writes it. A user can do SCRAM when
// their hash is that (or {PLAIN}, whose keys are derived at each login
// with a salt of their own); any other hash cannot (argon2id, bcrypt and
// crypt hide the password SCRAM needs), and such a user, like an unknown
// one, is answered with a made-up salt and refused at the proof, so the
// exchange tells nobody which names exist or how they are stored.
//
// Rules:
//   - Channel binding is not offered (no -PLUS): "n" and "y" are taken,
//     "p=" is refused (RFC 5802 §6).
//   - The password is used as its UTF-8 octets, without SASLprep, as
//     Dovecot does; an ASCII password (nearly all) is the same either way.
//   - Iteration counts are 4096 (RFC 7677 §4's minimum) to 10,000,000.

const (
	scramMinIter = 4096
	scramMaxIter = 10_000_000
	// scramPlainIter is the count for keys derived from a {PLAIN} hash.
	scramPlainIter = 4096
)

// ErrBadSASL is a SASL message that does not follow its mechanism's
// grammar: the exchange ends (IMAP BAD, POP3 -ERR, ManageSieve NO), and
// no password was tried.
var ErrBadSASL = errors.New("malformed SASL message")

func badSASL(why string) error { return fmt.Errorf("%w: %s", ErrBadSASL, why) }

// scramKeys are what the server needs of a user to check a proof.
type scramKeys struct {
	iter              int
	salt              []byte
	storedKey, srvKey []byte
}

func hmacSum(h func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

// deriveSCRAM computes a password's keys (RFC 5802 §3).
func deriveSCRAM(h func() hash.Hash, password string, salt []byte, iter int) scramKeys {
	salted, _ := pbkdf2.Key(h, password, salt, iter, h().Size())
	clientKey := hmacSum(h, salted, []byte("Client Key"))
	sum := h()
	sum.Write(clientKey)
	return scramKeys{iter: iter, salt: salt, storedKey: sum.Sum(nil), srvKey: hmacSum(h, salted, []byte("Server Key"))}
}

// parseSCRAMHash reads the part of a {SCRAM-SHA-…} hash after the
// scheme.
func parseSCRAMHash(rest string, size int) (scramKeys, error) {
	f := strings.Split(rest, ",")
	if len(f) != 4 {
		return scramKeys{}, errors.New("auth: malformed SCRAM hash (iterations,salt,storedkey,serverkey)")
	}
	iter, err := strconv.Atoi(f[0])
	if err != nil || iter < scramMinIter || iter > scramMaxIter {
		return scramKeys{}, fmt.Errorf("auth: SCRAM hash iteration count %q is not %d to %d", f[0], scramMinIter, scramMaxIter)
	}
	salt, err1 := base64.StdEncoding.DecodeString(f[1])
	stored, err2 := base64.StdEncoding.DecodeString(f[2])
	srv, err3 := base64.StdEncoding.DecodeString(f[3])
	if err1 != nil || err2 != nil || err3 != nil || len(salt) == 0 || len(stored) != size || len(srv) != size {
		return scramKeys{}, errors.New("auth: malformed SCRAM hash (base64 salt and keys)")
	}
	return scramKeys{iter: iter, salt: salt, storedKey: stored, srvKey: srv}, nil
}

// verifySCRAMHash checks a password against a {SCRAM-SHA-256} or
// {SCRAM-SHA-1} hash (a PLAIN or LOGIN login of such a user).
func verifySCRAMHash(h func() hash.Hash, rest, password string) (bool, error) {
	k, err := parseSCRAMHash(rest, h().Size())
	if err != nil {
		return false, err
	}
	got := deriveSCRAM(h, password, k.salt, k.iter)
	return subtle.ConstantTimeCompare(got.storedKey, k.storedKey) == 1, nil
}

// SCRAMHash makes a {SCRAM-SHA-256} hash in Dovecot's form, with a
// random salt; iter 0 is 4096.
func SCRAMHash(password string, iter int) (string, error) {
	if iter == 0 {
		iter = scramMinIter
	}
	if iter < scramMinIter || iter > scramMaxIter {
		return "", fmt.Errorf("auth: SCRAM iteration count %d is not %d to %d", iter, scramMinIter, scramMaxIter)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return scramHashWith(password, salt, iter), nil
}

func scramHashWith(password string, salt []byte, iter int) string {
	k := deriveSCRAM(sha256.New, password, salt, iter)
	enc := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("{SCRAM-SHA-256}%d,%s,%s,%s", iter, enc(salt), enc(k.storedKey), enc(k.srvKey))
}

// SCRAM is one SCRAM-SHA-256 exchange on a connection: Start with the
// client-first-message, Finish with the client-final-message. Either may
// end it; Abort ends one the client gave up on.
type SCRAM struct {
	a  *Authenticator
	at Attempt

	tk       ticket
	admitted bool
	done     bool

	target, master string
	user           User
	reason         Reason // set when the proof can only fail
	keys           scramKeys
	gs2            string // the gs2 header, as c= must repeat it
	nonce          string
	authMsg        string // client-first-bare "," server-first
}

// SCRAM begins an exchange for a connection (at.Remote, at.Proto).
func (a *Authenticator) SCRAM(at Attempt) *SCRAM {
	at.Mech = MechSCRAM
	return &SCRAM{a: a, at: at}
}

func randomNonce() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)
}

// decodeSaslname undoes RFC 5802 §5.1's =2C and =3D.
func decodeSaslname(s string) (string, bool) {
	if !strings.Contains(s, "=") {
		return s, s != ""
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), b.Len() > 0
}

// Start reads the client-first-message and returns the
// server-first-message. A refused or malformed start ends the exchange:
// the error is a *Failure (refused) or ErrBadSASL.
func (x *SCRAM) Start(clientFirst []byte) ([]byte, error) {
	msg := string(clientFirst)
	// RFC 5802 §7: gs2-cbind-flag "," [authzid] "," client-first-bare.
	flag, rest, ok1 := strings.Cut(msg, ",")
	authzField, bare, ok2 := strings.Cut(rest, ",")
	if !ok1 || !ok2 {
		return nil, badSASL("SCRAM client-first-message needs a gs2 header")
	}
	switch {
	case flag == "n" || flag == "y":
	case strings.HasPrefix(flag, "p="):
		return nil, badSASL("SCRAM channel binding is not supported (use SCRAM-SHA-256 without -PLUS)")
	default:
		return nil, badSASL("SCRAM gs2-cbind-flag is not n, y or p=")
	}
	var authz string
	if authzField != "" {
		v, hasA := strings.CutPrefix(authzField, "a=")
		var ok bool
		if authz, ok = decodeSaslname(v); !hasA || !ok {
			return nil, badSASL("SCRAM authzid is not a=saslname")
		}
	}
	x.gs2 = flag + "," + authzField + ","
	if strings.HasPrefix(bare, "m=") {
		return nil, badSASL("SCRAM mandatory extension not supported")
	}
	f := strings.Split(bare, ",")
	if len(f) < 2 || !strings.HasPrefix(f[0], "n=") || !strings.HasPrefix(f[1], "r=") || len(f[1]) < 3 {
		return nil, badSASL("SCRAM client-first-message-bare is not n=user,r=nonce")
	}
	authc, ok := decodeSaslname(f[0][2:])
	if !ok {
		return nil, badSASL("SCRAM username is not a saslname")
	}
	cnonce := f[1][2:]
	for i := 0; i < len(cnonce); i++ {
		if c := cnonce[i]; c < 0x21 || c > 0x7e || c == ',' {
			return nil, badSASL("SCRAM nonce has characters outside printable ASCII")
		}
	}
	x.at.Authz, x.at.Authc = authz, authc
	a := x.a
	target, master, allowed := a.identities(authz, authc)
	x.target, x.master = target, master
	who := target
	var found bool
	if master != "" {
		who = master
	} else if x.user, found = a.find(target); found {
		who = x.user.Name
	}
	tk, refused := a.throttle.admit(userKey(who), x.at.Remote)
	if refused != "" {
		x.done = true
		return nil, &Failure{Reason: refused, Name: target, Master: master, maxDelay: a.maxDelay}
	}
	x.tk, x.admitted = tk, true
	x.keys, x.reason = x.credentials(who, found, allowed)
	x.nonce = cnonce + a.scramNonce()
	serverFirst := "r=" + x.nonce + ",s=" + base64.StdEncoding.EncodeToString(x.keys.salt) + ",i=" + strconv.Itoa(x.keys.iter)
	x.authMsg = bare + "," + serverFirst
	return []byte(serverFirst), nil
}

// credentials are the keys to check the proof with, or made-up ones and
// the reason the proof will fail.
func (x *SCRAM) credentials(who string, found, allowed bool) (scramKeys, Reason) {
	a := x.a
	var u User
	reason := Reason("")
	switch {
	case !allowed:
		reason = ReasonAuthz
	case ValidName(x.target) != nil || x.master != "" && ValidName(x.master) != nil:
		reason = ReasonBadName
	case x.master != "":
		u, found = a.masters.Lookup(x.master)
		if !found {
			reason = ReasonUnknownUser
		} else if _, ok := a.find(x.target); !ok {
			reason = ReasonUnknownUser
		}
	default:
		u = x.user
		if !found {
			reason = ReasonUnknownUser
		}
	}
	if reason == "" {
		scheme, rest := splitScheme(u.Hash)
		switch scheme {
		case "SCRAM-SHA-256":
			k, err := parseSCRAMHash(rest, sha256.Size)
			if err == nil {
				return k, ""
			}
			reason = ReasonBadHash
		case "PLAIN", "CLEAR", "CLEARTEXT":
			return deriveSCRAM(sha256.New, rest, a.fakeSalt("plain", who), scramPlainIter), ""
		default:
			reason = ReasonNoSCRAM
			if disabledHash(u.Hash) {
				reason = ReasonDisabled
			}
		}
	}
	// As much work as a {PLAIN} user's keys, with a salt that stays the
	// same for the name, so an unknown user looks like a known one.
	k := deriveSCRAM(sha256.New, "storaged-no-such-user", a.fakeSalt("fake", who), scramPlainIter)
	return k, reason
}

// fakeSalt is a salt that depends on the name and the process's secret
// only: the same at every attempt, unguessable from outside.
func (a *Authenticator) fakeSalt(kind, name string) []byte {
	return hmacSum(sha256.New, a.secret, []byte(kind+"\x00"+strings.ToLower(name)))[:16]
}

// Finish reads the client-final-message. On success it returns the
// server-final-message (v=…), which the protocol sends before its OK; a
// wrong proof is a *Failure (delay it by its Delay), a malformed message
// ErrBadSASL.
func (x *SCRAM) Finish(ctx context.Context, clientFinal []byte) ([]byte, Login, error) {
	if x.done || !x.admitted {
		return nil, Login{}, badSASL("SCRAM exchange not started")
	}
	x.done = true
	msg := string(clientFinal)
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		x.a.throttle.release(x.tk)
		return nil, Login{}, badSASL("SCRAM client-final-message has no proof")
	}
	withoutProof, proofB64 := msg[:i], msg[i+3:]
	f := strings.Split(withoutProof, ",")
	if len(f) < 2 || !strings.HasPrefix(f[0], "c=") || !strings.HasPrefix(f[1], "r=") {
		x.a.throttle.release(x.tk)
		return nil, Login{}, badSASL("SCRAM client-final-message is not c=…,r=…,p=…")
	}
	cb, err := base64.StdEncoding.DecodeString(f[0][2:])
	proof, perr := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || perr != nil {
		x.a.throttle.release(x.tk)
		return nil, Login{}, badSASL("SCRAM channel binding or proof is not base64")
	}
	reason := x.reason
	switch {
	case reason != "":
	case string(cb) != x.gs2 || f[1][2:] != x.nonce || len(proof) != sha256.Size:
		// A client that changed the header or the nonce is broken or
		// not the one that started: a failed login.
		reason = ReasonBadProof
	default:
		authMsg := []byte(x.authMsg + "," + withoutProof)
		sig := hmacSum(sha256.New, x.keys.storedKey, authMsg)
		clientKey := make([]byte, len(proof))
		for i := range proof {
			clientKey[i] = proof[i] ^ sig[i]
		}
		sum := sha256.Sum256(clientKey)
		if subtle.ConstantTimeCompare(sum[:], x.keys.storedKey) != 1 {
			reason = ReasonBadProof
		} else {
			verifier := hmacSum(sha256.New, x.keys.srvKey, authMsg)
			u := x.user
			if x.master != "" {
				u, _ = x.a.find(x.target)
			}
			x.a.throttle.succeeded(x.tk)
			return []byte("v=" + base64.StdEncoding.EncodeToString(verifier)), Login{User: u, Master: x.master}, nil
		}
	}
	count := x.a.throttle.failed(x.tk, 0)
	return nil, Login{}, &Failure{Reason: reason, Name: x.target, Master: x.master, Count: count, maxDelay: x.a.maxDelay}
}

// Abort ends an exchange that will not be finished (the client
// cancelled, or the connection is gone): the attempt counts for nothing.
func (x *SCRAM) Abort() {
	if x.admitted && !x.done {
		x.done = true
		x.a.throttle.release(x.tk)
	}
}

// Name is the login name of the exchange so far, for the log.
func (x *SCRAM) Name() string { return x.target }
