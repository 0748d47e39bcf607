package delivery

import (
	"errors"
	"fmt"
)

// Kind classifies a delivery failure; front ends map kinds to codes.
type Kind int

const (
	// NoSuchUser: the recipient is not ours (SMTP 550 5.1.1, EX_NOUSER).
	NoSuchUser Kind = iota + 1
	// TooBig: over the size limit (552 5.3.4, EX_DATAERR).
	TooBig
	// TempFail: the store could not take it now (451 4.3.0, EX_TEMPFAIL).
	TempFail
	// Refused: the message is unacceptable as it is (554 5.6.0).
	Refused
	// Busy: the mailbox is locked by another program (451 4.2.0,
	// EX_TEMPFAIL), RFC 3463's "mailbox full or busy" class.
	Busy
	// OverQuota: the recipient's store is full (552 5.2.2, RFC 3463
	// §3.3; EX_CANTCREAT).
	OverQuota
	// OverQuotaTemp: full, and the admin wants the MTA to retry
	// ([quota] full_tempfail: 452 4.2.2, EX_TEMPFAIL).
	OverQuotaTemp
	// Rejected: the recipient's Sieve script refused the message
	// (reject/ereject, RFC 5429 §2.1.1: refused in the session, so no
	// bounce is made here): 550 5.7.1, EX_NOPERM. Msg is the script's
	// reason.
	Rejected
	// DiskFull: the disk under the store is full (ENOSPC, or a file
	// system quota): 452 4.3.1 (RFC 3463 "mail system full"),
	// EX_TEMPFAIL; delivery resumes by itself when space returns.
	DiskFull
)

// ErrNotLocal is the cause of a NoSuchUser for an address whose domain
// is not one of ours (the policy service lets Postfix judge those).
var ErrNotLocal = errors.New("the domain is not a local one")

// Error is a delivery failure for one recipient.
type Error struct {
	Kind Kind
	Msg  string // for the peer
	Err  error  // the cause, for the log
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Msg, e.Err)
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of err, TempFail for errors that are not an
// *Error: an unknown failure must never turn into a permanent bounce.
func KindOf(err error) Kind {
	var de *Error
	if errors.As(err, &de) {
		return de.Kind
	}
	return TempFail
}
