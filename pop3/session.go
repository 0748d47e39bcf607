package pop3

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/netserve"
	"github.com/storaged/storaged/internal/rawlog"
	"github.com/storaged/storaged/store"
)

type state uint8

const (
	stateAuth state = iota
	stateTrans
)

// maxBadCommands ends a session that keeps sending what we cannot parse:
// it is not a POP3 client.
const maxBadCommands = 10

// maxSASLLine bounds a client's SASL response line; RFC 5034 §4 lets it
// exceed the 255 octets of a command line.
const maxSASLLine = 4096

type entry struct {
	msg       store.Message
	deleted   bool
	retrieved bool
}

type session struct {
	// lastStatus is the status of the last reply (OK, ERR), for metrics;
	// commands, retrieved and deletedN are for the session's last log line.
	lastStatus          string
	commands, retrieved int
	deletedN            int

	srv  *Server
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	log  *slog.Logger

	state state
	// tls: conn is TLS; trusted: the peer may log in without it.
	tls, trusted bool
	user         string        // from USER, until PASS
	hold         *maildropLock // with LockSession: the maildrop this session holds
	userSlot     func()        // gives back the (user, address) count; nil before login
	who          *netserve.Session
	bad          int
	// id is the session's id in the log; trace its rawlog once a
	// listed user logged in (nil otherwise).
	id    string
	trace *rawlog.Trace

	acct        *store.Account
	mb          *store.Mailbox
	uidValidity uint32
	msgs        []entry
	buf         []byte
}

// errLineTooLong ends the session: the rest of the line cannot be told
// from the next command.
var errLineTooLong = errors.New("line too long")

func (s *session) run(ctx context.Context) {
	s.reply(true, "", "storaged POP3 ready")
	s.w.Flush()
	for {
		line, err := s.readLine(MaxLine)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				s.reply(false, "", "line too long (RFC 2449 allows 255 octets)")
				s.lastWords()
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() && !s.srv.isClosing() {
				s.reply(false, "", "idle for too long, closing")
				s.lastWords()
			} else if s.srv.isClosing() {
				s.reply(false, "SYS/TEMP", "server shutting down")
				s.lastWords()
			}
			return
		}
		start := time.Now()
		s.commands++
		quit := s.dispatch(ctx, line)
		s.srv.cfg.Metrics.Command("pop3", commandName(line), s.lastStatus, time.Since(start))
		// Pipelined commands (RFC 2449 PIPELINING) are answered in one
		// write.
		if s.r.Buffered() == 0 || quit {
			s.conn.SetWriteDeadline(time.Now().Add(s.srv.cfg.IdleTimeout))
			if err := s.w.Flush(); err != nil {
				return
			}
		}
		if quit {
			return
		}
	}
}

// farewellTimeout bounds the write of a session's last -ERR.
const farewellTimeout = 10 * time.Second

// lastWords flushes what a session says as it ends. The write deadline
// the last command set has passed by the time an idle session times out,
// so it gets one of its own.
func (s *session) lastWords() {
	s.conn.SetWriteDeadline(time.Now().Add(farewellTimeout))
	s.w.Flush()
}

// readLine reads one line of at most max octets, line end included, and
// returns it without the line end. A bare LF ends a line too.
func (s *session) readLine(max int) ([]byte, error) {
	if s.r.Buffered() == 0 {
		s.w.Flush()
	}
	s.conn.SetReadDeadline(time.Now().Add(s.srv.cfg.IdleTimeout))
	if s.srv.isClosing() {
		return nil, errShutdown
	}
	var line []byte
	for {
		frag, err := s.r.ReadSlice('\n')
		if len(line)+len(frag) > max {
			return nil, errLineTooLong
		}
		line = append(line, frag...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), nil
}

var errShutdown = errors.New("shutting down")

// reply writes a one-line status response; code is an RFC 2449 response
// code or "".
func (s *session) reply(ok bool, code, text string) {
	if ok {
		s.w.WriteString("+OK")
		s.lastStatus = "OK"
	} else {
		s.w.WriteString("-ERR")
		s.lastStatus = "ERR"
	}
	if code != "" {
		s.w.WriteString(" [")
		s.w.WriteString(code)
		s.w.WriteString("]")
	}
	if text != "" {
		s.w.WriteByte(' ')
		s.w.WriteString(text)
	}
	s.w.WriteString("\r\n")
}

func (s *session) errf(format string, args ...any) { s.reply(false, "", fmt.Sprintf(format, args...)) }

// pop3Commands are the names metrics count; anything else is "unknown",
// so a client cannot grow the label set.
var pop3Commands = map[string]bool{"CAPA": true, "QUIT": true, "STLS": true, "USER": true, "PASS": true, "AUTH": true,
	"APOP": true, "STAT": true, "LIST": true, "UIDL": true, "RETR": true, "TOP": true, "DELE": true, "NOOP": true, "RSET": true}

func commandName(line []byte) string {
	name, _, _ := bytes.Cut(line, []byte(" "))
	if n := strings.ToUpper(string(name)); pop3Commands[n] {
		return n
	}
	return "unknown"
}

// dispatch runs one command line and reports whether the session ends.
func (s *session) dispatch(ctx context.Context, line []byte) bool {
	cmd, err := parseCommand(line)
	if err != nil {
		return s.badCommand(err.Error())
	}
	if cmd.name == "CAPA" {
		s.capa()
		return false
	}
	if cmd.name == "QUIT" {
		return s.quit(ctx)
	}
	if s.state == stateAuth {
		switch cmd.name {
		case "STLS":
			return s.cmdSTLS(ctx, cmd)
		case "USER", "PASS", "AUTH":
			if !s.loginAllowed() {
				return s.refuseCleartext()
			}
		}
		switch cmd.name {
		case "USER":
			return s.cmdUser(cmd)
		case "PASS":
			return s.cmdPass(ctx, cmd)
		case "AUTH":
			return s.cmdAuth(ctx, cmd)
		case "APOP":
			s.errf("APOP is not supported: use USER/PASS or AUTH PLAIN")
			return false
		case "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL":
			s.errf("%s is not allowed before login", cmd.name)
			return false
		}
		return s.badCommand("unknown command " + cmd.name)
	}
	switch cmd.name {
	case "STAT":
		if len(cmd.args) != 0 {
			return s.badCommand("STAT takes no argument")
		}
		n, size := s.totals()
		s.reply(true, "", strconv.Itoa(n)+" "+strconv.FormatInt(size, 10))
	case "LIST":
		s.cmdList(cmd, false)
	case "UIDL":
		s.cmdList(cmd, true)
	case "RETR":
		if len(cmd.args) != 1 {
			return s.badCommand("usage: RETR msg")
		}
		return s.cmdRetr(cmd.args[0], -1)
	case "TOP":
		if len(cmd.args) != 2 {
			return s.badCommand("usage: TOP msg lines")
		}
		n, ok := msgNumber(cmd.args[1])
		if !ok {
			return s.badCommand("TOP: the line count must be a non-negative number")
		}
		return s.cmdRetr(cmd.args[0], n)
	case "DELE":
		if len(cmd.args) != 1 {
			return s.badCommand("usage: DELE msg")
		}
		if e := s.lookup(cmd.args[0]); e != nil {
			e.deleted = true
			s.reply(true, "", "message "+cmd.args[0]+" deleted")
		}
	case "NOOP":
		s.reply(true, "", "")
	case "RSET":
		for i := range s.msgs {
			s.msgs[i].deleted = false
		}
		n, size := s.totals()
		s.reply(true, "", fmt.Sprintf("maildrop has %d messages (%d octets)", n, size))
	case "USER", "PASS", "AUTH", "APOP":
		s.errf("already logged in")
	default:
		return s.badCommand("unknown command " + cmd.name)
	}
	return false
}

func (s *session) badCommand(why string) bool {
	s.bad++
	if s.bad >= maxBadCommands {
		s.errf("too many bad commands, closing")
		return true
	}
	s.errf("%s", why)
	return false
}

func (s *session) capa() {
	s.reply(true, "", "capability list follows")
	s.w.WriteString("TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nEXPIRE NEVER\r\nIMPLEMENTATION storaged\r\n")
	if s.state == stateAuth && s.canSTLS() {
		s.w.WriteString("STLS\r\n")
	}
	if s.state == stateAuth && s.loginAllowed() {
		s.w.WriteString("USER\r\n")
		if m := s.mechanisms(); len(m) > 0 {
			s.w.WriteString("SASL " + strings.Join(m, " ") + "\r\n")
		}
	}
	s.w.WriteString(".\r\n")
}

func (s *session) totals() (int, int64) {
	n, size := 0, int64(0)
	for _, e := range s.msgs {
		if !e.deleted {
			n++
			size += e.msg.CRLFSize
		}
	}
	return n, size
}

// lookup finds a message by its number, answering -ERR itself when there
// is none.
func (s *session) lookup(arg string) *entry {
	n, ok := msgNumber(arg)
	if !ok {
		s.errf("%q is not a message number", arg)
		return nil
	}
	if n < 1 || n > len(s.msgs) {
		s.errf("no message %d (the maildrop has %d)", n, len(s.msgs))
		return nil
	}
	e := &s.msgs[n-1]
	if e.deleted {
		s.errf("message %d is deleted", n)
		return nil
	}
	return e
}

func (s *session) uidl(e *entry) string {
	return string(s.appendUIDL(nil, e))
}

// appendUIDL appends the message's UIDL: the one it had on the server it
// was migrated from, else Dovecot's default pop3_uidl_format
// %08Xu%08Xv, which Dovecot prints in lower-case hex ("000000016b102dbc"),
// so a mailbox adopted from Dovecot with its UIDs keeps every UIDL byte
// for byte and POP3 clients fetch nothing again.
func (s *session) appendUIDL(b []byte, e *entry) []byte {
	if e.msg.POP3UIDL != "" {
		return append(b, e.msg.POP3UIDL...)
	}
	return fmt.Appendf(b, "%08x%08x", e.msg.UID, s.uidValidity)
}

func (s *session) cmdList(cmd command, uidl bool) {
	if len(cmd.args) > 1 {
		s.badCommand("too many arguments")
		return
	}
	val := func(e *entry) string {
		if uidl {
			return s.uidl(e)
		}
		return strconv.FormatInt(e.msg.CRLFSize, 10)
	}
	if len(cmd.args) == 1 {
		if e := s.lookup(cmd.args[0]); e != nil {
			s.reply(true, "", cmd.args[0]+" "+val(e))
		}
		return
	}
	s.reply(true, "", "")
	var b []byte
	for i := range s.msgs {
		e := &s.msgs[i]
		if e.deleted {
			continue
		}
		b = strconv.AppendInt(b[:0], int64(i+1), 10)
		b = append(b, ' ')
		if uidl {
			b = s.appendUIDL(b, e)
		} else {
			b = strconv.AppendInt(b, e.msg.CRLFSize, 10)
		}
		b = append(b, '\r', '\n')
		s.w.Write(b)
	}
	s.w.WriteString(".\r\n")
}

// cmdRetr answers RETR (bodyLines < 0) and TOP. An error after "+OK"
// cannot be reported in the protocol: the session ends instead, so the
// client never takes a truncated message for a whole one.
func (s *session) cmdRetr(arg string, bodyLines int) bool {
	e := s.lookup(arg)
	if e == nil {
		return false
	}
	r, err := s.mb.Open(e.msg)
	if err != nil {
		if errors.Is(err, folder.ErrGone) {
			s.errf("message %s was removed by another session", arg)
			return false
		}
		s.log.Error("open message", "uid", e.msg.UID, "err", err)
		s.reply(false, "SYS/TEMP", "cannot read the message now")
		return false
	}
	defer r.Close()
	if bodyLines < 0 {
		s.retrieved++
		s.reply(true, "", strconv.FormatInt(e.msg.CRLFSize, 10)+" octets")
	} else {
		s.reply(true, "", "top of message follows")
	}
	if s.buf == nil {
		s.buf = make([]byte, 32*1024)
	}
	if err := writeStuffed(s.w, r, s.buf, bodyLines); err != nil {
		s.log.Error("read message", "uid", e.msg.UID, "err", err)
		return true
	}
	if bodyLines < 0 {
		e.retrieved = true
	}
	return false
}

func (s *session) cmdUser(cmd command) bool {
	if len(cmd.args) != 1 {
		return s.badCommand("usage: USER name")
	}
	s.user = cmd.args[0]
	s.reply(true, "", "send PASS")
	return false
}

func (s *session) cmdPass(ctx context.Context, cmd command) bool {
	if s.user == "" {
		s.errf("send USER first")
		return false
	}
	if len(cmd.args) != 1 {
		return s.badCommand("usage: PASS password")
	}
	user := s.user
	s.user = ""
	return s.login(ctx, auth.Attempt{Authc: user, Password: cmd.args[0]})
}

// login verifies a password (USER/PASS, AUTH PLAIN and LOGIN) through
// the Authenticator and opens the maildrop.
func (s *session) login(ctx context.Context, at auth.Attempt) bool {
	at.Proto, at.Remote = "pop3", s.conn.RemoteAddr()
	l, err := s.srv.cfg.Auth.Password(ctx, at)
	s.srv.cfg.Metrics.Login("pop3", err == nil)
	if err != nil {
		s.authFailed(ctx, at.Mech, err)
		return false
	}
	return s.loggedIn(ctx, at.Mech, l)
}

// loggedIn opens a logged-in user's maildrop. The in-use check comes
// after the password, so it reveals nothing to a stranger.
func (s *session) loggedIn(ctx context.Context, mech string, l auth.Login) bool {
	u := l.User
	release, ok := s.srv.perUser.Acquire(u.Name, s.conn.RemoteAddr())
	if !ok {
		s.log.Info("login refused", "user", u.Name, "reason", "too many connections from this address",
			"limit", s.srv.cfg.MaxConnectionsPerUserAddress)
		s.reply(false, "IN-USE", "too many connections for this user from this address")
		return false
	}
	s.userSlot = release
	if s.srv.cfg.LockSession {
		if s.hold = s.srv.lock(ctx, u.Name); s.hold == nil {
			s.log.Info("maildrop in use", "user", u.Name)
			s.release()
			s.reply(false, "IN-USE", "another POP3 session holds this maildrop")
			return false
		}
	}
	if err := s.openMaildrop(ctx, u.Name); err != nil {
		s.log.Error("open maildrop", "user", u.Name, "err", err)
		s.release()
		s.reply(false, "SYS/TEMP", "cannot open the maildrop now, try again later")
		return false
	}
	s.state = stateTrans
	s.who.SetUser(u.Name)
	s.log = s.log.With("user", u.Name)
	if l.Master != "" {
		s.log = s.log.With("master", l.Master)
	}
	n, size := s.totals()
	if mech == "" {
		mech = "USER/PASS"
	}
	s.log.Info("logged in", "messages", n, "mech", mech)
	s.reply(true, "", fmt.Sprintf("maildrop has %d messages (%d octets)", n, size))
	// From here on, with the +OK that ends the login out of the way: no
	// password is ever in the trace. TRANSACTION has no way back to
	// AUTHORIZATION, and no layer changes under r and w after login
	// (STLS is refused), so the trace runs until the session ends.
	if s.trace = s.srv.cfg.Rawlog.Start("pop3", s.id, u.Name, s.log); s.trace != nil {
		s.trace.Attach(s.r, s.conn, s.w, s.conn)
	}
	return false
}

func (s *session) openMaildrop(ctx context.Context, user string) error {
	acct, err := s.srv.accounts.Open(ctx, user)
	if err != nil {
		return err
	}
	mb, err := acct.Mailbox("INBOX")
	if err != nil {
		return err
	}
	if err := mb.Sync(ctx); err != nil {
		return err
	}
	info, snap, err := mb.Snapshot()
	if err != nil {
		return err
	}
	s.uidValidity = info.UIDValidity
	msgs := make([]entry, len(snap))
	for i := range snap {
		msgs[i].msg = snap[i]
	}
	s.acct, s.mb, s.msgs = acct, mb, msgs
	return nil
}

// authFailed answers a failed login after its delay (auth_fail_delay,
// growing with the failures the throttle counts), which slows password
// guessing; the log says why, never the password. A login the throttle
// refused unchecked is told to come back later (RFC 3206 SYS/TEMP).
func (s *session) authFailed(ctx context.Context, mech string, err error) {
	if mech == "" {
		mech = "USER/PASS"
	}
	s.srv.cfg.Metrics.AuthFailure("pop3", auth.FailureLabel(err))
	var f *auth.Failure
	if !errors.As(err, &f) {
		s.log.Info("login not checked", "mech", mech, "err", err)
		s.reply(false, "SYS/TEMP", "cannot check the password now, try again later")
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
		s.reply(false, "SYS/TEMP", "too many failed logins, try again later")
		return
	}
	s.reply(false, "AUTH", "invalid user name or password")
}

// release gives the maildrop lock back, if the session holds it. It runs
// before QUIT is answered and when the connection ends, however it ends.
func (s *session) release() {
	if s.hold != nil {
		s.srv.unlock(s.hold)
		s.hold = nil
	}
	if s.userSlot != nil {
		s.userSlot()
		s.userSlot = nil
	}
}

// quit ends the session; in TRANSACTION it is the UPDATE state. The
// maildrop is free before the client hears any answer, so that it can log
// in again at once.
func (s *session) quit(ctx context.Context) bool {
	if s.state != stateTrans {
		s.release()
		s.reply(true, "", "bye")
		return true
	}
	var del, seen []uint32
	for _, e := range s.msgs {
		switch {
		case e.deleted:
			del = append(del, e.msg.UID)
		case e.retrieved && !e.msg.Flags.Sys.Has(folder.Seen):
			seen = append(seen, e.msg.UID)
		}
	}
	// The update must not be cut short by a shutdown that began while
	// it ran: it is what the client asked for.
	ctx = context.WithoutCancel(ctx)
	if len(seen) > 0 {
		if _, err := s.mb.StoreFlags(ctx, seen, store.FlagsAdd, folder.Flags{Sys: folder.Seen}, nil); err != nil {
			s.log.Warn("mark retrieved messages seen", "err", err)
		}
	}
	if len(del) > 0 {
		gone, err := s.mb.Expunge(ctx, del, nil)
		if err != nil {
			s.log.Error("expunge", "err", err)
			s.release()
			s.reply(false, "SYS/TEMP", "some deleted messages were not removed")
			return true
		}
		s.log.Info("expunged", "messages", len(gone))
		s.deletedN = len(gone)
	}
	n := len(s.msgs) - len(del)
	s.release()
	s.reply(true, "", fmt.Sprintf("storaged signing off (%d messages left)", n))
	return true
}
