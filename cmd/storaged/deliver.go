package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/delivery"
	"github.com/storaged/storaged/index"
	"github.com/storaged/storaged/lmtp"
	"github.com/storaged/storaged/server"
)

// deliverCmd is the LDA: one message on standard input to every
// recipient named, with dovecot-lda's flags. It goes through the running
// server's LMTP socket when there is one, because a user's index has one
// owner; otherwise it opens the store itself.
//
// Rules:
//   - Every recipient given is delivered to (or fails) on its own; each
//     failure is one line on standard error that names the recipient.
//   - Both paths say the same: the direct one maps a delivery error to
//     the LMTP reply (lmtp.Reply) and both turn replies into sysexits in
//     exitCode, the one place that does.
//   - The exit code is 0 only if every recipient has the message. With
//     several results the worst wins: a temporary failure first (the MTA
//     retries; a recipient that already has it may get a second copy,
//     which is better than one that never gets it), else the first
//     permanent one.
func deliverCmd(cfg *config.Config, logger *slog.Logger, args []string, stdin io.Reader, stderr io.Writer) int {
	fs := flag.NewFlagSet("deliver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, helpText["deliver"]) }
	from := fs.String("f", "", "envelope sender (Return-Path); \"\" or \"<>\" for a bounce")
	mailbox := fs.String("m", "", "destination mailbox: INBOX (the default) only, for now")
	var addrs, users listFlag
	fs.Var(&addrs, "a", "recipient address (user@domain, user+detail@domain or a bare user name); repeatable")
	fs.Var(&users, "d", "recipient user name; repeatable")
	if err := fs.Parse(flagsFirst(args, "f", "m", "a", "d")); err != nil {
		return exUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "storaged deliver: "+format+"\n", a...)
		return exUsage
	}
	if fs.NArg() != 0 {
		return usageErr("unexpected argument %q: name each recipient with -a ADDRESS or -d USER; the message comes on standard input", fs.Arg(0))
	}
	if len(addrs) > 0 && len(users) > 0 {
		// dovecot-lda's "-d USER -a ADDRESS" delivers to USER and only
		// records ADDRESS; LMTP cannot carry that pair, and delivering to
		// both would bounce mail that was delivered.
		return usageErr("give the recipients with -a or with -d, not both (dovecot-lda's -d USER -a ADDRESS pair is not supported: use -a ADDRESS when it is USER's address)")
	}
	rcpts := dedupe(append(users, addrs...))
	if len(rcpts) == 0 {
		return usageErr("name a recipient with -a ADDRESS or -d USER; the message comes on standard input")
	}
	for _, r := range rcpts {
		if r == "" || strings.ContainsAny(r, " \t\r\n<>") {
			return usageErr("recipient %q: not an address or a user name", r)
		}
	}
	if *mailbox != "" && !strings.EqualFold(*mailbox, "INBOX") {
		return usageErr("-m %s: delivering into a mailbox other than INBOX is not supported yet (a Sieve script's fileinto does it)", *mailbox)
	}
	sender := strings.TrimSuffix(strings.TrimPrefix(*from, "<"), ">")
	if strings.ContainsAny(sender, " \t\r\n<>") {
		return usageErr("-f %q: not an address", *from)
	}
	max := int64(cfg.LMTP.MaxMessageSize)
	msg, err := io.ReadAll(io.LimitReader(stdin, max+1))
	if err != nil {
		fmt.Fprintf(stderr, "storaged deliver: %s: reading the message: %v\n", strings.Join(rcpts, ", "), err)
		return exTempFail
	}
	if int64(len(msg)) > max {
		fmt.Fprintf(stderr, "storaged deliver: %s: message larger than %d octets (lmtp.max_message_size)\n", strings.Join(rcpts, ", "), max)
		return exDataErr
	}
	var res []result
	err = errNoServer
	if sock := unixSocket(cfg); sock != "" {
		res, err = deliverLMTP(sock, cfg.Hostname, sender, rcpts, msg)
	}
	if errors.Is(err, errNoServer) {
		res = deliverDirect(cfg, logger, sender, rcpts, msg)
	}
	return report(res, stderr)
}

// listFlag is a flag that may be given more than once.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// dedupe drops recipients named twice (case-insensitively): one copy each.
func dedupe(rcpts []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range rcpts {
		if k := strings.ToLower(r); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}

// result is one recipient's outcome: err nil when delivered.
type result struct {
	rcpt string
	err  error // an *smtp.SMTPError, or another error: temporary
}

// report prints one line per failed recipient and returns the exit code.
func report(res []result, stderr io.Writer) int {
	code := 0
	for _, r := range res {
		if r.err == nil {
			continue
		}
		var se *smtp.SMTPError
		if errors.As(r.err, &se) {
			// After DATA the server's text starts with "<rcpt> " already.
			text := strings.TrimPrefix(se.Message, "<"+r.rcpt+"> ")
			fmt.Fprintf(stderr, "storaged deliver: %s: %d %d.%d.%d %s\n", r.rcpt, se.Code,
				se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], text)
		} else {
			fmt.Fprintf(stderr, "storaged deliver: %s: %v\n", r.rcpt, r.err)
		}
		c := exitCode(r.err)
		switch {
		case c == exTempFail:
			code = exTempFail
		case code == 0:
			code = c
		}
	}
	return code
}

// exitCode maps a recipient's reply to sysexits, as an MTA reading an
// LDA wants (RFC 3463 classes; Postfix takes 75 as "try again" and the
// others as bounces).
func exitCode(err error) int {
	var se *smtp.SMTPError
	if err == nil {
		return 0
	}
	if !errors.As(err, &se) {
		return exTempFail // the connection broke: nothing was refused
	}
	e := se.EnhancedCode
	switch {
	case se.Code < 400:
		return 0
	case se.Code < 500:
		return exTempFail
	case e == smtp.EnhancedCode{5, 1, 3}, e == smtp.EnhancedCode{5, 1, 7}:
		return exUsage // the address given cannot be one
	case e[1] == 1:
		return exNoUser
	case e == smtp.EnhancedCode{5, 2, 2}:
		return exCantCreat // mailbox full
	case e[1] == 3 || e[1] == 6:
		return exDataErr // too big; not acceptable as it is
	case e[1] == 7:
		return exNoPerm // refused by the recipient's Sieve script
	case e[1] == 5:
		return exSoftware // a protocol error between us and our own server
	}
	return exUnavail
}

var errNoServer = errors.New("no server on the LMTP socket")

// permissionError names what this process may not use and who it is:
// Postfix runs an LDA as the recipient (local(8) with a mailbox_command)
// or as default_privs (nobody), and "permission denied" alone would let
// mail wait in the queue without a word of why. The path is err's when
// it has one, else where.
func permissionError(err error, where string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		where = pe.Path
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Addr != nil {
		where = oe.Addr.String()
	}
	return fmt.Errorf("permission denied on %s for uid %d gid %d: run deliver as the server's user (server.user, or Postfix's default_privs / pipe user=), or give that user access; the MTA will retry (%w)",
		where, os.Getuid(), os.Getgid(), err)
}

func unixSocket(cfg *config.Config) string {
	for _, l := range cfg.LMTP.Listen {
		if p, ok := strings.CutPrefix(l, "unix:"); ok {
			return p
		}
	}
	return ""
}

// deliverLMTP hands the message to the running server: one transaction
// with every recipient, one reply each (RFC 2033 §4.2). errNoServer:
// nothing answers on the socket.
func deliverLMTP(sock, helo, from string, rcpts []string, msg []byte) ([]result, error) {
	conn, err := net.DialTimeout("unix", sock, 5*time.Second)
	if errors.Is(err, fs.ErrPermission) {
		// A socket there that we may not use: a server most likely runs
		// (its index is not ours to open), and the MTA runs us as a user
		// the socket's mode leaves out.
		out := make([]result, len(rcpts))
		for i, r := range rcpts {
			out[i] = result{rcpt: r, err: permissionError(err, sock)}
		}
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoServer, err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	all := func(err error) ([]result, error) {
		out := make([]result, len(rcpts))
		for i, r := range rcpts {
			out[i] = result{rcpt: r, err: err}
		}
		return out, nil
	}
	if err := c.Hello(helo); err != nil {
		return all(err)
	}
	if err := c.Mail(from, nil); err != nil {
		return all(err)
	}
	out := make([]result, len(rcpts))
	var accepted []int
	for i, r := range rcpts {
		out[i].rcpt = r
		err := c.Rcpt(r, nil)
		var se *smtp.SMTPError
		switch {
		case err == nil:
			accepted = append(accepted, i)
		case errors.As(err, &se):
			out[i].err = err
		default:
			return all(err)
		}
	}
	if len(accepted) == 0 {
		c.Quit()
		return out, nil
	}
	w, err := c.Data()
	if err != nil {
		return all(err)
	}
	if _, err := io.Copy(w, bytes.NewReader(canonicalForSMTP(msg))); err != nil {
		return all(err)
	}
	ok, err := w.CloseWithLMTPResponse()
	var lerr smtp.LMTPDataError
	errors.As(err, &lerr)
	for _, i := range accepted {
		r := rcpts[i]
		switch {
		case lerr[r] != nil:
			out[i].err = lerr[r]
		case ok[r] != nil:
		case err != nil:
			out[i].err = err // no reply for it: the connection broke
		default:
			out[i].err = errors.New("the server sent no reply for this recipient")
		}
	}
	c.Quit()
	return out, nil
}

// canonicalForSMTP gives the message CRLF line ends, as the DATA
// transfer needs (the client dot-stuffs it).
func canonicalForSMTP(msg []byte) []byte {
	if len(msg) > 0 && msg[len(msg)-1] != '\n' {
		msg = append(msg, '\n')
	}
	return bytes.ReplaceAll(bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
}

// deliverDirect opens the store itself (no server runs): each distinct
// user once, its recipients answered alike, as the LMTP server does.
func deliverDirect(cfg *config.Config, logger *slog.Logger, from string, rcpts []string, msg []byte) []result {
	out := make([]result, len(rcpts))
	for i, r := range rcpts {
		out[i].rcpt = r
	}
	a, err := server.New(cfg, logger, 5*time.Second)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			err = permissionError(err, cfg.DataDir)
		}
		for i := range out {
			out[i].err = fmt.Errorf("cannot open the store: %w", err)
		}
		return out
	}
	defer a.Close()
	var b [6]byte
	rand.Read(b[:])
	host, _ := os.Hostname()
	env := delivery.Envelope{From: from, Helo: host, Protocol: "local", ID: "local-" + hex.EncodeToString(b[:])}
	done := map[string]error{} // by user
	msg = canonicalForSMTP(msg)
	for i, r := range rcpts {
		rc, err := a.Deliverer.Resolve(r)
		if err == nil {
			var ok bool
			if err, ok = done[rc.User]; !ok {
				err = a.Deliverer.Deliver(context.Background(), env, rc, msg)
				done[rc.User] = err
				if err == nil {
					logger.Info("delivered", "id", env.ID, "rcpt", r, "user", rc.User, "from", from, "bytes", len(msg))
				} else {
					logger.Warn("delivery failed", "id", env.ID, "rcpt", r, "user", rc.User, "err", err)
				}
			}
		}
		if errors.Is(err, index.ErrLocked) {
			out[i].err = errors.New("the index is busy (is a server starting?); try again")
			continue
		}
		if errors.Is(err, fs.ErrPermission) {
			// Not an SMTP reply: a temporary failure (75) whose text names
			// the path and who we are.
			out[i].err = permissionError(err, filepath.Join(cfg.Mail.Dir, rc.User))
			continue
		}
		if err != nil {
			out[i].err = lmtp.Reply(err)
		}
	}
	return out
}
