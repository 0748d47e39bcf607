package legacy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"time"

	imapv2 "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/store"
)

// Config is the IMAP listener's behaviour.
type Config struct {
	// MaxMessageSize is the APPENDLIMIT.
	MaxMessageSize int64
	// AuthFailDelay is how long a failed login waits before its NO.
	AuthFailDelay time.Duration
}

// Server serves IMAP over the store.
type Server struct {
	cfg      Config
	users    *auth.DB
	accounts *store.Accounts
	log      *slog.Logger
	srv      *imapserver.Server
	ctx      context.Context
	cancel   context.CancelFunc
}

// Capabilities are what imapserver implements and we back, advertised
// truthfully.
var capabilities = imapv2.CapSet{
	imapv2.CapIMAP4rev1: {}, imapv2.CapIMAP4rev2: {},
	imapv2.CapNamespace: {}, imapv2.CapUIDPlus: {}, imapv2.CapESearch: {}, imapv2.CapSearchRes: {},
	imapv2.CapListExtended: {}, imapv2.CapListStatus: {}, imapv2.CapMove: {}, imapv2.CapStatusSize: {},
	imapv2.CapBinary: {}, imapv2.CapChildren: {}, imapv2.CapSpecialUse: {}, imapv2.CapCreateSpecialUse: {},
	imapv2.CapLiteralPlus: {}, imapv2.CapUnauthenticate: {},
}

// New returns an IMAP server.
func New(cfg Config, users *auth.DB, accounts *store.Accounts, logger *slog.Logger) *Server {
	if cfg.AuthFailDelay == 0 {
		cfg.AuthFailDelay = time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, users: users, accounts: accounts, log: logger, ctx: ctx, cancel: cancel}
	s.srv = imapserver.New(&imapserver.Options{
		NewSession: s.newSession,
		Caps:       capabilities,
		Logger:     slogPrintf{logger},
		// Loopback by default; TLS arrives with its own issue, and the
		// config refuses non-loopback IMAP until then.
		InsecureAuth: true,
	})
	return s
}

func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	var id [6]byte
	rand.Read(id[:])
	remote := "local"
	if a := c.NetConn().RemoteAddr(); a != nil {
		remote = a.String()
	}
	return &session{
		srv: s, conn: c, ctx: s.ctx,
		log: s.log.With("proto", "imap", "session", hex.EncodeToString(id[:]), "remote", remote),
	}, &imapserver.GreetingData{}, nil
}

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	err := s.srv.Serve(heldListener{l})
	if err == nil || errors.Is(err, net.ErrClosed) || strings.Contains(fmt.Sprint(err), "server closed") {
		return nil
	}
	return err
}

// Shutdown closes every listener and connection. IMAP commands are short
// and every state change they make is committed before they answer, so
// closing loses nothing acknowledged.
func (s *Server) Shutdown() error {
	s.cancel()
	return s.srv.Close()
}

type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if strings.Contains(msg, "panic") {
		p.l.Error("imap", "msg", msg, "stack", string(debug.Stack()))
		return
	}
	p.l.Warn("imap", "msg", msg)
}
