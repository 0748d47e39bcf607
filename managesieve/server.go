package managesieve

import (
	"bufio"
	"context"
	"crypto/rand"
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
	}
	ss.r = &reader{r: bufio.NewReaderSize(c, 4<<10), literalMax: ss.literalMax}
	defer func() {
		if v := recover(); v != nil {
			ss.log.Error("panic in session", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	ss.run(s.ctx)
}

// capabilities are the lines of the capability response (RFC 5804 §1.7).
func (s *Server) capabilities(user string) []string {
	out := []string{
		quote("IMPLEMENTATION") + " " + quote(s.cfg.Implementation),
		quote("SASL") + " " + quote("PLAIN LOGIN"),
		quote("SIEVE") + " " + quote(joinExt(sieve.Extensions)),
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
