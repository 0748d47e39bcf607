package wire

import (
	"errors"
	"strconv"
)

// Errors are typed so that the caller maps them to responses in one place
// (CONVENTIONS: "protocol errors are typed values"):
//
//	*SyntaxError     tagged BAD (or "* BAD" when Tag is ""), connection continues
//	*TooLong         tagged BAD, connection continues (errors.Is ErrLineTooLong)
//	*LiteralRefused  tagged NO or BAD (NO [TOOBIG] when Err is a *LimitError for
//	                 an APPEND message), connection continues
//	*FatalError      "* BYE" and close: the stream cannot be resynchronised
//	anything else    an I/O error from the connection: close without a reply
//
// For every error but *FatalError and I/O errors the reader has consumed
// exactly the bytes of the bad command, so the next ReadCommand starts on
// the client's next command.

// ErrLineTooLong is matched by errors.Is on *TooLong and returned by ReadLine.
var ErrLineTooLong = errors.New("line too long")

// ErrNUL is the reason carried when a NUL octet is found where RFC 9051 §4.3
// (CHAR8) forbids it.
var ErrNUL = errors.New("NUL octet in command")

// SyntaxError is a command that does not follow the grammar.
type SyntaxError struct {
	Tag string // "" when the tag itself could not be read
	Msg string
}

func (e *SyntaxError) Error() string {
	if e.Tag == "" {
		return "syntax error: " + e.Msg
	}
	return e.Tag + ": syntax error: " + e.Msg
}

// TooLong is a command line longer than Limits.MaxLine; the rest of it was
// discarded.
type TooLong struct {
	Tag string
}

func (e *TooLong) Error() string { return "command line too long" }

// Is makes errors.Is(err, ErrLineTooLong) true.
func (e *TooLong) Is(target error) bool { return target == ErrLineTooLong }

// LiteralRefused is a literal the reader or the hook refused. For a
// synchronising literal nothing was read past its header (the client is
// waiting for "+" and will take the tagged reply as the end of the
// command); for a non-synchronising one (Drained) its octets and the rest
// of the command were read and discarded.
type LiteralRefused struct {
	Tag     string
	Info    LiteralInfo
	Drained bool
	Err     error // the hook's error, or a *LimitError
}

func (e *LiteralRefused) Error() string { return "literal refused: " + e.Err.Error() }
func (e *LiteralRefused) Unwrap() error { return e.Err }

// LimitError says which limit a literal broke.
type LimitError struct {
	Size   int64 // announced octet count (math.MaxInt64 if it overflowed)
	Limit  int64
	Append bool // an APPEND message literal: answer NO [TOOBIG] (RFC 7889 §3)
}

func (e *LimitError) Error() string {
	return "literal of " + strconv.FormatInt(e.Size, 10) + " octets exceeds limit " + strconv.FormatInt(e.Limit, 10)
}

// FatalError means the reader can no longer tell where the client's next
// command starts (a non-synchronising literal too large to drain): the
// caller sends BYE and closes.
type FatalError struct {
	Tag string
	Err error
}

func (e *FatalError) Error() string { return "fatal: " + e.Err.Error() }
func (e *FatalError) Unwrap() error { return e.Err }
