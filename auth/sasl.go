package auth

import (
	"bytes"
	"errors"
)

// ErrBadPlain is a PLAIN response that is not authzid NUL authcid NUL
// password.
var ErrBadPlain = errors.New("malformed PLAIN response (authzid NUL authcid NUL password)")

// ParsePlain splits a decoded SASL PLAIN response (RFC 4616 §2). The
// authorization identity may be empty; the authentication identity may
// not.
func ParsePlain(raw []byte) (authz, authc, pass string, err error) {
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return "", "", "", ErrBadPlain
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), nil
}
