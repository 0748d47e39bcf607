package delivery

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/spool"
	"github.com/storaged/storaged/message"
	"github.com/storaged/storaged/metrics"
	"github.com/storaged/storaged/quota"
	"github.com/storaged/storaged/store"
)

// Users is what delivery needs of the user database.
type Users interface {
	Lookup(name string) (auth.User, bool)
	// HasDomain: some user is of this domain (a full-address user, or
	// the domain's own users file).
	HasDomain(domain string) bool
}

// Deliverer delivers messages to local users.
type Deliverer struct {
	Users    Users
	Accounts *store.Accounts
	// Hostname names this server in Received fields.
	Hostname string
	// Domains are the local domains (lower case).
	Domains []string
	// DetailDelimiter separates user and detail in a local part
	// ("user+detail"); each of its characters is a delimiter, the first
	// one found splits (Dovecot's recipient_delimiter); empty disables
	// details.
	DetailDelimiter string
	// SaveToDetail files a user+detail recipient's implicit keep into
	// the folder "detail" when it exists, else INBOX (detail.go).
	SaveToDetail bool
	// QuotaTempFail answers a full store with 452 4.2.2 instead of 552
	// 5.2.2, so the MTA keeps the message queued.
	QuotaTempFail bool
	// QuotaAtRcpt refuses a recipient whose store is already full at
	// RCPT time (Accept), before the message is sent.
	QuotaAtRcpt bool
	// Sieve filters each recipient's copy; nil stores into INBOX.
	Sieve *Sieve
	Log   *slog.Logger
	// Metrics counts what is stored; nil counts nothing.
	Metrics *metrics.Metrics
}

// Recipient is a resolved local recipient.
type Recipient struct {
	Address string // as the client gave it
	User    string // the user database's name
	Detail  string // the part after the delimiter, for Sieve later
}

// Resolve maps an address to a local user, case-insensitively:
//   - local@domain is the full-address user local@domain when the users
//     file has one (main file or the domain's own), whatever the domain;
//   - else, for a local domain (or no domain), the plain user local;
//   - each with the whole local part first, then without its detail
//     (user+detail);
//   - a local part that holds '@' (quoted, "a@b"@here) names nobody:
//     it must never reach another domain's user.
//
// A domain that is neither local nor any user's is ErrNotLocal.
func (d *Deliverer) Resolve(addr string) (Recipient, error) {
	local, domain := addr, ""
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		local, domain = addr[:i], strings.ToLower(strings.TrimSuffix(addr[i+1:], "."))
	}
	local = unquoteLocal(local)
	r := Recipient{Address: addr}
	plain := domain == "" || d.isLocal(domain)
	find := func(l string) (auth.User, bool) {
		if l == "" || strings.Contains(l, "@") {
			return auth.User{}, false
		}
		if domain != "" && !strings.HasPrefix(domain, "[") {
			if u, ok := d.Users.Lookup(l + "@" + domain); ok {
				return u, true
			}
		}
		if plain {
			return d.Users.Lookup(l)
		}
		return auth.User{}, false
	}
	if u, ok := find(local); ok {
		r.User = u.Name
		return r, nil
	}
	if i := strings.IndexAny(local, d.DetailDelimiter); d.DetailDelimiter != "" && i > 0 {
		if u, ok := find(local[:i]); ok {
			r.User, r.Detail = u.Name, local[i+1:]
			return r, nil
		}
	}
	if !plain && !d.Users.HasDomain(domain) {
		return r, &Error{Kind: NoSuchUser, Msg: "not a local domain", Err: ErrNotLocal}
	}
	return r, &Error{Kind: NoSuchUser, Msg: "no such user here"}
}

func unquoteLocal(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		var b strings.Builder
		for i := 1; i < len(s)-1; i++ {
			if s[i] == '\\' && i+1 < len(s)-1 {
				i++
			}
			b.WriteByte(s[i])
		}
		return b.String()
	}
	return s
}

func (d *Deliverer) isLocal(domain string) bool {
	domain = strings.TrimSuffix(domain, ".")
	// An address literal for loopback is us as well (RFC 5321 §4.1.3).
	if domain == "[127.0.0.1]" || domain == "[ipv6:::1]" {
		return true
	}
	for _, l := range d.Domains {
		if l == domain {
			return true
		}
	}
	return false
}

// Envelope is what the front end knows about how the message came.
type Envelope struct {
	From     string // MAIL FROM, "" for the null sender
	Helo     string // the client's LHLO/HELO name
	Remote   string // the client's address
	Protocol string // "LMTP", "local"
	ID       string // the transaction's id, for logs and Received
}

// Deliver stores msg (as received: line endings are made canonical) in
// the recipient's INBOX, or where the recipient's Sieve scripts say.
func (d *Deliverer) Deliver(ctx context.Context, env Envelope, rcpt Recipient, msg []byte) error {
	return d.deliverBytes(ctx, env, rcpt, message.Canonical(msg))
}

// DeliverMessage is Deliver for a message the front end kept
// (spool.Message, canonical): the copy is the recipient's trace fields
// and then m, as two pieces (spooled.go), stored without a copy of the
// whole joined first; spooled, it streams from the spool and is never
// held whole. The stored octets are Deliver's either way.
func (d *Deliverer) DeliverMessage(ctx context.Context, env Envelope, rcpt Recipient, m *spool.Message) error {
	acct, err := d.Accounts.Open(ctx, rcpt.User)
	if err != nil {
		return &Error{Kind: TempFail, Msg: "mailbox unavailable, try again later", Err: err}
	}
	return d.deliverContent(ctx, env, rcpt, acct, m)
}

// deliverBytes is Deliver for a canonical message in memory.
func (d *Deliverer) deliverBytes(ctx context.Context, env Envelope, rcpt Recipient, canon []byte) error {
	acct, err := d.Accounts.Open(ctx, rcpt.User)
	if err != nil {
		return &Error{Kind: TempFail, Msg: "mailbox unavailable, try again later", Err: err}
	}
	full := content{b: d.withTrace(env, rcpt, canon, time.Now())}
	if d.Sieve != nil && d.Sieve.Scripts != nil {
		return d.filter(ctx, env, rcpt, acct, full)
	}
	return d.keep(ctx, acct, rcpt, full, nil, env)
}

// Accept is the check at RCPT time: with QuotaAtRcpt, a recipient whose
// store has no room left is refused before the message is sent. A store
// that cannot be opened now is not refused: Deliver will say so.
func (d *Deliverer) Accept(ctx context.Context, rcpt Recipient) error {
	if !d.QuotaAtRcpt {
		return nil
	}
	full, err := d.Full(ctx, rcpt.User)
	if err != nil || !full {
		return nil
	}
	// At RCPT the reply names no recipient by itself (after DATA, LMTP
	// replies start with "<rcpt> "): say whose mailbox it is.
	e := d.overQuota(rcpt, quota.ErrOverQuota).(*Error)
	e.Msg = "<" + rcpt.Address + "> " + e.Msg
	return e
}

// Full reports whether user's INBOX has no room for another message.
func (d *Deliverer) Full(ctx context.Context, user string) (bool, error) {
	acct, err := d.Accounts.Open(ctx, user)
	if err != nil {
		return false, err
	}
	l, err := acct.Limits()
	if err != nil || l.None() {
		return false, err
	}
	u, err := acct.Usage()
	if err != nil {
		return false, err
	}
	return l.Full(u, folder.Inbox), nil
}

// CheckQuota answers the question an MTA asks before it accepts a
// message for addr of size octets (0 when unknown): nil when it fits, a
// NoSuchUser error, or an over-quota one (OverQuota or OverQuotaTemp).
func (d *Deliverer) CheckQuota(ctx context.Context, addr string, size int64) error {
	rcpt, err := d.Resolve(addr)
	if err != nil {
		return err
	}
	acct, err := d.Accounts.Open(ctx, rcpt.User)
	if err != nil {
		return &Error{Kind: TempFail, Msg: "mailbox unavailable, try again later", Err: err}
	}
	l, err := acct.Limits()
	if err == nil && !l.None() {
		var u quota.Usage
		if u, err = acct.Usage(); err == nil {
			if qerr := l.Check(u, folder.Inbox, quota.Usage{Storage: max(size, 1), Messages: 1}); qerr != nil {
				return d.overQuota(rcpt, qerr)
			}
		}
	}
	if err != nil {
		return &Error{Kind: TempFail, Msg: "quota unknown, try again later", Err: err}
	}
	return nil
}

func (d *Deliverer) overQuota(rcpt Recipient, err error) error {
	kind := OverQuota
	if d.QuotaTempFail {
		kind = OverQuotaTemp
	}
	return &Error{Kind: kind, Msg: "Mailbox full", Err: err}
}

// withTrace prepends Return-Path, Delivered-To and Received (RFC 5321
// §4.4) to a canonical message, in a new slice: the message may be the
// spool's memory (joined for Sieve, spooled.go), which goes back to a
// pool when the transaction ends (internal/spool), so nothing delivered
// may alias it.
func (d *Deliverer) withTrace(env Envelope, rcpt Recipient, msg []byte, now time.Time) []byte {
	return d.appendTrace(make([]byte, 0, len(msg)+512), env, rcpt, now, msg)
}

// trace is the trace fields alone, canonical and ending in CRLF: the
// head of a copy of a spool.Message.
func (d *Deliverer) trace(env Envelope, rcpt Recipient, now time.Time) []byte {
	return d.appendTrace(nil, env, rcpt, now, nil)
}

func (d *Deliverer) appendTrace(dst []byte, env Envelope, rcpt Recipient, now time.Time, msg []byte) []byte {
	b := bytes.NewBuffer(dst)
	fmt.Fprintf(b, "Return-Path: <%s>\r\n", sanitize(env.From))
	fmt.Fprintf(b, "Delivered-To: %s\r\n", sanitize(rcpt.Address))
	b.WriteString("Received: from ")
	helo := sanitize(env.Helo)
	if helo == "" {
		helo = "unknown"
	}
	b.WriteString(helo)
	if env.Remote != "" {
		fmt.Fprintf(b, " (%s)", sanitize(env.Remote))
	}
	fmt.Fprintf(b, "\r\n\tby %s (storaged) with %s", d.Hostname, env.Protocol)
	if env.ID != "" {
		fmt.Fprintf(b, " id %s", sanitize(env.ID))
	}
	fmt.Fprintf(b, "\r\n\tfor <%s>; %s\r\n", sanitize(rcpt.Address), now.Format(time.RFC1123Z))
	b.Write(msg)
	return b.Bytes()
}

// sanitize keeps what a peer sent from breaking the header it is put in.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '<' || r == '>' || r == '(' || r == ')' {
			return -1
		}
		return r
	}, s)
}
