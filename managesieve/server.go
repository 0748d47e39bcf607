package managesieve

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"log/slog"
	"net"
	"runtime/debug"
	"time"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/internal/netserve"
	"github.com/storaged/storaged/internal/rawlog"
	"github.com/storaged/storaged/metrics"
	"github.com/storaged/storaged/sieve"
	"github.com/storaged/storaged/sievestore"
)

// Users is what ManageSieve needs of the user database.
type Users interface {
	Verify(ctx context.Context, name, password string) (auth.User, error)
}

// Config is the listener's behaviour.
type Config struct {
	// Implementation is the IMPLEMENTATION capability.
	Implementation string
	// AuthFailDelay is how long a failed AUTHENTICATE waits for its NO.
	AuthFailDelay time.Duration
	// IdleTimeout ends a session that sends nothing for this long.
	IdleTimeout time.Duration
	// MaxRedirects is announced as MAXREDIRECTS (RFC 5804 §1.7).
	MaxRedirects int
	// MaxErrors bad commands end a session (10).
	MaxErrors int
	// TLS, when set, is offered by STARTTLS.
	TLS *tls.Config
	// Trusted are the networks that may authenticate without TLS (nil:
	// loopback).
	Trusted auth.Networks
	// Auth decides logins; nil: auth.Policy's defaults over users,
	// which must then be an *auth.DB.
	Auth *auth.Authenticator
	// Limits counts connections in total and per address, shared with
	// the other listeners; one too many is greeted BYE (TRYLATER) and
	// closed (RFC 5804 §1.3 lets a server greet so). nil: no bound.
	Limits *netserve.Limits
	// MaxConnectionsPerUserAddress bounds one user's sessions from one
	// address, checked after the password: NO (TRYLATER). 0: no bound.
	MaxConnectionsPerUserAddress int
	// Metrics counts logins and their failures; nil counts nothing.
	Metrics *metrics.Metrics
	// Rawlog traces the sessions of the users it lists, from their
	// login on (internal/rawlog); nil traces nobody.
	Rawlog *rawlog.Tracer
}

// Server serves ManageSieve.
type Server struct {
	cfg     Config
	users   Users
	scripts *sievestore.Store
	log     *slog.Logger
	group   netserve.Group
	perUser *netserve.PerUser
	ctx     context.Context
	cancel  context.CancelFunc
	// sessions are the connected clients, for the admin's who.
	sessions netserve.Sessions
}

// New returns a server over the script store.
func New(cfg Config, users Users, scripts *sievestore.Store, logger *slog.Logger) *Server {
	if cfg.Implementation == "" {
		cfg.Implementation = "storaged"
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 30 * time.Minute
	}
	if cfg.MaxErrors <= 0 {
		cfg.MaxErrors = 10
	}
	if logger == nil {
		logger = slog.Default()
	}
	if db, ok := users.(*auth.DB); ok && cfg.Auth == nil {
		cfg.Auth, _ = auth.NewAuthenticator(db, auth.Policy{})
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, users: users, scripts: scripts, log: logger, ctx: ctx, cancel: cancel,
		perUser: netserve.NewPerUser(cfg.MaxConnectionsPerUserAddress)}
}

// Serve accepts connections on l until Shutdown; it returns nil then.
func (s *Server) Serve(l net.Listener) error {
	return s.group.Serve(l, s.handle)
}

// Shutdown stops accepting and ends every session. Each command is
// atomic on the store, so a session cut between commands loses nothing.
func (s *Server) Shutdown() {
	s.group.Shutdown()
	s.cancel()
	s.group.CloseConns()
	s.group.Wait()
}

func (s *Server) handle(c net.Conn) {
	var id [6]byte
	rand.Read(id[:])
	remote := "local"
	if a := c.RemoteAddr(); a != nil {
		remote = a.String()
	}
	ss := &session{
		srv:  s,
		conn: c,
		w:    bufio.NewWriterSize(c, 16<<10),
		log:  s.log.With("proto", "managesieve", "session", hex.EncodeToString(id[:]), "remote", remote),

		trusted: s.cfg.Trusted.Trusts(c.RemoteAddr()),
	}
	ss.r = &reader{r: bufio.NewReaderSize(c, 4<<10), literalMax: ss.literalMax}
	ss.id = hex.EncodeToString(id[:])
	ss.who = s.sessions.Add(ss.id, remote)
	defer ss.who.Remove()
	// However the session ends, its trace is written out and closed.
	defer func() { ss.trace.Close() }()
	defer func() {
		if v := recover(); v != nil {
			ss.log.Error("panic in session", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	admitted, refused := s.cfg.Limits.Admit(c.RemoteAddr())
	if refused != nil {
		ss.log.Info("connection refused", "reason", refused.Error())
		ss.conn.SetWriteDeadline(time.Now().Add(farewellTimeout))
		ss.reply("BYE", "TRYLATER", "Too many connections, try again later.")
		ss.w.Flush()
		ss.conn.Close()
		return
	}
	// Given back before the connection closes (and again, a no-op, if
	// the session panics), so that a client that saw the close may come
	// back at once.
	defer admitted()
	ss.run(s.ctx)
	ss.releaseUser()
	admitted()
	// Out of who before the close, as the counts: a client that saw it
	// closed sees it gone.
	ss.who.Remove()
	// A TLS session ends with close_notify (RFC 8446 §6.1).
	ss.conn.Close()
}

// capabilities are the lines of the capability response (RFC 5804 §1.7):
// sasl is the mechanisms offered now ("" before TLS where a password may
// not be sent), starttls whether STARTTLS is.
func (s *Server) capabilities(user, sasl string, starttls bool) []string {
	out := []string{
		quote("IMPLEMENTATION") + " " + quote(s.cfg.Implementation),
		quote("SASL") + " " + quote(sasl),
		quote("SIEVE") + " " + quote(joinExt(sieve.Extensions)),
	}
	if starttls {
		out = append(out, quote("STARTTLS"))
	}
	if s.cfg.MaxRedirects > 0 {
		out = append(out, quote("MAXREDIRECTS")+" "+quote(itoa(s.cfg.MaxRedirects)))
	}
	if user != "" {
		out = append(out, quote("OWNER")+" "+quote(user))
	}
	out = append(out, quote("UNAUTHENTICATE"), quote("VERSION")+" "+quote("1.0"))
	return out
}
