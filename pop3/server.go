package pop3

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/internal/netserve"
	"github.com/storaged/storaged/internal/rawlog"
	"github.com/storaged/storaged/metrics"
	"github.com/storaged/storaged/store"
)

// Config is the POP3 listener's behaviour.
type Config struct {
	// Metrics counts connections and logins; nil counts nothing.
	Metrics *metrics.Metrics
	// AuthFailDelay is how long a failed login waits for its -ERR.
	AuthFailDelay time.Duration
	// IdleTimeout ends a session that sends no command for this long
	// (RFC 1939 §3: at least 10 minutes).
	IdleTimeout time.Duration
	// TLS, when set, is offered by STLS and used by ServeTLS.
	TLS *tls.Config
	// Trusted are the networks that may log in without TLS (nil:
	// loopback).
	Trusted auth.Networks
	// Auth decides logins (nil: auth.Policy's defaults over users).
	Auth *auth.Authenticator
	// LockSession gives a logged-in session the maildrop alone (RFC
	// 1939 §8's exclusive-access lock): a second login waits up to
	// LockWait for it, then gets -ERR [IN-USE]. Off by default, as
	// Dovecot's pop3_lock_session=no: sessions share the maildrop and a
	// message another session removed answers RETR with -ERR.
	LockSession bool
	// LockWait is how long a login waits for the session holding the
	// maildrop to end (default 1s); it covers a session whose client has
	// just gone and whose end the server has not processed yet.
	LockWait time.Duration
	// Limits counts connections in total and per address, shared with
	// the other listeners; one too many is answered -ERR [SYS/TEMP] and
	// closed. nil: no bound.
	Limits *netserve.Limits
	// MaxConnectionsPerUserAddress bounds one user's sessions from one
	// address, checked after the password: -ERR [IN-USE] (RFC 3206
	// §4), as Dovecot's mail_max_userip_connections. 0: no bound.
	MaxConnectionsPerUserAddress int
	// Rawlog traces the sessions of the users it lists, from their
	// login on (internal/rawlog); nil traces nobody.
	Rawlog *rawlog.Tracer
}

// Server serves POP3 over the store.
type Server struct {
	cfg      Config
	users    *auth.DB
	accounts *store.Accounts
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc

	group netserve.Group

	perUser *netserve.PerUser
	// sessions are the connected clients, for the admin's who.
	sessions netserve.Sessions

	mu    sync.Mutex
	inUse map[string]*maildropLock // with LockSession: users whose maildrop a session holds
}

// New returns a POP3 server.
func New(cfg Config, users *auth.DB, accounts *store.Accounts, logger *slog.Logger) *Server {
	if cfg.AuthFailDelay == 0 {
		cfg.AuthFailDelay = time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.LockWait <= 0 {
		cfg.LockWait = time.Second
	}
	if cfg.Auth == nil {
		cfg.Auth, _ = auth.NewAuthenticator(users, auth.Policy{})
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		cfg: cfg, users: users, accounts: accounts, log: logger, ctx: ctx, cancel: cancel,
		inUse: map[string]*maildropLock{}, perUser: netserve.NewPerUser(cfg.MaxConnectionsPerUserAddress),
	}
}

// Serve accepts connections on l until Shutdown; it returns nil then.
func (s *Server) Serve(l net.Listener) error { return s.serve(l, false) }

// ServeTLS is Serve for an implicit TLS port (pop3s, RFC 8314 §3.3).
func (s *Server) ServeTLS(l net.Listener) error {
	if s.cfg.TLS == nil {
		l.Close()
		return errors.New("pop3: ServeTLS without a TLS config")
	}
	return s.serve(l, true)
}

func (s *Server) serve(l net.Listener, implicitTLS bool) error {
	return s.group.Serve(l, func(c net.Conn) { s.handle(c, implicitTLS) })
}

// Shutdown stops accepting, lets each session finish the command it is
// running (an UPDATE in progress completes), and ends the sessions.
// Sessions that were not in UPDATE change nothing, as after a dropped
// connection.
func (s *Server) Shutdown() {
	s.group.Shutdown()
	// Wakes a session blocked reading its next command; one that is busy
	// finishes its command first.
	s.group.Each(func(c net.Conn) { c.SetReadDeadline(time.Now()) })
	s.group.Wait()
	s.cancel()
}

func (s *Server) handle(raw net.Conn, implicitTLS bool) {
	c := netserve.Count(raw)
	start := time.Now()
	s.cfg.Metrics.Connected("pop3", 1)
	defer s.cfg.Metrics.Connected("pop3", -1)
	var id [6]byte
	rand.Read(id[:])
	remote := "local"
	if a := c.RemoteAddr(); a != nil {
		remote = a.String()
	}
	ss := &session{
		srv:  s,
		conn: c,
		r:    bufio.NewReaderSize(c, 1024),
		w:    bufio.NewWriterSize(c, 32*1024),
		log:  s.log.With("proto", "pop3", "session", hex.EncodeToString(id[:]), "remote", remote),

		trusted: s.cfg.Trusted.Trusts(c.RemoteAddr()),
	}
	ss.id = hex.EncodeToString(id[:])
	ss.who = s.sessions.Add(ss.id, remote)
	defer ss.who.Remove()
	// However the session ends, its trace is written out and closed.
	defer func() { ss.trace.Close() }()
	defer ss.release()
	defer func() {
		// A bug in one session must not take the server (and the
		// deliveries in flight) down with it; nothing is written outside
		// UPDATE, so dropping the session loses nothing.
		if v := recover(); v != nil {
			ss.log.Error("panic in session", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	// Counted before the handshake: a refused client gets no TLS work
	// beyond the limit's own.
	admitted, refused := s.cfg.Limits.Admit(c.RemoteAddr())
	if refused == nil {
		// Given back before the connection closes (and again, as a
		// no-op, if the session panics), so that a client that saw the
		// close may connect again at once.
		defer admitted()
	}
	if implicitTLS && ss.startTLS(s.ctx) != nil {
		return
	}
	if refused != nil {
		// RFC 2449 §8.1.2 SYS/TEMP: a passing condition; the client
		// comes back later.
		ss.log.Info("connection refused", "reason", refused.Error())
		ss.reply(false, "SYS/TEMP", "too many connections, try again later")
		ss.lastWords()
		ss.conn.Close()
		return
	}
	defer func() {
		// The logout line (Dovecot's "Disconnected: Logged out top=…").
		in, out := c.Octets()
		ss.log.Info("session ended", "ms", time.Since(start).Milliseconds(), "commands", ss.commands,
			"retrieved", ss.retrieved, "deleted", ss.deletedN, "bytes_in", in, "bytes_out", out)
	}()
	ss.run(s.ctx)
	ss.release()
	admitted()
	// Out of who before the close, as the counts: a client that saw it
	// closed sees it gone.
	ss.who.Remove()
	// A TLS session ends with close_notify (RFC 8446 §6.1), which
	// closing the raw connection would not send.
	ss.conn.Close()
}

// maildropLock is one session's hold on a maildrop; released is closed
// when the session lets go.
type maildropLock struct {
	user     string
	released chan struct{}
}

// lock takes user's maildrop for one session. A maildrop another session
// holds is waited for, up to LockWait: the holder may be a session whose
// client has already gone, and it must not keep the next one out.
func (s *Server) lock(ctx context.Context, user string) *maildropLock {
	var timeout <-chan time.Time
	for {
		s.mu.Lock()
		held := s.inUse[user]
		if held == nil {
			l := &maildropLock{user: user, released: make(chan struct{})}
			s.inUse[user] = l
			s.mu.Unlock()
			return l
		}
		s.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(s.cfg.LockWait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-held.released:
		case <-timeout:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// unlock gives l back; a lock already given back is left alone.
func (s *Server) unlock(l *maildropLock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inUse[l.user] == l {
		delete(s.inUse, l.user)
		close(l.released)
	}
}

func (s *Server) isClosing() bool { return s.group.Closing() }
