package imap

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/imap/wire"
)

// The commands of any state and of the not-authenticated state: RFC 9051
// §6.1, §6.2; ID (RFC 2971), ENABLE (RFC 5161), UNAUTHENTICATE (RFC
// 8437), SASL-IR (RFC 4959).
func registerAuth(t *commands) {
	t.capability(anyState, "IMAP4rev2", "IMAP4rev1", "LITERAL+", "ID", "ENABLE")
	registerTLS(t)
	// RFC 9051 §6.2.3: no mechanism is offered where a password may not
	// be sent; LOGINDISABLED (registerTLS) says so instead. Each is
	// listed only when [auth] mechanisms enables it.
	t.capabilityIf(stateNotAuth, offers(auth.MechPlain), "AUTH=PLAIN")
	t.capabilityIf(stateNotAuth, offers(auth.MechLogin), "AUTH=LOGIN")
	t.capabilityIf(stateNotAuth, offers(auth.MechSCRAM), "AUTH="+auth.MechSCRAM)
	t.capabilityIf(stateNotAuth, (*conn).loginAllowed, "SASL-IR")
	t.capability(afterAuth, "UNAUTHENTICATE", "UTF8=ACCEPT")
	// RFC 6855 §3: UTF-8 in quoted strings and mailbox names, and APPEND
	// UTF8. RFC 9051 §6.3.1: a client enabling IMAP4rev2 gets the same
	// for names and strings.
	t.enableable("UTF8=ACCEPT", func(c *conn) { c.w.SetUTF8(true) })
	t.enableable("IMAP4REV2", func(c *conn) { c.w.SetUTF8(true); c.rev2 = true })
	t.add("CAPABILITY", anyState, 0, cmdCapability)
	t.add("NOOP", anyState, 0, cmdNoop)
	t.add("LOGOUT", anyState, 0, cmdLogout)
	t.add("ID", anyState, 0, cmdID)
	t.add("LOGIN", stateNotAuth, 0, cmdLogin)
	t.add("AUTHENTICATE", stateNotAuth, 0, cmdAuthenticate)
	t.add("ENABLE", stateAuth, 0, cmdEnable)
	t.add("UNAUTHENTICATE", afterAuth, 0, cmdUnauthenticate)
}

// capabilities is what this connection is told now.
func (c *conn) capabilities() string { return c.srv.cmds.capabilitiesOf(c.state, c) }

func cmdCapability(_ context.Context, c *conn, _ *wire.Command) error {
	c.w.Untagged()
	c.w.Raw("CAPABILITY ")
	c.w.Raw(c.capabilities())
	c.w.CRLF()
	return nil
}

func cmdNoop(context.Context, *conn, *wire.Command) error { return nil }

func cmdLogout(_ context.Context, c *conn, _ *wire.Command) error {
	// The user's slot is free before the client can hear the answer: a
	// client that logs out and at once logs in again (imaptest, webmail)
	// must not find its old session still counted.
	c.releaseUserSlot()
	c.w.Status("", "BYE", "", "logging out")
	c.closeView()
	c.state = stateLogout
	return nil
}

// serverID is what ID tells clients (RFC 2971 §3.3); no version, so that
// an attacker learns nothing from it.
var serverID = [][2]string{{"name", "storaged"}, {"vendor", "storaged"}}

func cmdID(_ context.Context, c *conn, cmd *wire.Command) error {
	args := cmd.Args.(*wire.IDArgs)
	if !args.Nil && len(args.Fields) > 0 {
		attrs := make([]any, 0, 2*len(args.Fields))
		for _, f := range args.Fields {
			if len(attrs) < 2*30 { // RFC 2971 §3.3: at most 30 pairs
				attrs = append(attrs, "id_"+f.Key, f.Value)
			}
		}
		c.log.Info("client id", attrs...)
	}
	c.w.Untagged()
	c.w.Raw("ID (")
	for i, kv := range serverID {
		if i > 0 {
			c.w.SP()
		}
		c.w.String(kv[0])
		c.w.SP()
		c.w.String(kv[1])
	}
	c.w.Raw(")")
	c.w.CRLF()
	return nil
}

// offers: a mechanism is listed on connections that may log in.
func offers(mech string) func(*conn) bool {
	return func(c *conn) bool { return c.loginAllowed() && c.srv.cfg.Auth.Offers(mech) }
}

func cmdLogin(ctx context.Context, c *conn, cmd *wire.Command) error {
	if !c.loginAllowed() {
		return errPrivacyRequired()
	}
	args := cmd.Args.(*wire.LoginArgs)
	return c.password(ctx, auth.Attempt{Authc: args.Username.Value, Password: args.Password.Value})
}

// password checks a password login (LOGIN, AUTHENTICATE PLAIN and
// LOGIN) and opens the account.
func (c *conn) password(ctx context.Context, at auth.Attempt) error {
	at.Proto, at.Remote = "imap", c.raw.RemoteAddr()
	l, err := c.srv.cfg.Auth.Password(ctx, at)
	if err != nil {
		return c.authFailed(ctx, at.Mech, err)
	}
	return c.loggedIn(ctx, at.Mech, l)
}

// loggedIn opens a logged-in user's account and enters the
// authenticated state.
func (c *conn) loggedIn(ctx context.Context, mech string, l auth.Login) error {
	u := l.User
	if !c.holdUserSlot(u.Name) {
		// The password was right: no failure for the throttle to count.
		c.log.Info("login refused", "user", u.Name, "reason", "too many connections from this address",
			"limit", c.srv.cfg.MaxConnectionsPerUserAddress)
		return errTooManyUserConns()
	}
	acct, err := c.srv.accounts.Open(ctx, u.Name)
	if err != nil {
		c.releaseUserSlot()
		// RFC 5530 UNAVAILABLE: the credentials were right, the store
		// is not; the user's fault is kept to the user.
		c.log.Error("open account", "user", u.Name, "err", err)
		return no(codeUnavail, "the mailbox store is unavailable; try again later")
	}
	c.srv.cfg.Metrics.Login("imap", true)
	c.acct, c.user, c.state = acct, u.Name, stateAuth
	c.who.set(func(i *SessionInfo) { i.User = u.Name })
	c.withdrawn = withdrawnCaps(u.Extra)
	c.log = c.baseLog.With("user", u.Name)
	if l.Master != "" {
		c.log = c.log.With("master", l.Master)
	}
	c.log.Info("logged in", "mech", mechName(mech))
	// RFC 9051 §6.2.3: the capabilities may change at login; say them.
	return okCode("CAPABILITY "+c.capabilities(), "logged in")
}

func mechName(m string) string {
	if m == "" {
		return "LOGIN command"
	}
	return m
}

// authFailed answers a failed login, after its delay: the protocol's
// auth_fail_delay, growing with the failures the throttle counts
// (auth.Failure.Delay), which slows guessing without holding any lock.
// The log says why (never the password); the client hears only that it
// failed, or, when the throttle refused it unchecked, to come back
// later.
func (c *conn) authFailed(ctx context.Context, mech string, err error) error {
	c.srv.cfg.Metrics.Login("imap", false)
	c.srv.cfg.Metrics.AuthFailure("imap", auth.FailureLabel(err))
	var f *auth.Failure
	if !errors.As(err, &f) {
		// The wait for a verification slot ended: the server stops.
		c.log.Info("login not checked", "mech", mechName(mech), "err", err)
		return no(codeUnavail, "try again later")
	}
	d := f.Delay(c.srv.cfg.AuthFailDelay)
	attrs := []any{"user", f.Name, "reason", string(f.Reason), "mech", mechName(mech), "delay", d}
	if f.Master != "" {
		attrs = append(attrs, "master", f.Master)
	}
	c.log.Info("login failed", attrs...)
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	if f.Refused() {
		return no(codeUnavail, "too many failed logins; try again later")
	}
	return no(codeAuthFailed, "authentication failed")
}

var errAuthCancelled = errors.New("cancelled")

func cmdAuthenticate(ctx context.Context, c *conn, cmd *wire.Command) error {
	args := cmd.Args.(*wire.AuthenticateArgs)
	mech := strings.ToUpper(args.Mechanism)
	if !c.srv.cfg.Auth.Offers(mech) {
		return no("CANNOT", "unsupported authentication mechanism "+args.Mechanism)
	}
	if !c.loginAllowed() {
		// Refused before any challenge, so a password that was not
		// already sent (SASL-IR) never is.
		return errPrivacyRequired()
	}
	switch mech {
	case auth.MechPlain:
		resp := args.Initial
		if !args.HasInitial {
			var err error
			if resp, err = c.saslStep(""); err != nil {
				return saslErr(err)
			}
		}
		authz, authc, pass, err := auth.ParsePlain(resp)
		if err != nil {
			return bad(err.Error())
		}
		// An authzid other than the user is a master login, or refused
		// like a wrong password (auth.Authenticator).
		return c.password(ctx, auth.Attempt{Mech: mech, Authz: authz, Authc: authc, Password: pass})
	case auth.MechLogin:
		// The draft-murchison-sasl-login mechanism Outlook and older
		// clients still use: username, then password, each prompted.
		user := args.Initial
		if !args.HasInitial {
			var err error
			if user, err = c.saslStep("Username:"); err != nil {
				return saslErr(err)
			}
		}
		pass, err := c.saslStep("Password:")
		if err != nil {
			return saslErr(err)
		}
		return c.password(ctx, auth.Attempt{Mech: mech, Authc: string(user), Password: string(pass)})
	case auth.MechSCRAM:
		return c.scram(ctx, args)
	}
	return no("CANNOT", "unsupported authentication mechanism "+args.Mechanism)
}

// scram is SCRAM-SHA-256 (RFC 7677): client-first (the initial response
// or the answer to an empty challenge), server-first as a challenge,
// client-final, then the server-final-message as a last challenge that
// the client answers with an empty line (RFC 4422 §5: IMAP has no
// additional data with success), and only then the tagged OK.
func (c *conn) scram(ctx context.Context, args *wire.AuthenticateArgs) error {
	x := c.srv.cfg.Auth.SCRAM(auth.Attempt{Proto: "imap", Remote: c.raw.RemoteAddr()})
	defer x.Abort()
	first := args.Initial
	if !args.HasInitial || len(first) == 0 {
		var err error
		if first, err = c.saslStep(""); err != nil {
			return saslErr(err)
		}
	}
	serverFirst, err := x.Start(first)
	if err != nil {
		return c.scramErr(ctx, err)
	}
	final, err := c.saslStep(string(serverFirst))
	if err != nil {
		return saslErr(err)
	}
	serverFinal, l, err := x.Finish(ctx, final)
	if err != nil {
		return c.scramErr(ctx, err)
	}
	if empty, err := c.saslStep(string(serverFinal)); err != nil {
		return saslErr(err)
	} else if len(empty) != 0 {
		return bad("SCRAM: the answer to the server's final message must be empty")
	}
	return c.loggedIn(ctx, auth.MechSCRAM, l)
}

func (c *conn) scramErr(ctx context.Context, err error) error {
	if errors.Is(err, auth.ErrBadSASL) {
		return bad(err.Error())
	}
	return c.authFailed(ctx, auth.MechSCRAM, err)
}

// saslStep sends a challenge and reads the client's base64 response
// line (RFC 9051 §6.2.2); "*" cancels.
func (c *conn) saslStep(challenge string) ([]byte, error) {
	c.w.Raw("+ ")
	c.w.Raw(base64.StdEncoding.EncodeToString([]byte(challenge)))
	c.w.CRLF()
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	line, err := c.r.ReadLine()
	if err != nil {
		return nil, err
	}
	if string(line) == "*" {
		return nil, errAuthCancelled
	}
	if string(line) == "=" {
		// RFC 4959's empty response, which some clients (go-imap) send
		// for an empty continuation response too: no base64 is "=".
		return []byte{}, nil
	}
	out, err := base64.StdEncoding.DecodeString(string(line))
	if err != nil {
		return nil, bad("SASL response is not base64")
	}
	return out, nil
}

func saslErr(err error) error {
	var r *response
	switch {
	case errors.As(err, &r):
		return r
	case errors.Is(err, errAuthCancelled):
		// RFC 9051 §6.2.2: a cancelled exchange is rejected with BAD.
		return bad("AUTHENTICATE cancelled")
	case errors.Is(err, wire.ErrLineTooLong):
		return bad("SASL response too long")
	}
	return err // the connection broke; the loop ends at the next read
}

func cmdEnable(_ context.Context, c *conn, cmd *wire.Command) error {
	args := cmd.Args.(*wire.EnableArgs)
	c.w.Untagged()
	c.w.Raw("ENABLED")
	for _, name := range args.Caps {
		on, ok := c.srv.cmds.enable[name]
		if !ok || c.enabled[name] || c.withdrawn[name] {
			// RFC 5161 §3.1: unknown ones are ignored, and each is
			// listed only when this command enabled it.
			continue
		}
		on(c)
		c.enabled[name] = true
		c.w.SP()
		c.w.Atom(name)
	}
	c.w.CRLF()
	return nil
}

func cmdUnauthenticate(_ context.Context, c *conn, _ *wire.Command) error {
	c.closeView()
	c.releaseUserSlot()
	c.acct, c.user, c.state, c.withdrawn = nil, "", stateNotAuth, nil
	c.who.set(func(i *SessionInfo) { i.User, i.Mailbox = "", "" })
	c.enabled, c.rev2, c.condstore, c.qresync = map[string]bool{}, false, false, false
	c.w.SetUTF8(false)
	c.log.Info("unauthenticated")
	c.log = c.baseLog
	return nil
}

// withdrawnCaps reads the capabilities withdrawn from a user's clients:
// the extra field imap_withdraw (userdb_imap_withdraw), a comma-separated
// list such as "CONDSTORE,QRESYNC", for a client that misbehaves with an
// extension. They are left out of CAPABILITY and refused by ENABLE.
func withdrawnCaps(extra map[string]string) map[string]bool {
	v := extra["userdb_imap_withdraw"]
	if v == "" {
		v = extra["imap_withdraw"]
	}
	if v == "" {
		return nil
	}
	out := map[string]bool{}
	for _, c := range strings.Split(v, ",") {
		if c = strings.ToUpper(strings.TrimSpace(c)); c != "" {
			out[c] = true
		}
	}
	return out
}
