package lmtp

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

	"github.com/emersion/go-smtp"

	"github.com/storaged/storaged/delivery"
	"github.com/storaged/storaged/internal/netserve"
	"github.com/storaged/storaged/internal/spool"
	"github.com/storaged/storaged/metrics"
)

// Config is the listener's behaviour.
type Config struct {
	// Metrics counts deliveries; nil counts nothing.
	Metrics        *metrics.Metrics
	Hostname       string
	MaxMessageSize int64
	MaxRecipients  int
	// MaxLineLength bounds one line of a message (CRLF excluded).
	MaxLineLength int
	// ReadTimeout bounds the wait for each command and the whole DATA
	// upload; WriteTimeout each reply.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// TLS, when set, is offered by STARTTLS (RFC 3207).
	TLS *tls.Config
	// SpoolDir is where a message larger than SpoolThreshold octets
	// (canonical; spool.DefaultThreshold when 0 or less) is kept while
	// it is delivered: a directory on the stores' disk (the server's is
	// data_dir/tmp), not a tmpfs, which would hold it in memory again.
	// Empty: the system's temporary directory.
	SpoolDir       string
	SpoolThreshold int64
}

// Server serves LMTP on any number of listeners.
type Server struct {
	cfg   Config
	d     *delivery.Deliverer
	log   *slog.Logger
	group netserve.Group

	mu       sync.Mutex
	draining bool
	inFlight int
	idle     *sync.Cond
}

// New returns a server delivering through d.
func New(cfg Config, d *delivery.Deliverer, logger *slog.Logger) *Server {
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = 50 << 20
	}
	if cfg.MaxLineLength < 1000 {
		cfg.MaxLineLength = 2 << 20
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 10 * time.Minute
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = time.Minute
	}
	if cfg.Hostname == "" {
		cfg.Hostname = "localhost"
	}
	if cfg.SpoolThreshold <= 0 {
		cfg.SpoolThreshold = spool.DefaultThreshold
	}
	s := &Server{cfg: cfg, d: d, log: logger}
	s.idle = sync.NewCond(&s.mu)
	return s
}

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	return s.group.Serve(l, s.handle)
}

// Shutdown stops accepting, refuses new transactions with 421, waits for
// transactions in flight until ctx ends, then closes every connection.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	s.group.Shutdown()
	done := make(chan struct{})
	go func() {
		s.mu.Lock()
		for s.inFlight > 0 {
			s.idle.Wait()
		}
		s.mu.Unlock()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.group.CloseConns()
	s.group.Wait()
	return err
}

func (s *Server) handle(c net.Conn) {
	id := newID()
	remote := "local"
	if a := c.RemoteAddr(); a != nil && a.String() != "" && a.String() != "@" {
		remote = a.String()
	}
	ss := &session{
		srv: s, conn: c, id: id, remote: remote,
		r:   bufio.NewReaderSize(c, 16<<10),
		w:   bufio.NewWriterSize(c, 4<<10),
		log: s.log.With("proto", "lmtp", "session", id, "remote", remote),
	}
	defer ss.reset()
	defer func() {
		// One session's bug ends that session only; nothing it had not
		// answered 250 for was acknowledged.
		if v := recover(); v != nil {
			ss.log.Error("panic in lmtp session", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	ss.run()
	// A TLS session ends with close_notify (RFC 8446 §6.1).
	ss.conn.Close()
}

func newID() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Server) begin() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "shutting down, try again later"}
	}
	s.inFlight++
	return nil
}

func (s *Server) end() {
	s.mu.Lock()
	s.inFlight--
	if s.inFlight == 0 {
		s.idle.Broadcast()
	}
	s.mu.Unlock()
}

// Reply is the SMTP reply LMTP gives for a delivery's result (nil for
// nil): "storaged deliver" prints it and derives its exit code from it
// when it delivers without a server, so both paths say the same.
func Reply(err error) *smtp.SMTPError {
	if err == nil {
		return nil
	}
	return toSMTP(err).(*smtp.SMTPError)
}

// toSMTP maps delivery failures to SMTP replies: the one place that does.
func toSMTP(err error) error {
	if err == nil {
		return nil
	}
	var de *delivery.Error
	msg := "try again later"
	if errors.As(err, &de) {
		msg = de.Msg
	}
	switch delivery.KindOf(err) {
	case delivery.NoSuchUser:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: msg}
	case delivery.TooBig:
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: msg}
	case delivery.Refused:
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: msg}
	case delivery.Busy:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 0}, Message: msg}
	case delivery.OverQuota:
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: msg}
	case delivery.OverQuotaTemp:
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: msg}
	case delivery.DiskFull:
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: msg}
	case delivery.Rejected:
		// RFC 5429 §2.1.1: refuse in the session, the reason as the text.
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: msg}
	default:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: msg}
	}
}
