package managesieve

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/internal/netserve"
	"github.com/storaged/storaged/internal/rawlog"
	"github.com/storaged/storaged/sieve"
	"github.com/storaged/storaged/sievestore"
)

type session struct {
	srv  *Server
	conn net.Conn
	r    *reader
	w    *bufio.Writer
	log  *slog.Logger
	user string // "" until AUTHENTICATE succeeds
	// userSlot gives back the (user, address) count; nil while no user
	// is logged in.
	userSlot func()
	who      *netserve.Session
	errors   int
	// tls: conn is TLS; trusted: the peer may authenticate without it.
	tls, trusted bool
	// id is the session's id in the log; trace its rawlog while a listed
	// user is logged in; traced: the session was logged in when
	// traceState last ran (so its user was looked up in the rawlog list).
	id     string
	trace  *rawlog.Trace
	traced bool
}

// farewellTimeout bounds the write of a refusal, so that a client that
// never reads cannot hold the connection.
const farewellTimeout = 10 * time.Second

func itoa(n int) string { return strconv.Itoa(n) }

func joinExt(ext []string) string { return strings.Join(ext, " ") }

// literalMax allows scripts in PUTSCRIPT and CHECKSCRIPT up to the store's
// limit (a few octets over, so that the store's own refusal names the
// size), and MaxString anywhere else.
func (s *session) literalMax(cmd string) int64 {
	if s.user != "" && (cmd == "PUTSCRIPT" || cmd == "CHECKSCRIPT") {
		return s.srv.scripts.MaxScriptSize()
	}
	return MaxString
}

func (s *session) line(l string) { s.w.WriteString(l + "\r\n") }

// reply writes OK, NO or BYE with an optional code and text.
func (s *session) reply(kind, code, text string) {
	var b strings.Builder
	b.WriteString(kind)
	if code != "" {
		b.WriteString(" (" + code + ")")
	}
	if text != "" {
		b.WriteString(" " + quote(text))
	}
	s.line(b.String())
}

func (s *session) run(ctx context.Context) {
	s.sendCapabilities()
	s.reply("OK", "", "storaged ManageSieve ready.")
	for {
		if err := s.w.Flush(); err != nil {
			return
		}
		if ctx.Err() != nil {
			s.reply("BYE", "", "Server shutting down.")
			s.w.Flush()
			return
		}
		s.conn.SetReadDeadline(time.Now().Add(s.srv.cfg.IdleTimeout))
		cmd, err := s.r.readCommand()
		if err != nil {
			switch {
			case errors.Is(err, errLiteral):
				s.errors++
				s.reply("NO", "QUOTA/MAXSIZE", capitalise(err.Error())+".")
				continue
			case errors.Is(err, errSyntax):
				if s.bad(err.Error()) {
					return
				}
				continue
			case errors.Is(err, errLineTooLong), errors.Is(err, errDiscard):
				s.reply("BYE", "", err.Error())
			case errors.Is(err, io.EOF):
			default:
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
					s.reply("BYE", "", "Disconnected for inactivity.")
				}
			}
			s.w.Flush()
			return
		}
		quit := s.dispatch(ctx, cmd)
		s.traceState()
		if quit {
			s.w.Flush()
			return
		}
	}
}

// traceState starts the rawlog when a listed user has just logged in
// and ends it at UNAUTHENTICATE. It runs after a command was answered,
// so AUTHENTICATE, its SASL exchange and its OK are never in the trace,
// nor a login that follows UNAUTHENTICATE (Detach drops what was read
// ahead). STARTTLS is refused once authenticated, so no layer changes
// under r and w while a trace runs.
func (s *session) traceState() {
	authed := s.user != ""
	if authed == s.traced {
		return
	}
	s.traced = authed
	if !authed {
		s.trace.Detach(s.r.r, s.w)
		s.trace = nil
		return
	}
	if s.trace = s.srv.cfg.Rawlog.Start("managesieve", s.id, s.user, s.log); s.trace != nil {
		s.trace.Attach(s.r.r, s.conn, s.w, s.conn)
	}
}

// bad answers a command that could not be run; true ends the session.
func (s *session) bad(why string) bool {
	s.errors++
	if s.errors >= s.srv.cfg.MaxErrors {
		s.reply("BYE", "", "Too many invalid commands.")
		return true
	}
	s.reply("NO", "", capitalise(why)+".")
	return false
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// strs checks a command's arguments: n strings, or a usage error.
func (s *session) strs(cmd command, n int, usage string) ([]string, bool) {
	if len(cmd.args) != n {
		s.bad("usage: " + usage)
		return nil, false
	}
	out := make([]string, n)
	for i, a := range cmd.args {
		if a.kind != argString {
			s.bad("usage: " + usage + " (names and scripts are quoted strings or literals)")
			return nil, false
		}
		out[i] = a.s
	}
	return out, true
}

// dispatch runs one command; true ends the session.
func (s *session) dispatch(ctx context.Context, cmd command) bool {
	switch cmd.name {
	case "CAPABILITY":
		s.sendCapabilities()
		s.reply("OK", "", "Capability completed.")
		return false
	case "LOGOUT":
		s.reply("OK", "", "Logout completed.")
		return true
	case "NOOP":
		// RFC 5804 §2.13: an optional string comes back in a TAG code.
		if len(cmd.args) == 1 && cmd.args[0].kind == argString {
			s.reply("OK", "TAG "+quote(cmd.args[0].s), "Done.")
		} else if len(cmd.args) == 0 {
			s.reply("OK", "", "Done.")
		} else {
			s.bad("usage: NOOP [string]")
		}
		return false
	case "STARTTLS":
		if s.user != "" && s.canStartTLS() {
			return s.bad("STARTTLS is only valid before AUTHENTICATE")
		}
		return s.startTLS(ctx, cmd)
	case "AUTHENTICATE":
		if s.user != "" {
			s.bad("already authenticated")
			return false
		}
		if !s.loginAllowed() {
			s.reply("NO", "ENCRYPT-NEEDED", "Use STARTTLS before sending a password.")
			return false
		}
		return s.authenticate(ctx, cmd)
	}
	if s.user == "" {
		switch cmd.name {
		case "LISTSCRIPTS", "GETSCRIPT", "PUTSCRIPT", "CHECKSCRIPT", "SETACTIVE", "DELETESCRIPT",
			"RENAMESCRIPT", "HAVESPACE", "UNAUTHENTICATE":
			return s.bad("authenticate first")
		}
		return s.bad("unknown command " + strconv.Quote(cmd.name))
	}
	switch cmd.name {
	case "UNAUTHENTICATE":
		if len(cmd.args) != 0 {
			return s.bad("usage: UNAUTHENTICATE")
		}
		s.log.Info("unauthenticated", "user", s.user)
		s.user = ""
		s.releaseUser()
		s.log = s.srv.log.With("proto", "managesieve")
		s.reply("OK", "", "Unauthenticate completed.")
	case "LISTSCRIPTS":
		if len(cmd.args) != 0 {
			return s.bad("usage: LISTSCRIPTS")
		}
		list, err := s.srv.scripts.List(s.user)
		if err != nil {
			s.storeErr(err)
			break
		}
		for _, sc := range list {
			l := quote(sc.Name)
			if sc.Active {
				l += " ACTIVE"
			}
			s.line(l)
		}
		s.reply("OK", "", "Listscripts completed.")
	case "GETSCRIPT":
		a, ok := s.strs(cmd, 1, "GETSCRIPT name")
		if !ok {
			break
		}
		src, err := s.srv.scripts.Get(s.user, a[0])
		if err != nil {
			s.storeErr(err)
			break
		}
		s.line(literal(string(src)))
		s.reply("OK", "", "Getscript completed.")
	case "PUTSCRIPT":
		a, ok := s.strs(cmd, 2, "PUTSCRIPT name script")
		if !ok {
			break
		}
		if err := s.srv.scripts.Put(s.user, a[0], []byte(a[1])); err != nil {
			s.storeErr(err)
			break
		}
		s.log.Info("script stored", "script", a[0], "bytes", len(a[1]))
		s.reply("OK", "", "Putscript completed.")
	case "CHECKSCRIPT":
		a, ok := s.strs(cmd, 1, "CHECKSCRIPT script")
		if !ok {
			break
		}
		if err := s.srv.scripts.Check(s.user, []byte(a[0])); err != nil {
			s.storeErr(err)
			break
		}
		s.reply("OK", "", "Script is valid.")
	case "SETACTIVE":
		a, ok := s.strs(cmd, 1, "SETACTIVE name")
		if !ok {
			break
		}
		if err := s.srv.scripts.SetActive(s.user, a[0]); err != nil {
			s.storeErr(err)
			break
		}
		s.log.Info("script activated", "script", a[0])
		s.reply("OK", "", "Setactive completed.")
	case "DELETESCRIPT":
		a, ok := s.strs(cmd, 1, "DELETESCRIPT name")
		if !ok {
			break
		}
		if err := s.srv.scripts.Delete(s.user, a[0]); err != nil {
			s.storeErr(err)
			break
		}
		s.reply("OK", "", "Deletescript completed.")
	case "RENAMESCRIPT":
		a, ok := s.strs(cmd, 2, "RENAMESCRIPT oldname newname")
		if !ok {
			break
		}
		if err := s.srv.scripts.Rename(s.user, a[0], a[1]); err != nil {
			s.storeErr(err)
			break
		}
		s.reply("OK", "", "Renamescript completed.")
	case "HAVESPACE":
		if len(cmd.args) != 2 || cmd.args[0].kind != argString || cmd.args[1].kind != argNumber {
			return s.bad("usage: HAVESPACE name size")
		}
		size := int64(min(cmd.args[1].n, 1<<62))
		if err := s.srv.scripts.HaveSpace(s.user, cmd.args[0].s, size); err != nil {
			s.storeErr(err)
			break
		}
		s.reply("OK", "", "Putscript would succeed.")
	default:
		return s.bad("unknown command " + strconv.Quote(cmd.name))
	}
	return false
}

// storeErr maps the store's errors to response codes: the one place
// that does (RFC 5804 §1.3).
func (s *session) storeErr(err error) {
	var se *sieve.Error
	switch {
	case errors.As(err, &se):
		s.reply("NO", "", se.Error())
	case errors.Is(err, sievestore.ErrNotFound):
		s.reply("NO", "NONEXISTENT", "There is no script by that name.")
	case errors.Is(err, sievestore.ErrExists):
		s.reply("NO", "ALREADYEXISTS", "A script by that name exists.")
	case errors.Is(err, sievestore.ErrActive):
		s.reply("NO", "ACTIVE", "The active script cannot be deleted.")
	case errors.Is(err, sievestore.ErrTooBig):
		s.reply("NO", "QUOTA/MAXSIZE", capitalise(err.Error())+".")
	case errors.Is(err, sievestore.ErrTooMany):
		s.reply("NO", "QUOTA/MAXSCRIPTS", capitalise(err.Error())+".")
	case errors.Is(err, sievestore.ErrBadName):
		s.reply("NO", "", capitalise(err.Error())+".")
	default:
		s.log.Error("script store", "user", s.user, "err", err)
		s.reply("NO", "TRYLATER", "Internal error, try again later.")
	}
}

// mechanisms are the SASL mechanisms [auth] mechanisms enables, as
// the SASL capability lists them.
func (s *session) mechanisms() []string {
	var out []string
	for _, m := range auth.KnownMechanisms {
		if s.srv.cfg.Auth.Offers(m) {
			out = append(out, m)
		}
	}
	return out
}

// andList is "A", "A and B", "A, B and C".
func andList(l []string) string {
	if len(l) < 2 {
		return strings.Join(l, "")
	}
	return strings.Join(l[:len(l)-1], ", ") + " and " + l[len(l)-1]
}

// authenticate is RFC 5804 §2.1 with PLAIN (RFC 4616), LOGIN and
// SCRAM-SHA-256 (RFC 7677), those of them that are enabled.
func (s *session) authenticate(ctx context.Context, cmd command) bool {
	if len(cmd.args) < 1 || len(cmd.args) > 2 || cmd.args[0].kind != argString || (len(cmd.args) == 2 && cmd.args[1].kind != argString) {
		return s.bad(`usage: AUTHENTICATE "mechanism" ["initial response"]`)
	}
	mech := strings.ToUpper(cmd.args[0].s)
	var initial *string
	if len(cmd.args) == 2 {
		initial = &cmd.args[1].s
	}
	if !s.srv.cfg.Auth.Offers(mech) {
		s.reply("NO", "", fmt.Sprintf("Unsupported SASL mechanism %s (%s are).", cmd.args[0].s, andList(s.mechanisms())))
		return false
	}
	switch mech {
	case auth.MechPlain:
		resp, done := s.saslStep("", initial)
		if done {
			return resp == "" // "" only on a lost connection
		}
		raw, err := base64.StdEncoding.DecodeString(resp)
		if err != nil {
			s.reply("NO", "", "The SASL response is not base64.")
			return false
		}
		authz, authc, p, err := auth.ParsePlain(raw)
		if err != nil {
			s.reply("NO", "", capitalise(err.Error())+".")
			return false
		}
		// An authzid other than the user is a master login, or refused
		// like a wrong password (auth.Authenticator).
		return s.password(ctx, auth.Attempt{Mech: mech, Authz: authz, Authc: authc, Password: p})
	case auth.MechLogin:
		u, done := s.saslStep("Username:", initial)
		if done {
			return u == ""
		}
		p, done := s.saslStep("Password:", nil)
		if done {
			return p == ""
		}
		ub, err1 := base64.StdEncoding.DecodeString(u)
		pb, err2 := base64.StdEncoding.DecodeString(p)
		if err1 != nil || err2 != nil {
			s.reply("NO", "", "The SASL response is not base64.")
			return false
		}
		return s.password(ctx, auth.Attempt{Mech: mech, Authc: string(ub), Password: string(pb)})
	case auth.MechSCRAM:
		return s.scram(ctx, initial)
	}
	s.reply("NO", "", fmt.Sprintf("Unsupported SASL mechanism %s.", cmd.args[0].s))
	return false
}

func (s *session) password(ctx context.Context, at auth.Attempt) bool {
	at.Proto, at.Remote = "managesieve", s.conn.RemoteAddr()
	l, err := s.srv.cfg.Auth.Password(ctx, at)
	if err != nil {
		s.authFailed(ctx, at.Mech, err)
		return false
	}
	s.loggedIn(at.Mech, l, "")
	return false
}

// releaseUser gives back the session's (user, address) count, if it
// holds one.
func (s *session) releaseUser() {
	if s.userSlot != nil {
		s.userSlot()
		s.userSlot = nil
	}
}

// loggedIn enters the authenticated state; saslData is the
// server-final-message of a mechanism that has one, sent in the OK's
// SASL code (RFC 5804 §2.1).
func (s *session) loggedIn(mech string, l auth.Login, saslData string) {
	release, ok := s.srv.perUser.Acquire(l.User.Name, s.conn.RemoteAddr())
	if !ok {
		// The password was right: nothing for the throttle to count.
		s.log.Info("login refused", "user", l.User.Name, "reason", "too many connections from this address",
			"limit", s.srv.cfg.MaxConnectionsPerUserAddress)
		s.reply("NO", "TRYLATER", "Too many connections for this user from this address.")
		return
	}
	s.userSlot = release
	s.user = l.User.Name
	s.who.SetUser(l.User.Name)
	s.log = s.log.With("user", l.User.Name)
	if l.Master != "" {
		s.log = s.log.With("master", l.Master)
	}
	s.srv.cfg.Metrics.Login("managesieve", true)
	s.log.Info("logged in", "mech", mech)
	code := ""
	if saslData != "" {
		code = "SASL " + quote(base64.StdEncoding.EncodeToString([]byte(saslData)))
	}
	s.reply("OK", code, "Logged in.")
}

// scram is SCRAM-SHA-256: client-first (the initial response or the
// answer to an empty challenge), server-first as a challenge,
// client-final, and the server-final-message in OK (SASL "…").
func (s *session) scram(ctx context.Context, initial *string) bool {
	x := s.srv.cfg.Auth.SCRAM(auth.Attempt{Proto: "managesieve", Remote: s.conn.RemoteAddr()})
	defer x.Abort()
	if initial != nil && *initial == "" {
		initial = nil
	}
	decode := func(resp string) ([]byte, bool) {
		b, err := base64.StdEncoding.DecodeString(resp)
		if err != nil {
			s.reply("NO", "", "The SASL response is not base64.")
			return nil, false
		}
		return b, true
	}
	resp, done := s.saslStep("", initial)
	if done {
		return resp == ""
	}
	first, ok := decode(resp)
	if !ok {
		return false
	}
	serverFirst, err := x.Start(first)
	if err != nil {
		return s.scramErr(ctx, err)
	}
	if resp, done = s.saslStep(string(serverFirst), nil); done {
		return resp == ""
	}
	final, ok := decode(resp)
	if !ok {
		return false
	}
	serverFinal, l, err := x.Finish(ctx, final)
	if err != nil {
		return s.scramErr(ctx, err)
	}
	s.loggedIn(auth.MechSCRAM, l, string(serverFinal))
	return false
}

func (s *session) scramErr(ctx context.Context, err error) bool {
	if errors.Is(err, auth.ErrBadSASL) {
		s.reply("NO", "", capitalise(err.Error())+".")
		return false
	}
	s.authFailed(ctx, auth.MechSCRAM, err)
	return false
}

// saslStep sends a challenge (base64 of prompt) unless the client gave
// an initial response, and reads the client's string. done with resp ""
// means the connection is gone; done with resp "x" means the exchange
// ended with a reply already written.
func (s *session) saslStep(prompt string, initial *string) (resp string, done bool) {
	if initial != nil {
		return *initial, false
	}
	s.line(quote(base64.StdEncoding.EncodeToString([]byte(prompt))))
	if err := s.w.Flush(); err != nil {
		return "", true
	}
	args, err := s.r.readLine(false)
	if err != nil {
		if errors.Is(err, errSyntax) || errors.Is(err, errLiteral) {
			s.reply("NO", "", "Bad SASL response.")
			return "x", true
		}
		return "", true
	}
	if len(args) != 1 || args[0].kind != argString {
		s.reply("NO", "", "A SASL response is one string.")
		return "x", true
	}
	if args[0].s == "*" {
		s.reply("NO", "", "Authentication aborted.")
		return "x", true
	}
	return args[0].s, false
}

// authFailed answers a failed login after its delay (auth_fail_delay,
// growing with the failures the throttle counts); the log says why,
// never the password. A login the throttle refused unchecked gets
// TRYLATER (RFC 5804 §1.3).
func (s *session) authFailed(ctx context.Context, mech string, err error) {
	s.srv.cfg.Metrics.Login("managesieve", false)
	s.srv.cfg.Metrics.AuthFailure("managesieve", auth.FailureLabel(err))
	var f *auth.Failure
	if !errors.As(err, &f) {
		s.log.Info("login not checked", "mech", mech, "err", err)
		s.reply("NO", "TRYLATER", "Cannot check the password now, try again later.")
		return
	}
	d := f.Delay(s.srv.cfg.AuthFailDelay)
	attrs := []any{"user", f.Name, "reason", string(f.Reason), "mech", mech, "delay", d}
	if f.Master != "" {
		attrs = append(attrs, "master", f.Master)
	}
	s.log.Info("login failed", attrs...)
	s.w.Flush()
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	if f.Refused() {
		s.reply("NO", "TRYLATER", "Too many failed logins, try again later.")
		return
	}
	s.reply("NO", "", "Authentication failed.")
}
