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
}

// Server serves ManageSieve.
type Server struct {
	cfg     Config
	users   Users
	scripts *sievestore.Store
	log     *slog.Logger
	group   netserve.Group
	ctx     context.Context
	cancel  context.CancelFunc
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
	return &Server{cfg: cfg, users: users, scripts: scripts, log: logger, ctx: ctx, cancel: cancel}
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
	defer func() {
		if v := recover(); v != nil {
			ss.log.Error("panic in session", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	ss.run(s.ctx)
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
