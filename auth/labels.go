package auth

import "errors"

// Label is the reason's name as a metrics label. The set is small and
// fixed (metrics package invariant): unknown_user, wrong_password,
// disabled, bad_hash, no_scram, bad_name, authz, throttled, other.
func (r Reason) Label() string {
	switch r {
	case ReasonUnknownUser:
		return "unknown_user"
	case ReasonWrongPassword, ReasonBadProof:
		return "wrong_password"
	case ReasonDisabled:
		return "disabled"
	case ReasonBadHash:
		return "bad_hash"
	case ReasonNoSCRAM:
		return "no_scram"
	case ReasonBadName:
		return "bad_name"
	case ReasonAuthz:
		return "authz"
	case ReasonRefusedAddress, ReasonRefusedPair, ReasonRefusedUser:
		return "throttled"
	}
	return "other"
}

// FailureLabel is the label of a failed login's error: its Reason's, or
// "other" when no password was checked (the wait for a verification
// slot ended).
func FailureLabel(err error) string {
	var f *Failure
	if errors.As(err, &f) {
		return f.Reason.Label()
	}
	return "other"
}
