package managesieve

import (
	"bufio"
	"context"
	"crypto/tls"
	"strings"
	"time"
)

// STARTTLS (RFC 5804 §2.2). Rules:
//   - Octets after the STARTTLS line, before the handshake, are thrown
//     away unread: only what arrives inside TLS runs.
//   - After the handshake the capabilities are sent again, unasked
//     (RFC 5804 §2.2), and the client forgets the old ones.
//   - Before TLS, off the trusted networks, SASL lists no mechanism and
//     AUTHENTICATE is refused with NO (ENCRYPT-NEEDED) (RFC 5804 §1.3).

// handshakeTimeout bounds one TLS handshake.
const handshakeTimeout = 30 * time.Second

func (s *session) canStartTLS() bool { return s.srv.cfg.TLS != nil && !s.tls }

func (s *session) loginAllowed() bool { return s.tls || s.trusted }

// startTLS answers STARTTLS; true ends the session.
func (s *session) startTLS(ctx context.Context, cmd command) bool {
	if len(cmd.args) != 0 {
		return s.bad("usage: STARTTLS")
	}
	if !s.canStartTLS() {
		s.reply("NO", "", "STARTTLS is not available.")
		return false
	}
	if n := s.r.r.Buffered(); n > 0 {
		s.log.Warn("discarded input pipelined after STARTTLS", "octets", n)
		s.r.r.Discard(n)
	}
	s.reply("OK", "", "Begin TLS negotiation now.")
	if s.w.Flush() != nil {
		return true
	}
	tc := tls.Server(s.conn, s.srv.cfg.TLS)
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		s.log.Info("TLS handshake failed", "err", err)
		return true
	}
	s.conn, s.tls = tc, true
	s.r.r = bufio.NewReaderSize(tc, 4<<10)
	s.w.Reset(tc)
	st := tc.ConnectionState()
	s.log.Debug("TLS established", "version", tls.VersionName(st.Version),
		"cipher", tls.CipherSuiteName(st.CipherSuite), "sni", st.ServerName)
	s.sendCapabilities()
	s.reply("OK", "", "TLS negotiation successful.")
	return false
}

// sendCapabilities writes the capability lines for the session's state.
func (s *session) sendCapabilities() {
	sasl := ""
	if s.loginAllowed() {
		sasl = strings.Join(s.mechanisms(), " ")
	}
	for _, l := range s.srv.capabilities(s.user, sasl, s.canStartTLS()) {
		s.line(l)
	}
}
