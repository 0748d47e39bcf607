package delivery

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/emersion/go-smtp"
)

// Relay sends the mail Sieve makes (redirects, vacation replies) onwards.
type Relay interface {
	// Send submits msg from the envelope sender from ("" for the null
	// path) to the recipients. msg is read once, as it is sent: a
	// redirected message streams from the delivery's spool.
	Send(ctx context.Context, from string, to []string, msg io.Reader) error
}

// SMTPRelay submits through an SMTP server on Addr (host:port) with the
// go-smtp client, one connection per message: Sieve's mail is rare next
// to delivery, and a fresh connection never meets a stale one.
type SMTPRelay struct {
	Addr string
	// Helo names us in EHLO.
	Helo    string
	Timeout time.Duration // dial and each command; 30s when zero
}

// Send implements Relay.
func (r *SMTPRelay) Send(ctx context.Context, from string, to []string, msg io.Reader) error {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", r.Addr)
	if err != nil {
		return fmt.Errorf("relay %s: %w", r.Addr, err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = timeout, timeout
	helo := r.Helo
	if helo == "" {
		helo = "localhost"
	}
	if err := c.Hello(helo); err != nil {
		return fmt.Errorf("relay %s: %w", r.Addr, err)
	}
	if err := c.SendMail(from, to, msg); err != nil {
		return fmt.Errorf("relay %s: %w", r.Addr, err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("relay %s: quit: %w", r.Addr, err)
	}
	return nil
}
