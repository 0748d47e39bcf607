package imap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/internal/netserve"
	"github.com/storaged/storaged/internal/rawlog"
	"github.com/storaged/storaged/store"
)

// conn is one IMAP connection: its reader and writer, its state and, once
// logged in, its account.
//
// Rules:
//   - Only the connection's own goroutine writes to w; shutdown only sets
//     a flag and a read deadline.
//   - Responses are flushed before the next read that could block, and
//     always before a continuation request is answered.
//   - Every write happens between acquire and release: a connection
//     holds a pooled write buffer only while it answers, and gives it
//     back (release) only after a successful flush, so no write error is
//     ever hidden behind wire.ErrNoBuffer.
//   - The protocol trace (rawlog) starts and ends only between commands
//     (traceState), and its taps sit right under br and bw, above TLS
//     and COMPRESS: whoever swaps a layer under br or bw while a trace
//     runs puts the taps back (compress.go retrace).
type conn struct {
	srv *Server
	// raw is the accepted connection, for deadlines set from other
	// goroutines; nc is what commands read and write, raw or the TLS
	// connection over it (only the connection's goroutine swaps it).
	raw net.Conn
	nc  net.Conn
	// tls: nc is TLS; trusted: the peer may log in without it
	// (auth.Networks.Trusts).
	tls, trusted bool
	log          *slog.Logger
	// baseLog has the session attributes; log adds the user once known.
	baseLog *slog.Logger
	br      *bufio.Reader
	bw      *bufio.Writer
	r       *wire.Reader
	w       *wire.Writer

	state state
	user  string
	// userSlot gives back the user's (user, address) count (limits.go);
	// nil while no user is logged in.
	userSlot func()
	acct     *store.Account
	view     *store.View
	enabled  map[string]bool
	// rev2: the client enabled IMAP4rev2 (RFC 9051 §6.3.1).
	rev2 bool
	// condstore: a CONDSTORE enabling command was seen (condstore.go);
	// qresync: ENABLE QRESYNC (qresync.go).
	condstore, qresync bool
	// shownModSeq is the highest MODSEQ shown to the client since
	// guardHighestModSeq last ran (condstore.go).
	shownModSeq uint64
	// withdrawn are capabilities the user database withdraws from this
	// user's clients (auth.go withdrawnCaps).
	withdrawn map[string]bool
	bad       int // BADs in a row
	// saved is the SEARCHRES result, "$" (RFC 5182), as UIDs; reset on
	// every SELECT.
	saved []uint32
	// keywords are the keywords FLAGS has announced for the selected
	// mailbox.
	keywords keywordSet
	// lastSync is when the selected mailbox was last synced with its
	// files.
	lastSync time.Time
	// z is the COMPRESS=DEFLATE layer once active (compress.go).
	z *compression
	// trace is the rawlog of a listed user's session, nil when none;
	// traced: the session was logged in when traceState last ran (so
	// its user was looked up in the rawlog list).
	trace  *rawlog.Trace
	traced bool
	// notify is the NOTIFY in effect (notify.go), nil when none.
	notify *notifyState

	closing atomic.Bool
	// who is this session as the admin's who lists it.
	who who
	// counted counts the octets on the wire; commands the commands run.
	counted  *netserve.Counted
	commands int
}

func newConn(s *Server, nc net.Conn, log *slog.Logger) *conn {
	c := &conn{
		srv: s, raw: nc, nc: nc, log: log, baseLog: log,
		trusted: s.cfg.Trusted.Trusts(nc.RemoteAddr()),
		br:      bufio.NewReaderSize(nc, 4<<10),
		state:   stateNotAuth, enabled: map[string]bool{},
	}
	c.r = s.parser.NewReader(c.br, c.literal)
	c.w = wire.NewWriter(nil)
	c.w.SetBuffer(nil)
	return c
}

// shutdown asks the connection to end after the command it is running;
// a connection waiting for a command wakes at once.
func (c *conn) shutdown() {
	c.closing.Store(true)
	c.raw.SetReadDeadline(time.Now())
}

func (c *conn) close() {
	c.stopNotify()
	c.closeView()
	c.releaseUserSlot()
	c.nc.Close()
	c.z.release()
	c.trace.Close()
}

func (c *conn) closeView() {
	if c.view != nil {
		c.view.Close()
		c.view = nil
		c.who.set(func(i *SessionInfo) { i.Mailbox = "" })
	}
}

// serve greets the client and runs its commands in order until LOGOUT,
// shutdown, an idle timeout or a broken stream.
func (c *conn) serve(ctx context.Context) {
	c.acquire()
	c.w.Status("", "OK", "CAPABILITY "+c.capabilities(), "storaged ready")
	if c.w.Flush() != nil {
		return
	}
	c.release()
	for c.state != stateLogout {
		if c.closing.Load() {
			c.bye("server shutting down")
			return
		}
		c.settle()
		c.armRead()
		if c.notify != nil && c.state&afterAuth == 0 {
			c.stopNotify() // UNAUTHENTICATE ended the account's NOTIFY
		}
		if c.notify != nil && c.br.Buffered() == 0 && !c.waitInput(ctx) {
			return
		}
		cmd, err := c.r.ReadCommand()
		c.acquire()
		if err != nil {
			if !c.readFailed(err) {
				return
			}
		} else {
			c.run(ctx, cmd)
			c.traceState()
		}
		// Pipelined commands are answered in one write.
		if c.br.Buffered() == 0 || c.state == stateLogout {
			if c.w.Flush() != nil {
				return
			}
			c.release()
		}
	}
}

// writerPool holds the write buffers of connections that are waiting for
// their client: a connection owns one only while it answers, so 1,000
// idle connections hold none.
var writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// acquire gives the connection a write buffer; every write happens
// between an acquire and the release after the flush (a write without
// one fails with wire.ErrNoBuffer, which ends the connection).
func (c *conn) acquire() {
	if c.bw == nil {
		c.bw = writerPool.Get().(*bufio.Writer)
		c.bw.Reset(c.trace.Out(c.out()))
		c.w.SetBuffer(c.bw)
	}
}

// traceState starts the rawlog when a listed user has just logged in
// and ends it when the session has left the authenticated state
// (UNAUTHENTICATE; LOGOUT, whose BYE is then recorded). It runs after a
// command was answered, so the login command, its SASL exchange and
// its OK are never in the trace, and a login that follows an
// UNAUTHENTICATE is not either (Detach drops what was read ahead).
func (c *conn) traceState() {
	authed := c.state&afterAuth != 0
	if authed == c.traced {
		return
	}
	c.traced = authed
	if !authed {
		c.trace.Detach(c.br, c.bw)
		c.trace = nil
		return
	}
	c.trace = c.srv.cfg.Rawlog.Start("imap", c.who.get().ID, c.user, c.log)
	if c.trace == nil {
		return
	}
	// br reads the plaintext: the inflater's output once COMPRESS is
	// on, else nc (TLS or the counted connection).
	var src io.Reader = c.nc
	if c.z != nil {
		src = c.z.in
	}
	c.trace.Attach(c.br, src, c.bw, c.out())
}

// release returns the write buffer once everything in it was flushed.
func (c *conn) release() {
	if c.bw != nil && c.bw.Buffered() == 0 && c.w.Err() == nil {
		c.w.SetBuffer(nil)
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
		c.bw = nil
	}
}

// armRead sets the deadline of the next read: the idle timeout (the
// shorter one before login, RFC 9051 §5.4), or now when shutdown has
// begun (a shutdown between the check and the SetReadDeadline must not
// be overwritten).
func (c *conn) armRead() {
	timeout := c.srv.cfg.IdleTimeout
	if c.state == stateNotAuth {
		timeout = c.srv.cfg.LoginIdleTimeout
	}
	c.nc.SetReadDeadline(time.Now().Add(timeout))
	if c.closing.Load() {
		c.nc.SetReadDeadline(time.Now())
	}
}

// bye writes an untagged BYE (RFC 9051 §7.1.5) and flushes.
func (c *conn) bye(text string) {
	c.acquire()
	c.w.Status("", "BYE", "", text)
	c.w.Flush()
}

// literal is the reader's literal hook: a literal for a command the
// connection may not run now is refused before its octets come
// (RFC 7888 §4: a refused synchronising literal is never sent).
func (c *conn) literal(l wire.LiteralInfo) error {
	if cmd, ok := c.srv.cmds.table[l.Name]; !ok || cmd.states&c.state == 0 {
		return errWrongState(l.Name)
	}
	if l.Name == "LOGIN" && !c.loginAllowed() {
		// The password would follow in clear: refuse it unsent.
		return errPrivacyRequired()
	}
	if !l.NonSync {
		c.acquire()
		c.w.Continuation("Ready for literal data")
		return c.w.Flush()
	}
	return nil
}

func errWrongState(name string) error {
	return bad(name + " is not valid in this state")
}

// readFailed answers a command the reader could not return; it reports
// whether the connection goes on.
func (c *conn) readFailed(err error) bool {
	var (
		se  *wire.SyntaxError
		tl  *wire.TooLong
		lr  *wire.LiteralRefused
		fe  *wire.FatalError
		le  *wire.LimitError
		rsp *response
	)
	switch {
	case errors.As(err, &fe):
		c.log.Info("unrecoverable command stream", "err", err)
		c.bye("protocol error: " + fe.Err.Error())
		return false
	case errors.As(err, &lr):
		switch {
		case errors.As(lr.Err, &rsp):
			c.writeResponse(lr.Tag, "", rsp)
		case errors.As(lr.Err, &le) && le.Append:
			// RFC 7889 §4: a message over APPENDLIMIT.
			c.writeResponse(lr.Tag, "", no("TOOBIG", "message exceeds the APPENDLIMIT"))
		default:
			c.writeResponse(lr.Tag, "", bad(lr.Err.Error()))
		}
		return c.countBad(lr.Tag)
	case errors.As(err, &tl):
		c.writeResponse(tl.Tag, "", bad("command line too long"))
		return c.countBad(tl.Tag)
	case errors.As(err, &se):
		c.writeResponse(se.Tag, "", bad(se.Msg))
		return c.countBad(se.Tag)
	case errors.Is(err, os.ErrDeadlineExceeded):
		if c.closing.Load() {
			c.bye("server shutting down")
		} else {
			c.bye("autologout; idle for too long")
		}
		return false
	}
	// EOF or a broken connection: nobody to answer (unless it is the
	// client's compressed stream that broke).
	c.corruptStream(err)
	return false
}

// countBad ends a connection that sends nothing but garbage.
func (c *conn) countBad(tag string) bool {
	c.bad++
	if c.bad < c.srv.cfg.MaxBadCommands {
		return true
	}
	c.log.Info("too many bad commands", "last_tag", tag)
	c.bye("too many invalid commands")
	return false
}

// run dispatches one parsed command and writes its tagged response.
func (c *conn) run(ctx context.Context, cmd *wire.Command) {
	entry, ok := c.srv.cmds.table[cmd.Name]
	switch {
	case !ok:
		c.writeResponse(cmd.Tag, cmd.Name, bad("unknown command "+cmd.Name))
		c.countBad(cmd.Tag)
		return
	case entry.states&c.state == 0:
		c.writeResponse(cmd.Tag, cmd.Name, errWrongState(cmd.Name))
		return
	}
	c.bad = 0
	c.commands++
	start := time.Now()
	err := c.call(ctx, entry.run, cmd)
	c.srv.cfg.Metrics.Command("imap", cmd.Name, statusOf(err), time.Since(start))
	if c.state == stateSelected && entry.flags&selects == 0 {
		// RFC 9051 §7.5.1: no EXPUNGE around a command that uses
		// sequence numbers, unless it is the UID form.
		c.sendUpdates(ctx, entry.flags&usesSeqs == 0 || cmd.UID)
	}
	// RFC 7162 §3.2: after everything the command shows, before its
	// tagged reply.
	c.guardHighestModSeq()
	if c.notify != nil && c.state&afterAuth != 0 {
		c.notifyAccount(ctx)
	}
	if errors.Is(err, errHangUp) || errors.Is(err, errAnswered) {
		return
	}
	c.writeResponse(cmd.Tag, cmd.Name, err)
}

// errHangUp is a handler's word that the connection ends without a
// tagged response: it said BYE, or the client is gone.
var errHangUp = errors.New("connection ends")

// errAnswered is a handler's word that it wrote its tagged OK itself
// (COMPRESS: the OK is the last octet in clear).
var errAnswered = errors.New("answered")

// call runs a handler; a panic fails the command, not the connection.
func (c *conn) call(ctx context.Context, h handler, cmd *wire.Command) (err error) {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("panic in imap command", "command", cmd.Name, "panic", v, "stack", string(debug.Stack()))
			err = no(codeServerBug, "internal error; the administrator has the details")
		}
	}()
	return h(ctx, c, cmd)
}

// writeResponse writes the tagged status for err (nil: OK completed).
func (c *conn) writeResponse(tag, name string, err error) {
	if tag == "" {
		tag = "*"
	}
	var r *response
	switch {
	case err == nil:
		c.w.Status(tag, "OK", "", name+" completed")
	case errors.As(err, &r):
		text := r.text
		if text == "" {
			text = fmt.Sprintf("%s %s", name, map[string]string{"OK": "completed", "NO": "failed", "BAD": "invalid"}[r.kind])
		}
		c.w.Status(tag, r.kind, r.code, text)
	default:
		r = mapErr(c.log, name, err).(*response)
		c.w.Status(tag, r.kind, r.code, r.text)
	}
}

// statusOf is the tagged status an error becomes, for the metrics.
func statusOf(err error) string {
	var r *response
	switch {
	case err == nil, errors.Is(err, errAnswered):
		return "OK"
	case errors.As(err, &r):
		return r.kind
	}
	return "NO"
}
