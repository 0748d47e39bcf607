package pop3

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/storaged/storaged/auth"
)

// mechanisms are the SASL mechanisms [auth] mechanisms enables, in the
// order AUTH and CAPA list them.
func (s *session) mechanisms() []string {
	var out []string
	for _, m := range auth.KnownMechanisms {
		if s.srv.cfg.Auth.Offers(m) {
			out = append(out, m)
		}
	}
	return out
}

// cmdAuth is RFC 5034 AUTH with PLAIN (RFC 4616), LOGIN and
// SCRAM-SHA-256 (RFC 7677), those of them that are enabled. "AUTH"
// alone lists the mechanisms, as many clients expect from the older
// draft.
func (s *session) cmdAuth(ctx context.Context, cmd command) bool {
	if len(cmd.args) == 0 {
		s.reply(true, "", "mechanisms follow")
		for _, m := range s.mechanisms() {
			s.w.WriteString(m + "\r\n")
		}
		s.w.WriteString(".\r\n")
		return false
	}
	if len(cmd.args) > 2 {
		return s.badCommand("usage: AUTH mechanism [initial-response]")
	}
	mech := strings.ToUpper(cmd.args[0])
	if !s.srv.cfg.Auth.Offers(mech) {
		s.errf("unsupported SASL mechanism %s (%s)", cmd.args[0], strings.Join(s.mechanisms(), " "))
		return false
	}
	initial, hasInitial := "", len(cmd.args) == 2
	if hasInitial {
		initial = cmd.args[1]
	}
	switch mech {
	case auth.MechPlain:
		raw, end, done := s.saslStep("", initial, hasInitial)
		if done {
			return end
		}
		authz, authc, pass, err := auth.ParsePlain(raw)
		if err != nil {
			s.errf("%v", err)
			return false
		}
		// An authzid other than the user is a master login, or refused
		// like a wrong password (auth.Authenticator).
		return s.login(ctx, auth.Attempt{Mech: mech, Authz: authz, Authc: authc, Password: pass})
	case auth.MechLogin:
		user, end, done := s.saslStep("Username:", initial, hasInitial)
		if done {
			return end
		}
		pass, end, done := s.saslStep("Password:", "", false)
		if done {
			return end
		}
		return s.login(ctx, auth.Attempt{Mech: mech, Authc: string(user), Password: string(pass)})
	case auth.MechSCRAM:
		return s.scram(ctx, initial, hasInitial)
	}
	s.errf("unsupported SASL mechanism %s", cmd.args[0])
	return false
}

// saslStep sends a challenge (base64 of prompt) unless the client gave
// an initial response, and reads the client's base64 response. done
// means the exchange is over with a reply written; end, that the session
// ends too.
func (s *session) saslStep(prompt, initial string, hasInitial bool) (resp []byte, end, done bool) {
	line := initial
	if !hasInitial {
		s.w.WriteString("+ " + base64.StdEncoding.EncodeToString([]byte(prompt)) + "\r\n")
		b, err := s.readLine(maxSASLLine)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				s.errf("SASL response too long")
			}
			return nil, true, true
		}
		line = string(b)
	}
	if line == "*" {
		s.errf("authentication cancelled")
		return nil, false, true
	}
	if line == "=" {
		// RFC 5034 §4: an empty initial response.
		line = ""
	}
	raw, err := base64.StdEncoding.DecodeString(line)
	if err != nil {
		s.errf("SASL response is not base64")
		return nil, false, true
	}
	return raw, false, false
}

// scram is SCRAM-SHA-256: client-first, server-first as a challenge,
// client-final, and the server-final-message as a last challenge the
// client answers with an empty line before +OK (RFC 5034 §4 has no
// additional data with success).
func (s *session) scram(ctx context.Context, initial string, hasInitial bool) bool {
	x := s.srv.cfg.Auth.SCRAM(auth.Attempt{Proto: "pop3", Remote: s.conn.RemoteAddr()})
	defer x.Abort()
	first, end, done := s.saslStep("", initial, hasInitial && initial != "=")
	if done {
		return end
	}
	serverFirst, err := x.Start(first)
	if err != nil {
		return s.scramErr(ctx, err)
	}
	final, end, done := s.saslStep(string(serverFirst), "", false)
	if done {
		return end
	}
	serverFinal, l, err := x.Finish(ctx, final)
	if err != nil {
		return s.scramErr(ctx, err)
	}
	empty, end, done := s.saslStep(string(serverFinal), "", false)
	if done {
		return end
	}
	if len(empty) != 0 {
		s.errf("SCRAM: the answer to the server's final message must be empty")
		return false
	}
	s.srv.cfg.Metrics.Login("pop3", true)
	return s.loggedIn(ctx, auth.MechSCRAM, l)
}

func (s *session) scramErr(ctx context.Context, err error) bool {
	if errors.Is(err, auth.ErrBadSASL) {
		s.errf("%v", err)
		return false
	}
	s.srv.cfg.Metrics.Login("pop3", false)
	s.authFailed(ctx, auth.MechSCRAM, err)
	return false
}
