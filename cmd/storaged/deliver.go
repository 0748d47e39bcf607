package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/delivery"
	"github.com/storaged/storaged/index"
	"github.com/storaged/storaged/server"
)

// deliverCmd is the LDA: one message on stdin to one recipient. It goes
// through the running server's LMTP socket when there is one, because a
// user's index has one owner; otherwise it opens the store itself.
func deliverCmd(cfg *config.Config, logger *slog.Logger, args []string, stdin io.Reader, stderr io.Writer) int {
	fs := flag.NewFlagSet("deliver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("f", "", "envelope sender (MAIL FROM)")
	rcpt := fs.String("a", "", "envelope recipient")
	if err := fs.Parse(args); err != nil {
		return exUsage
	}
	if *rcpt == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "storaged deliver: -a RECIPIENT is required; the message comes on standard input")
		return exUsage
	}
	if *from == "<>" {
		*from = ""
	}
	max := int64(cfg.LMTP.MaxMessageSize)
	msg, err := io.ReadAll(io.LimitReader(stdin, max+1))
	if err != nil {
		fmt.Fprintln(stderr, "storaged deliver: reading the message:", err)
		return exTempFail
	}
	if int64(len(msg)) > max {
		fmt.Fprintf(stderr, "storaged deliver: message larger than %d octets\n", max)
		return exDataErr
	}
	if sock := unixSocket(cfg); sock != "" {
		code, err := deliverLMTP(sock, cfg.Hostname, *from, *rcpt, msg)
		if !errors.Is(err, errNoServer) {
			if err != nil {
				fmt.Fprintln(stderr, "storaged deliver:", err)
			}
			return code
		}
	}
	return deliverDirect(cfg, logger, *from, *rcpt, msg, stderr)
}

var errNoServer = errors.New("no server on the LMTP socket")

func unixSocket(cfg *config.Config) string {
	for _, l := range cfg.LMTP.Listen {
		if p, ok := strings.CutPrefix(l, "unix:"); ok {
			return p
		}
	}
	return ""
}

func deliverLMTP(sock, helo, from, rcpt string, msg []byte) (int, error) {
	conn, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errNoServer, err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello(helo); err != nil {
		return codeOf(err), err
	}
	if err := c.Mail(from, nil); err != nil {
		return codeOf(err), err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return codeOf(err), err
	}
	w, err := c.Data()
	if err != nil {
		return codeOf(err), err
	}
	if _, err := io.Copy(w, bytes.NewReader(canonicalForSMTP(msg))); err != nil {
		return exTempFail, err
	}
	if _, err := w.CloseWithLMTPResponse(); err != nil {
		var lerr smtp.LMTPDataError
		if errors.As(err, &lerr) {
			for _, se := range lerr {
				return codeOf(se), se
			}
		}
		return codeOf(err), err
	}
	c.Quit()
	return 0, nil
}

// canonicalForSMTP gives the message CRLF line ends, as the DATA
// transfer needs (the client dot-stuffs it).
func canonicalForSMTP(msg []byte) []byte {
	if len(msg) > 0 && msg[len(msg)-1] != '\n' {
		msg = append(msg, '\n')
	}
	return bytes.ReplaceAll(bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
}

// codeOf maps an SMTP reply to sysexits, as an MTA reading an LDA wants.
func codeOf(err error) int {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return exTempFail
	}
	switch {
	case se.Code < 400:
		return 0
	case se.Code < 500:
		return exTempFail
	case se.EnhancedCode == smtp.EnhancedCode{5, 1, 1}:
		return exNoUser
	case se.EnhancedCode == smtp.EnhancedCode{5, 2, 2}:
		return exCantCreat // mailbox full
	case se.EnhancedCode == smtp.EnhancedCode{5, 7, 1}:
		return exNoPerm // rejected by the recipient's Sieve script
	case se.Code == 552:
		return exDataErr
	default:
		return exUnavail
	}
}

func deliverDirect(cfg *config.Config, logger *slog.Logger, from, rcpt string, msg []byte, stderr io.Writer) int {
	a, err := server.New(cfg, logger, 5*time.Second)
	if err != nil {
		fmt.Fprintln(stderr, "storaged deliver:", err)
		return exTempFail
	}
	defer a.Close()
	r, err := a.Deliverer.Resolve(rcpt)
	if err != nil {
		fmt.Fprintln(stderr, "storaged deliver:", rcpt+":", err)
		return exitFor(err)
	}
	host, _ := os.Hostname()
	env := delivery.Envelope{From: from, Helo: host, Protocol: "local", ID: fmt.Sprintf("pid%d", os.Getpid())}
	if err := a.Deliverer.Deliver(context.Background(), env, r, canonicalForSMTP(msg)); err != nil {
		if errors.Is(err, index.ErrLocked) {
			fmt.Fprintln(stderr, "storaged deliver: the index is busy (is a server starting?); try again")
			return exTempFail
		}
		fmt.Fprintln(stderr, "storaged deliver:", err)
		return exitFor(err)
	}
	return 0
}

// exitFor maps delivery failures to sysexits: the one place that does.
func exitFor(err error) int {
	switch delivery.KindOf(err) {
	case delivery.NoSuchUser:
		return exNoUser
	case delivery.TooBig:
		return exDataErr
	case delivery.Refused:
		return exUnavail
	case delivery.OverQuota:
		return exCantCreat
	case delivery.Rejected:
		return exNoPerm // dovecot-lda -e's code for a Sieve reject
	}
	return exTempFail
}
