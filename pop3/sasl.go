package pop3

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/storaged/storaged/auth"
)

// cmdAuth is RFC 5034 AUTH with the PLAIN mechanism (RFC 4616). "AUTH"
// alone lists the mechanisms, as many clients expect from the older
// draft.
func (s *session) cmdAuth(ctx context.Context, cmd command) bool {
	if len(cmd.args) == 0 {
		s.reply(true, "", "mechanisms follow")
		s.w.WriteString("PLAIN\r\n.\r\n")
		return false
	}
	if len(cmd.args) > 2 {
		return s.badCommand("usage: AUTH mechanism [initial-response]")
	}
	if !strings.EqualFold(cmd.args[0], "PLAIN") {
		s.errf("unsupported SASL mechanism %s (PLAIN is)", cmd.args[0])
		return false
	}
	var resp string
	if len(cmd.args) == 2 {
		resp = cmd.args[1]
	} else {
		s.w.WriteString("+ \r\n")
		line, err := s.readLine(maxSASLLine)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				s.errf("SASL response too long")
			}
			return true
		}
		resp = string(line)
	}
	if resp == "*" {
		s.errf("authentication cancelled")
		return false
	}
	if resp == "=" {
		resp = ""
	}
	authz, authc, pass, err := decodePlain(resp)
	if err != nil {
		s.errf("%v", err)
		return false
	}
	if authz != "" && authz != authc {
		// Acting as another user needs a master-user scheme we do not
		// have; refuse it like a wrong password.
		s.authFailed(ctx, authc)
		return false
	}
	return s.login(ctx, authc, pass)
}

func decodePlain(b64 string) (authz, authc, pass string, err error) {
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", "", "", errors.New("SASL response is not base64")
	}
	return auth.ParsePlain(raw)
}
