package lmtp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/storaged/storaged/delivery"
	"github.com/storaged/storaged/internal/spool"
)

// maxCommandLine bounds a command line (RFC 5321 §4.5.3.1.4 says 512;
// ESMTP parameters make room for more).
const maxCommandLine = 4096

// maxErrors bad commands in a row end a session: it is not an MTA.
const maxErrors = 10

type session struct {
	srv    *Server
	conn   net.Conn
	r      *bufio.Reader
	w      *bufio.Writer
	id     string
	remote string
	log    *slog.Logger

	helo   string
	tls    bool
	errors int

	inTx  bool
	txn   int
	from  string
	rcpts []rcpt
}

type rcpt struct {
	to string
	r  delivery.Recipient
}

// reset ends the transaction (RSET, LHLO, the end of DATA, a lost
// connection) and releases its place in the drain count.
func (s *session) reset() {
	s.from, s.rcpts = "", nil
	if s.inTx {
		s.inTx = false
		s.srv.end()
	}
}

// reply writes one reply line; an empty enhanced code is left out (the
// greeting and LHLO's). CR and LF in the text become spaces: a reply
// text never splits into lines the client would take for more replies.
func (s *session) reply(code int, enh smtp.EnhancedCode, text string) {
	text = strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, text)
	if enh == smtp.NoEnhancedCode || enh == (smtp.EnhancedCode{}) {
		fmt.Fprintf(s.w, "%d %s\r\n", code, text)
		return
	}
	fmt.Fprintf(s.w, "%d %d.%d.%d %s\r\n", code, enh[0], enh[1], enh[2], text)
}

func (s *session) replyErr(err error) {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		se = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "internal error"}
	}
	s.reply(se.Code, se.EnhancedCode, se.Message)
}

func (s *session) flush() error {
	s.conn.SetWriteDeadline(time.Now().Add(s.srv.cfg.WriteTimeout))
	return s.w.Flush()
}

// readLine reads a command line, without its line end.
func (s *session) readLine() (string, error) {
	s.conn.SetReadDeadline(time.Now().Add(s.srv.cfg.ReadTimeout))
	var line []byte
	for {
		frag, err := s.r.ReadSlice('\n')
		if len(line)+len(frag) > maxCommandLine {
			return "", errCommandTooLong
		}
		line = append(line, frag...)
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return string(bytes.TrimSuffix(line, []byte("\r"))), nil
}

var errCommandTooLong = errors.New("command line too long")

func (s *session) run() {
	s.reply(220, smtp.NoEnhancedCode, s.srv.cfg.Hostname+" LMTP Service Ready")
	for {
		// RFC 2920: replies to pipelined commands go out together, but
		// always before a read that could wait.
		if s.r.Buffered() == 0 {
			if s.flush() != nil {
				return
			}
		}
		line, err := s.readLine()
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, errCommandTooLong):
				s.reply(500, smtp.EnhancedCode{5, 5, 2}, "command line too long, closing connection")
			case errors.As(err, &ne) && ne.Timeout():
				s.reply(421, smtp.EnhancedCode{4, 4, 2}, "idle for too long, closing connection")
			}
			s.flush()
			return
		}
		if !s.dispatch(line) {
			s.flush()
			return
		}
	}
}

// dispatch runs one command; false ends the session.
func (s *session) dispatch(line string) bool {
	verb, arg, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	arg = strings.TrimSpace(arg)
	switch verb {
	case "LHLO":
		return s.lhlo(arg)
	case "HELO", "EHLO":
		return s.bad(500, smtp.EnhancedCode{5, 5, 1}, "this is an LMTP server: use LHLO")
	case "MAIL":
		return s.mail(arg)
	case "RCPT":
		return s.rcpt(arg)
	case "DATA":
		return s.data(arg)
	case "RSET":
		s.reset()
		s.reply(250, smtp.EnhancedCode{2, 0, 0}, "OK, transaction reset")
	case "NOOP":
		s.reply(250, smtp.EnhancedCode{2, 0, 0}, "OK")
	case "VRFY":
		s.reply(252, smtp.EnhancedCode{2, 5, 0}, "cannot VRFY user, but will accept message")
	case "QUIT":
		s.reply(221, smtp.EnhancedCode{2, 0, 0}, s.srv.cfg.Hostname+" closing connection")
		return false
	case "STARTTLS":
		return s.startTLS(arg)
	case "":
		return s.bad(500, smtp.EnhancedCode{5, 5, 2}, "empty command")
	default:
		return s.bad(502, smtp.EnhancedCode{5, 5, 1}, verb+" is not implemented")
	}
	s.errors = 0
	return true
}

// bad answers a command that could not run; false ends the session.
func (s *session) bad(code int, enh smtp.EnhancedCode, text string) bool {
	s.errors++
	s.reply(code, enh, text)
	if s.errors >= maxErrors {
		s.reply(421, smtp.EnhancedCode{4, 7, 0}, "too many errors, closing connection")
		return false
	}
	return true
}

func (s *session) lhlo(arg string) bool {
	domain, _, _ := strings.Cut(arg, " ")
	if domain == "" {
		return s.bad(501, smtp.EnhancedCode{5, 5, 2}, "LHLO needs a domain or address")
	}
	s.reset()
	s.helo = domain
	s.errors = 0
	caps := []string{"Hello " + domain, "PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"}
	if s.srv.cfg.TLS != nil && !s.tls {
		caps = append(caps, "STARTTLS")
	}
	caps = append(caps, "SIZE "+strconv.FormatInt(s.srv.cfg.MaxMessageSize, 10))
	if s.srv.cfg.MaxRecipients > 0 {
		caps = append(caps, "LIMITS RCPTMAX="+strconv.Itoa(s.srv.cfg.MaxRecipients))
	}
	for i, c := range caps {
		sep := "-"
		if i == len(caps)-1 {
			sep = " "
		}
		fmt.Fprintf(s.w, "250%s%s\r\n", sep, c)
	}
	return true
}

// startTLS is RFC 3207: only outside a transaction; what the client
// pipelined after the command is thrown away (§4.2: it must wait for our
// 220), and everything learnt before, LHLO included, is forgotten (§4.2).
func (s *session) startTLS(arg string) bool {
	switch {
	case s.srv.cfg.TLS == nil || s.tls:
		return s.bad(502, smtp.EnhancedCode{5, 5, 1}, "STARTTLS is not available")
	case arg != "":
		return s.bad(501, smtp.EnhancedCode{5, 5, 4}, "STARTTLS takes no parameter")
	case s.inTx:
		return s.bad(503, smtp.EnhancedCode{5, 5, 1}, "STARTTLS is not allowed in a transaction")
	}
	if n := s.r.Buffered(); n > 0 {
		s.log.Warn("discarded input pipelined after STARTTLS", "octets", n)
		s.r.Discard(n)
	}
	s.reply(220, smtp.EnhancedCode{2, 0, 0}, "ready to start TLS")
	if s.flush() != nil {
		return false
	}
	tc := tls.Server(s.conn, s.srv.cfg.TLS)
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.cfg.ReadTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		s.log.Info("TLS handshake failed", "err", err)
		return false
	}
	s.conn, s.tls, s.helo = tc, true, ""
	s.r.Reset(tc)
	s.w.Reset(tc)
	st := tc.ConnectionState()
	s.log.Debug("TLS established", "version", tls.VersionName(st.Version), "cipher", tls.CipherSuiteName(st.CipherSuite))
	return true
}

func (s *session) mail(arg string) bool {
	switch {
	case s.helo == "":
		return s.bad(503, smtp.EnhancedCode{5, 5, 1}, "send LHLO first")
	case s.inTx && s.from != "":
		return s.bad(503, smtp.EnhancedCode{5, 5, 1}, "nested MAIL command")
	}
	rest, ok := cutPrefixFold(arg, "FROM:")
	if !ok {
		return s.bad(501, smtp.EnhancedCode{5, 5, 2}, "syntax: MAIL FROM:<address>")
	}
	from, params, err := parsePath(strings.TrimSpace(rest), true)
	if err != nil {
		return s.bad(501, smtp.EnhancedCode{5, 1, 7}, "bad sender address: "+err.Error())
	}
	for _, p := range strings.Fields(params) {
		k, v, _ := strings.Cut(p, "=")
		switch strings.ToUpper(k) {
		case "SIZE":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return s.bad(501, smtp.EnhancedCode{5, 5, 4}, "SIZE is not a number")
			}
			if n > s.srv.cfg.MaxMessageSize {
				// RFC 1870 §6.
				s.reply(552, smtp.EnhancedCode{5, 3, 4}, "message too big")
				return true
			}
		case "BODY":
			switch strings.ToUpper(v) {
			case "7BIT", "8BITMIME":
			default:
				return s.bad(555, smtp.EnhancedCode{5, 5, 4}, "BODY="+v+" is not supported")
			}
		case "SMTPUTF8":
		default:
			return s.bad(555, smtp.EnhancedCode{5, 5, 4}, "MAIL parameter "+k+" is not supported")
		}
	}
	if !s.inTx {
		if err := s.srv.begin(); err != nil {
			s.replyErr(err)
			return true
		}
		s.inTx = true
	}
	s.txn++
	s.from, s.rcpts = from, nil
	s.errors = 0
	s.reply(250, smtp.EnhancedCode{2, 1, 0}, "sender <"+from+"> OK") // RFC 3463 §3.2: X.1.0, about the sender
	return true
}

func (s *session) rcpt(arg string) bool {
	if !s.inTx {
		return s.bad(503, smtp.EnhancedCode{5, 5, 1}, "send MAIL first")
	}
	rest, ok := cutPrefixFold(arg, "TO:")
	if !ok {
		return s.bad(501, smtp.EnhancedCode{5, 5, 2}, "syntax: RCPT TO:<address>")
	}
	to, params, err := parsePath(strings.TrimSpace(rest), false)
	if err != nil {
		return s.bad(501, smtp.EnhancedCode{5, 1, 3}, "bad recipient address: "+err.Error())
	}
	if params != "" {
		return s.bad(555, smtp.EnhancedCode{5, 5, 4}, "RCPT parameters are not supported")
	}
	if len(s.rcpts) >= s.srv.cfg.MaxRecipients && s.srv.cfg.MaxRecipients > 0 {
		s.reply(452, smtp.EnhancedCode{4, 5, 3}, "too many recipients")
		return true
	}
	r, err := s.srv.d.Resolve(to)
	if err == nil {
		err = s.srv.d.Accept(context.Background(), r)
	}
	if err != nil {
		s.log.Info("recipient refused", "rcpt", to, "err", err)
		s.replyErr(toSMTP(err))
		return true
	}
	s.rcpts = append(s.rcpts, rcpt{to: to, r: r})
	s.errors = 0
	s.reply(250, smtp.EnhancedCode{2, 1, 5}, "recipient <"+to+"> OK")
	return true
}

// data reads the message and answers once per accepted recipient, in
// RCPT order (RFC 2033 §4.2).
func (s *session) data(arg string) bool {
	switch {
	case arg != "":
		return s.bad(501, smtp.EnhancedCode{5, 5, 4}, "DATA takes no parameter")
	case !s.inTx || len(s.rcpts) == 0:
		return s.bad(503, smtp.EnhancedCode{5, 5, 1}, "no valid recipients")
	}
	s.reply(354, smtp.NoEnhancedCode, "go ahead; end with <CRLF>.<CRLF>")
	if s.flush() != nil {
		return false
	}
	// The transaction ends (and Shutdown may close the connection) only
	// once its replies are flushed: a delivery done is a delivery answered.
	defer s.reset()
	s.conn.SetReadDeadline(time.Now().Add(s.srv.cfg.ReadTimeout))
	// The message is kept once, canonical, as it is read: in memory when
	// small, else in a spool file every recipient's store reads from
	// (internal/spool), so memory per delivery stays bounded.
	sw := spool.NewWriter(s.srv.cfg.SpoolDir, s.srv.cfg.SpoolThreshold)
	err := readData(s.r, sw, s.srv.cfg.MaxMessageSize, s.srv.cfg.MaxLineLength)
	var msg *spool.Message
	if err == nil {
		if msg, err = sw.Finish(); err != nil {
			err = fmt.Errorf("%w: %w", errSink, err)
		} else {
			// The spool's data goes with the transaction (its name
			// went at its creation), whatever the replies were.
			defer msg.Close()
		}
	} else {
		sw.Discard()
	}
	var fail error
	switch {
	case errors.Is(err, errSink) && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)):
		// RFC 3463 4.3.1: the spool's disk is full, as a store's full
		// disk is answered (delivery.storeError).
		s.log.Warn("message not kept", "err", err)
		fail = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "insufficient system storage, try again later"}
	case errors.Is(err, errSink):
		s.log.Warn("message not kept", "err", err)
		fail = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "could not keep the message, try again later"}
	case errors.Is(err, errDataTooBig):
		fail = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "message too big"}
	case errors.Is(err, errLineTooLong):
		fail = &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "line too long"}
	case err != nil:
		// The connection broke or timed out mid-message: nobody to
		// answer, nothing acknowledged.
		s.log.Info("message not received", "err", err)
		return false
	}
	// The transaction's id: in each 250, in the Received field, and in
	// the log line of every delivery, so that an MTA's log entry leads
	// to ours.
	id := fmt.Sprintf("%s-%d", s.id, s.txn)
	if fail != nil {
		s.log.Info("message refused", "id", id, "err", err)
		for _, rc := range s.rcpts {
			s.rcptReply(rc.to, id, fail)
		}
	} else {
		for i, err := range s.deliver(msg, id) {
			s.rcptReply(s.rcpts[i].to, id, err)
		}
	}
	return s.flush() == nil
}

// rcptReply is one recipient's reply after DATA (RFC 2033 §4.2). A
// success reads as a last hop's, Dovecot's words: "250 2.0.0 <rcpt> <id>
// Saved".
func (s *session) rcptReply(to, id string, err error) {
	if err == nil {
		s.reply(250, smtp.EnhancedCode{2, 0, 0}, "<"+to+"> "+id+" Saved")
		return
	}
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		se = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "internal error"}
	}
	s.reply(se.Code, se.EnhancedCode, "<"+to+"> "+se.Message)
}

// deliver starts one delivery per distinct user at once, so their fsyncs
// and index commits overlap, and returns each recipient's reply error
// (nil: 250), in RCPT order.
func (s *session) deliver(msg *spool.Message, id string) []error {
	start := time.Now()
	env := delivery.Envelope{
		From: s.from, Helo: s.helo, Remote: s.remote,
		Protocol: "LMTP", ID: id,
	}
	if s.tls {
		env.Protocol = "LMTPS"
	}
	// One delivery per user: the same user named twice (or as user and
	// user+detail) gets one copy and every RCPT its reply.
	ctx := context.Background()
	results := make(map[string]chan error)
	for _, rc := range s.rcpts {
		if _, ok := results[rc.r.User]; !ok {
			results[rc.r.User] = make(chan error, 1)
		}
	}
	one := func(rc rcpt, ch chan error) {
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic in delivery", "panic", p, "stack", string(debug.Stack()))
				ch <- &delivery.Error{Kind: delivery.TempFail, Msg: "internal error"}
			}
		}()
		ch <- s.srv.d.DeliverMessage(ctx, env, rc.r, msg)
	}
	if len(results) == 1 {
		// One user (most transactions): delivered by the session's own
		// goroutine, a goroutine and a wake-up fewer per message.
		one(s.rcpts[0], results[s.rcpts[0].r.User])
	} else {
		started := make(map[string]bool, len(results))
		for _, rc := range s.rcpts {
			if !started[rc.r.User] {
				started[rc.r.User] = true
				go one(rc, results[rc.r.User])
			}
		}
	}
	final := make(map[string]error)
	out := make([]error, len(s.rcpts))
	for i, rc := range s.rcpts {
		err, ok := final[rc.r.User]
		if !ok {
			err = <-results[rc.r.User]
			final[rc.r.User] = err
			if err != nil {
				s.log.Warn("delivery failed", "id", id, "rcpt", rc.to, "user", rc.r.User, "err", err)
			} else {
				s.log.Info("delivered", "id", id, "rcpt", rc.to, "user", rc.r.User, "from", s.from, "bytes", msg.Size(), "ms", time.Since(start).Milliseconds())
			}
		}
		out[i] = toSMTP(err)
		s.srv.cfg.Metrics.Delivered(resultName(err))
	}
	return out
}

// resultName is a delivery result as the metrics label it.
func resultName(err error) string {
	if err == nil {
		return "ok"
	}
	switch delivery.KindOf(err) {
	case delivery.NoSuchUser:
		return "nouser"
	case delivery.TooBig:
		return "toobig"
	case delivery.Refused:
		return "refused"
	case delivery.Busy:
		return "busy"
	case delivery.OverQuota, delivery.OverQuotaTemp:
		return "overquota"
	case delivery.Rejected:
		return "rejected"
	case delivery.DiskFull:
		return "diskfull"
	}
	return "tempfail"
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}

// parsePath reads "<local@domain>" (RFC 5321 §4.1.2; a source route is
// dropped, a quoted local part kept unquoted, as go-smtp did) and
// returns the address and the parameters after it. "<>" is the null
// sender, allowed only when nullOK. As at Dovecot's LMTP
// (rcpt_domain_optional), the domain may be left out: "<demo>" is the
// local user demo, which is what "storaged deliver -a demo" sends.
func parsePath(s string, nullOK bool) (addr, params string, err error) {
	if !strings.HasPrefix(s, "<") {
		return "", "", errors.New("expected <")
	}
	s = s[1:]
	if strings.HasPrefix(s, ">") {
		if !nullOK {
			return "", "", errors.New("empty address")
		}
		return "", strings.TrimSpace(s[1:]), nil
	}
	if strings.HasPrefix(s, "@") {
		i := strings.IndexByte(s, ':')
		if i < 0 {
			return "", "", errors.New("malformed source route")
		}
		s = s[i+1:]
	}
	var b strings.Builder
	if strings.HasPrefix(s, `"`) {
		i := 1
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' {
				i++
			}
			if i < len(s) {
				b.WriteByte(s[i])
			}
		}
		if i >= len(s) {
			return "", "", errors.New("unterminated quoted string")
		}
		s = s[i+1:]
	} else {
		i := strings.IndexAny(s, "@>")
		if i < 0 {
			return "", "", errors.New("expected >")
		}
		if strings.ContainsAny(s[:i], " \t<()[]:;,\\\"\x00") {
			return "", "", errors.New("malformed local part")
		}
		b.WriteString(s[:i])
		s = s[i:]
	}
	if b.Len() == 0 {
		return "", "", errors.New("empty local part")
	}
	if strings.HasPrefix(s, ">") {
		return b.String(), strings.TrimSpace(s[1:]), nil
	}
	end := strings.IndexByte(s, '>')
	if !strings.HasPrefix(s, "@") || end < 2 {
		return "", "", errors.New("expected @domain>")
	}
	domain := s[1:end]
	if strings.ContainsAny(domain, " \t<>\x00") {
		return "", "", errors.New("malformed domain")
	}
	return b.String() + "@" + domain, strings.TrimSpace(s[end+1:]), nil
}
