package imap

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/internal/netserve"
	"github.com/storaged/storaged/internal/rawlog"
	"github.com/storaged/storaged/metrics"
	"github.com/storaged/storaged/store"
)

// Config is the IMAP listener's behaviour.
type Config struct {
	// MaxMessageSize is the APPENDLIMIT (RFC 7889).
	MaxMessageSize int64
	// MaxLine, MaxLiteral and MaxCommand bound one command line, one
	// literal that is not a message, and a command's lines and literals
	// together (wire.Limits); zero takes wire's defaults.
	MaxLine    int
	MaxLiteral int64
	MaxCommand int64
	// AuthFailDelay is how long a failed login waits before its NO.
	AuthFailDelay time.Duration
	// IdleTimeout ends a connection that sends nothing for this long
	// (RFC 9051 §5.4: at least 30 minutes).
	IdleTimeout time.Duration
	// LoginIdleTimeout is IdleTimeout before login, shorter (§5.4
	// allows it): a connection that never logs in holds nothing long.
	// Default IdleTimeout.
	LoginIdleTimeout time.Duration
	// Limits counts connections in total and per address, shared with
	// the other listeners (limits.go); nil: no bound.
	Limits *netserve.Limits
	// MaxConnectionsPerUserAddress bounds one user's sessions from one
	// address, checked at login; 0: no bound.
	MaxConnectionsPerUserAddress int
	// MaxMailboxes and MaxMailboxDepth bound CREATE and RENAME
	// (limits.go); 0: no bound.
	MaxMailboxes, MaxMailboxDepth int
	// MaxBadCommands ends a connection after this many BADs in a row:
	// a client speaking another protocol, or garbage.
	MaxBadCommands int
	// QuotaRoot names the one quota root (RFC 9208); Apple Mail shows
	// no quota for the empty name, so "User quota" by default.
	QuotaRoot string
	// Metrics counts connections, logins and commands; nil counts
	// nothing.
	Metrics *metrics.Metrics
	// TLS, when set, is offered by STARTTLS and used by ServeTLS.
	TLS *tls.Config
	// Trusted are the networks that may log in without TLS (nil:
	// loopback, auth.DefaultTrusted).
	Trusted auth.Networks
	// Auth decides logins (nil: auth.Policy's defaults over users).
	Auth *auth.Authenticator
	// Rawlog traces the sessions of the users it lists, from their
	// login on (internal/rawlog); nil traces nobody.
	Rawlog *rawlog.Tracer
}

// Server serves IMAP over the store.
type Server struct {
	cfg      Config
	users    *auth.DB
	accounts *store.Accounts
	log      *slog.Logger
	parser   *wire.Parser
	cmds     *commands
	// perUser counts logged-in sessions per user and address.
	perUser *netserve.PerUser
	// sortCache holds SORT and THREAD keys for every session (sortcache.go).
	sortCache sortCache
	ctx       context.Context
	cancel    context.CancelFunc
	// compressQuiet: a compressing connection whose client sends
	// nothing for this long gives its deflater back (compress.go);
	// deflatersReleased counts the times, for tests.
	compressQuiet     time.Duration
	deflatersReleased atomic.Int64

	mu        sync.Mutex
	conns     map[*conn]struct{}
	listeners map[net.Listener]struct{}
	closing   bool
	wg        sync.WaitGroup
}

// New returns an IMAP server with every command of this package
// registered.
func New(cfg Config, users *auth.DB, accounts *store.Accounts, logger *slog.Logger) *Server {
	if cfg.AuthFailDelay == 0 {
		cfg.AuthFailDelay = time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.LoginIdleTimeout <= 0 || cfg.LoginIdleTimeout > cfg.IdleTimeout {
		cfg.LoginIdleTimeout = cfg.IdleTimeout
	}
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = 64 << 20
	}
	if cfg.MaxBadCommands == 0 {
		cfg.MaxBadCommands = 10
	}
	if cfg.QuotaRoot == "" {
		cfg.QuotaRoot = "User quota"
	}
	if cfg.Auth == nil {
		cfg.Auth, _ = auth.NewAuthenticator(users, auth.Policy{})
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg: cfg, users: users, accounts: accounts, log: logger, ctx: ctx, cancel: cancel,
		parser: wire.NewParser(wire.Limits{MaxAppend: cfg.MaxMessageSize, MaxLine: cfg.MaxLine, MaxLiteral: cfg.MaxLiteral, MaxCommand: cfg.MaxCommand}),
		cmds:   newCommands(), perUser: netserve.NewPerUser(cfg.MaxConnectionsPerUserAddress),
		conns: map[*conn]struct{}{}, listeners: map[net.Listener]struct{}{},
		compressQuiet: compressQuietDefault,
	}
	registerAuth(s.cmds)
	registerMailbox(s.cmds)
	registerList(s.cmds)
	registerMessages(s.cmds)
	registerFetch(s.cmds)
	registerSearch(s.cmds)
	// RFC 7889 §3: the limit every mailbox shares.
	s.cmds.capability(afterAuth, "APPENDLIMIT="+strconv.FormatInt(cfg.MaxMessageSize, 10))
	registerIdle(s.cmds)
	registerQuota(s.cmds)
	registerCondstore(s.cmds)
	registerQResync(s.cmds)
	registerCompress(s.cmds, s.parser)
	registerNotify(s.cmds)
	return s
}

// Serve accepts connections on l until Shutdown; it returns nil then.
func (s *Server) Serve(l net.Listener) error { return s.serve(l, false) }

// ServeTLS is Serve for an implicit TLS port (imaps, RFC 8314 §3.3):
// the handshake comes before the greeting.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.cfg.TLS == nil {
		l.Close()
		return errors.New("imap: ServeTLS without a TLS config")
	}
	return s.serve(l, true)
}

func (s *Server) serve(l net.Listener, implicitTLS bool) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Out of descriptors or similar: back off rather than spin.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := s.newConn(nc)
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(c, implicitTLS)
	}
}

// Shutdown stops accepting, lets each connection finish the command it
// is running, tells it "* BYE" (RFC 9051 §7.1.5) and closes it. Every
// change a command makes is committed before it answers, so nothing
// acknowledged is lost.
func (s *Server) Shutdown() error {
	s.mu.Lock()
	s.closing = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.shutdown()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.cancel()
	return nil
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *Server) newConn(nc net.Conn) *conn {
	var id [6]byte
	rand.Read(id[:])
	remote := "local"
	if a := nc.RemoteAddr(); a != nil {
		remote = a.String()
	}
	counted := netserve.Count(nc)
	c := newConn(s, counted, s.log.With("proto", "imap", "session", hex.EncodeToString(id[:]), "remote", remote))
	c.counted = counted
	c.who.info = SessionInfo{ID: hex.EncodeToString(id[:]), Remote: remote, Since: time.Now()}
	return c
}

func (s *Server) handle(c *conn, implicitTLS bool) {
	defer s.wg.Done()
	s.cfg.Metrics.Connected("imap", 1)
	defer s.cfg.Metrics.Connected("imap", -1)
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.close()
		// The logout line: what the session did, for the admin reading
		// the log (Dovecot's "Logged out in=… out=…").
		in, out := c.counted.Octets()
		c.log.Info("session ended", "ms", time.Since(c.who.get().Since).Milliseconds(), "commands", c.commands,
			"bytes_in", in, "bytes_out", out)
	}()
	defer func() {
		// Outside a command (the loop itself): end this connection only.
		if v := recover(); v != nil {
			c.log.Error("panic in imap connection", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	// Counted before the handshake, so that refused clients cannot make
	// the server do TLS for free beyond the limit's own.
	release, refused := s.cfg.Limits.Admit(c.raw.RemoteAddr())
	if refused == nil {
		defer release()
	}
	if implicitTLS && c.startTLS(s.ctx) != nil {
		return
	}
	if refused != nil {
		c.refuse(refused)
		return
	}
	c.serve(s.ctx)
}
