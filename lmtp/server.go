package lmtp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/storaged/storaged/delivery"
)

// Config is the listener's behaviour.
type Config struct {
	Hostname       string
	MaxMessageSize int64
	MaxRecipients  int
	MaxLineLength  int
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
}

// Server serves LMTP on any number of listeners.
type Server struct {
	d   *delivery.Deliverer
	log *slog.Logger
	srv *smtp.Server

	mu       sync.Mutex
	draining bool
	inFlight int
	idle     *sync.Cond
}

// New returns a server delivering through d.
func New(cfg Config, d *delivery.Deliverer, logger *slog.Logger) *Server {
	s := &Server{d: d, log: logger}
	s.idle = sync.NewCond(&s.mu)
	srv := smtp.NewServer(s)
	srv.LMTP = true
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = cfg.MaxMessageSize
	srv.MaxRecipients = cfg.MaxRecipients
	srv.MaxLineLength = cfg.MaxLineLength
	srv.ReadTimeout = cfg.ReadTimeout
	srv.WriteTimeout = cfg.WriteTimeout
	srv.EnableSMTPUTF8 = true
	srv.EnableBINARYMIME = false
	srv.ErrorLog = log.New(&slogWriter{logger}, "", 0)
	s.srv = srv
	return s
}

// Serve accepts connections on l until Shutdown.
func (s *Server) Serve(l net.Listener) error {
	err := s.srv.Serve(l)
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, refuses new transactions with 421, waits for
// transactions in flight until ctx ends, then closes every connection.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
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
	s.srv.Close()
	return err
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	id := newID()
	remote := "local"
	if a := c.Conn().RemoteAddr(); a != nil && a.String() != "" && a.String() != "@" {
		remote = a.String()
	}
	return &session{
		srv: s, conn: c, id: id, remote: remote,
		log: s.log.With("proto", "lmtp", "session", id, "remote", remote),
	}, nil
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

type session struct {
	srv    *Server
	conn   *smtp.Conn
	id     string
	remote string
	log    *slog.Logger

	inTx  bool
	txn   int
	from  string
	rcpts []rcpt
}

type rcpt struct {
	to string
	r  delivery.Recipient
}

func (s *session) Reset() {
	s.from, s.rcpts = "", nil
	if s.inTx {
		s.inTx = false
		s.srv.end()
	}
}

func (s *session) Logout() error {
	s.Reset()
	return nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if !s.inTx {
		if err := s.srv.begin(); err != nil {
			return err
		}
		s.inTx = true
	}
	s.txn++
	s.from, s.rcpts = from, nil
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	r, err := s.srv.d.Resolve(to)
	if err == nil {
		err = s.srv.d.Accept(context.Background(), r)
	}
	if err != nil {
		s.log.Info("recipient refused", "rcpt", to, "err", err)
		return toSMTP(err)
	}
	s.rcpts = append(s.rcpts, rcpt{to: to, r: r})
	return nil
}

func (s *session) Data(r io.Reader) error {
	return errors.New("lmtp: Data called outside LMTP mode")
}

// LMTPData delivers to each recipient at once, so their fsyncs and index
// commits overlap, and reports each as it completes; go-smtp writes the
// replies in RCPT order.
func (s *session) LMTPData(r io.Reader, status smtp.StatusCollector) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in delivery", "panic", p, "stack", string(debug.Stack()))
			err = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "internal error"}
		}
	}()
	start := time.Now()
	msg, err := io.ReadAll(r)
	if err != nil {
		s.log.Info("message not received", "err", err, "bytes", len(msg))
		switch {
		case errors.Is(err, smtp.ErrDataTooLarge):
			return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "message too big"}
		case errors.Is(err, smtp.ErrTooLongLine):
			return &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "line too long"}
		}
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "error reading the message"}
	}
	env := delivery.Envelope{
		From: s.from, Helo: s.conn.Hostname(), Remote: s.remote,
		Protocol: "LMTP", ID: fmt.Sprintf("%s-%d", s.id, s.txn),
	}
	// One delivery per user: the same user named twice (or as user and
	// user+detail) gets one copy and every RCPT its reply.
	ctx := context.Background()
	results := make(map[string]chan error)
	for _, rc := range s.rcpts {
		if _, ok := results[rc.r.User]; ok {
			continue
		}
		ch := make(chan error, 1)
		results[rc.r.User] = ch
		go func(rc rcpt) {
			defer func() {
				if p := recover(); p != nil {
					s.log.Error("panic in delivery", "panic", p, "stack", string(debug.Stack()))
					ch <- &delivery.Error{Kind: delivery.TempFail, Msg: "internal error"}
				}
			}()
			ch <- s.srv.d.Deliver(ctx, env, rc.r, msg)
		}(rc)
	}
	final := make(map[string]error)
	for _, rc := range s.rcpts {
		err, ok := final[rc.r.User]
		if !ok {
			err = <-results[rc.r.User]
			final[rc.r.User] = err
			if err != nil {
				s.log.Warn("delivery failed", "rcpt", rc.to, "user", rc.r.User, "err", err)
			} else {
				s.log.Info("delivered", "rcpt", rc.to, "user", rc.r.User, "from", s.from, "bytes", len(msg), "ms", time.Since(start).Milliseconds())
			}
		}
		status.SetStatus(rc.to, toSMTP(err))
	}
	return nil
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
	case delivery.Rejected:
		// RFC 5429 §2.1.1: refuse in the session, the reason as the text.
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: msg}
	default:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: msg}
	}
}

// slogWriter routes go-smtp's own log lines into slog.
type slogWriter struct{ l *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	w.l.Warn("lmtp", "msg", strings.TrimSpace(string(p)))
	return len(p), nil
}
