package policy

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/storaged/storaged/delivery"
	"github.com/storaged/storaged/internal/netserve"
)

// Checker is what the service asks of delivery.
type Checker interface {
	CheckQuota(ctx context.Context, addr string, size int64) error
}

// Config holds the answers, as Postfix access(5) actions.
type Config struct {
	Success   string // "DUNNO"
	OverQuota string // "552 5.2.2 Mailbox full"
	NoUser    string // "REJECT Unknown user"
	// IdleTimeout ends a connection Postfix leaves unused (it reopens
	// one as needed).
	IdleTimeout time.Duration
}

const (
	maxLine  = 4096 // Postfix attribute values are short; certificates are the longest
	maxAttrs = 100
)

// Server answers policy requests.
type Server struct {
	cfg   Config
	check Checker
	log   *slog.Logger
	group netserve.Group
}

// New returns a server; nothing listens yet.
func New(cfg Config, check Checker, log *slog.Logger) *Server {
	if cfg.Success == "" {
		cfg.Success = "DUNNO"
	}
	if cfg.OverQuota == "" {
		cfg.OverQuota = "552 5.2.2 Mailbox full"
	}
	if cfg.NoUser == "" {
		cfg.NoUser = "REJECT Unknown user"
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	return &Server{cfg: cfg, check: check, log: log.With("proto", "policy")}
}

// Serve accepts on l until Shutdown.
func (s *Server) Serve(l net.Listener) error { return s.group.Serve(l, s.handle) }

// Shutdown stops accepting and ends every connection; requests being
// answered finish first.
func (s *Server) Shutdown() {
	s.group.Shutdown()
	s.group.CloseConns()
	s.group.Wait()
}

func (s *Server) handle(c net.Conn) {
	log := s.log.With("remote", c.RemoteAddr().String())
	defer func() {
		if p := recover(); p != nil {
			log.Error("panic in policy request", "panic", p)
		}
	}()
	r := bufio.NewReaderSize(c, maxLine)
	w := bufio.NewWriter(c)
	for {
		c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		attrs, err := readRequest(r)
		if err != nil {
			if !errors.Is(err, errEOF) {
				log.Info("policy connection ended", "err", err)
			}
			return
		}
		action := s.decide(attrs, log)
		w.WriteString("action=" + action + "\n\n")
		if w.Flush() != nil {
			return
		}
	}
}

// decide returns the action for one request.
func (s *Server) decide(attrs map[string]string, log *slog.Logger) string {
	rcpt := attrs["recipient"]
	if attrs["request"] != "smtpd_access_policy" || rcpt == "" {
		return s.cfg.Success
	}
	size, _ := strconv.ParseInt(attrs["size"], 10, 64)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.check.CheckQuota(ctx, rcpt, max(size, 0))
	switch {
	case err == nil:
		return s.cfg.Success
	case errors.Is(err, delivery.ErrNotLocal):
		// Not ours to judge: mail a trusted client relays elsewhere goes
		// on to Postfix's next restriction.
		return s.cfg.Success
	case delivery.KindOf(err) == delivery.NoSuchUser:
		return s.cfg.NoUser
	case delivery.KindOf(err) == delivery.OverQuota, delivery.KindOf(err) == delivery.OverQuotaTemp:
		log.Info("over quota at RCPT", "rcpt", rcpt, "size", size, "err", err)
		return s.cfg.OverQuota
	}
	log.Error("quota check failed", "rcpt", rcpt, "err", err)
	return "DEFER_IF_PERMIT Temporary quota lookup failure, try again later"
}

var (
	errEOF      = errors.New("connection closed")
	errTooLong  = errors.New("attribute line too long")
	errTooMany  = errors.New("too many attributes")
	errBadAttr  = errors.New("attribute line without '='")
	errTornRead = errors.New("connection closed inside a request")
)

// readRequest reads attribute lines up to the empty line that ends them.
func readRequest(r *bufio.Reader) (map[string]string, error) {
	attrs := map[string]string{}
	n := 0
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errTooLong
		}
		if err != nil {
			if n == 0 && len(line) == 0 {
				return nil, errEOF
			}
			return nil, errTornRead
		}
		text := strings.TrimRight(string(line), "\r\n")
		if text == "" {
			if n == 0 {
				continue // stray blank lines between requests
			}
			return attrs, nil
		}
		if n++; n > maxAttrs {
			return nil, errTooMany
		}
		k, v, ok := strings.Cut(text, "=")
		if !ok {
			return nil, errBadAttr
		}
		attrs[k] = v
	}
}
