package imap

import (
	"context"
	"crypto/tls"
	"time"

	"github.com/storaged/storaged/imap/wire"
)

// TLS on IMAP: STARTTLS (RFC 9051 §6.2.1) and implicit TLS (RFC 8314
// §3.3), and the cleartext login policy that depends on them (RFC 9051
// §6.2.3, LOGINDISABLED).
//
// Rules:
//   - Octets the client sent after the STARTTLS command line, before the
//     handshake, are thrown away and never run: they were not protected,
//     and running them is the STARTTLS command injection (CVE-2011-0411's
//     family). Only what arrives inside TLS is read.
//   - Capabilities are sent again only when the client asks (RFC 9051
//     §6.2.1: it must discard what it learnt before TLS).
//   - A password is accepted only over TLS or from a trusted network;
//     elsewhere LOGIN and AUTHENTICATE are refused before any password
//     is asked for, and LOGINDISABLED is advertised instead of AUTH=.

// handshakeTimeout bounds a TLS handshake, so a client that connects and
// says nothing holds a goroutine only this long.
const handshakeTimeout = 30 * time.Second

func registerTLS(t *commands) {
	t.capabilityIf(stateNotAuth, (*conn).canStartTLS, "STARTTLS")
	t.capabilityIf(stateNotAuth, func(c *conn) bool { return !c.loginAllowed() }, "LOGINDISABLED")
	t.add("STARTTLS", stateNotAuth, 0, cmdStartTLS)
}

// canStartTLS: TLS is configured and not yet running, and COMPRESS is
// not active (TLS goes under compression, never inside it: compress.go).
func (c *conn) canStartTLS() bool { return c.srv.cfg.TLS != nil && !c.tls && c.z == nil }

// loginAllowed reports whether a password may be sent on this connection.
func (c *conn) loginAllowed() bool { return c.tls || c.trusted }

// errPrivacyRequired is RFC 5530's answer to a login that needs TLS.
func errPrivacyRequired() error {
	return no("PRIVACYREQUIRED", "use STARTTLS (or the TLS port) before sending a password")
}

func cmdStartTLS(ctx context.Context, c *conn, cmd *wire.Command) error {
	if !c.canStartTLS() {
		if c.tls {
			return bad("TLS is already active")
		}
		if c.z != nil {
			return bad("STARTTLS is not valid once COMPRESS is active")
		}
		return bad("TLS is not available")
	}
	if n := c.br.Buffered(); n > 0 {
		c.log.Warn("discarded input pipelined after STARTTLS", "octets", n)
		c.br.Discard(n)
	}
	c.w.Status(cmd.Tag, "OK", "", "Begin TLS negotiation now")
	if c.w.Flush() != nil {
		return errHangUp
	}
	if err := c.startTLS(ctx); err != nil {
		// Nothing can be said in clear after the OK: hang up.
		c.state = stateLogout
	}
	// The OK is written; the loop adds nothing.
	return errHangUp
}

// startTLS runs the server side of a handshake and puts the TLS
// connection under the reader and the writer. The bufio pair is reset,
// never recreated: the wire reader and writer hold them.
func (c *conn) startTLS(ctx context.Context) error {
	tc := tls.Server(c.nc, c.srv.cfg.TLS)
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		c.log.Info("TLS handshake failed", "err", err)
		return err
	}
	c.nc = tc
	c.tls = true
	c.br.Reset(tc)
	if c.bw != nil {
		c.bw.Reset(tc)
	}
	st := tc.ConnectionState()
	c.log.Debug("TLS established", "version", tls.VersionName(st.Version),
		"cipher", tls.CipherSuiteName(st.CipherSuite), "sni", st.ServerName)
	return nil
}
