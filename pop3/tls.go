package pop3

import (
	"context"
	"crypto/tls"
	"time"
)

// TLS on POP3: STLS (RFC 2595 §4) and implicit TLS (pop3s, RFC 8314
// §3.3). Rules, as in the IMAP package:
//   - Octets sent after the STLS line, before the handshake, are thrown
//     away unread: only what arrives inside TLS runs (the STARTTLS
//     command injection).
//   - Before TLS, and off the trusted networks, CAPA lists neither USER
//     nor SASL, and USER, PASS and AUTH are refused with -ERR [AUTH]
//     (RFC 3206 §4) before any password is sent.

// handshakeTimeout bounds one TLS handshake.
const handshakeTimeout = 30 * time.Second

func (s *session) canSTLS() bool { return s.srv.cfg.TLS != nil && !s.tls }

func (s *session) loginAllowed() bool { return s.tls || s.trusted }

func (s *session) refuseCleartext() bool {
	s.reply(false, "AUTH", "use STLS (or the TLS port) before sending a password")
	return false
}

// cmdSTLS upgrades the connection; it reports whether the session ends.
func (s *session) cmdSTLS(ctx context.Context, cmd command) bool {
	if len(cmd.args) != 0 {
		return s.badCommand("STLS takes no argument")
	}
	if !s.canSTLS() {
		// RFC 2595 §4: in TLS already, or not offered.
		s.errf("STLS is not available now")
		return false
	}
	if n := s.r.Buffered(); n > 0 {
		s.log.Warn("discarded input pipelined after STLS", "octets", n)
		s.r.Discard(n)
	}
	s.reply(true, "", "Begin TLS negotiation")
	if s.w.Flush() != nil {
		return true
	}
	return s.startTLS(ctx) != nil
}

// startTLS runs the handshake and puts the TLS connection under the
// session's bufio pair.
func (s *session) startTLS(ctx context.Context) error {
	tc := tls.Server(s.conn, s.srv.cfg.TLS)
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		s.log.Info("TLS handshake failed", "err", err)
		return err
	}
	s.conn, s.tls = tc, true
	s.r.Reset(tc)
	s.w.Reset(tc)
	st := tc.ConnectionState()
	s.log.Debug("TLS established", "version", tls.VersionName(st.Version),
		"cipher", tls.CipherSuiteName(st.CipherSuite), "sni", st.ServerName)
	return nil
}
