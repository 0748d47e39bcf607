package legacy

import (
	"errors"
	"fmt"
	"log/slog"

	imapv2 "github.com/emersion/go-imap/v2"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/store"
)

func no(code imapv2.ResponseCode, text string) error {
	return &imapv2.Error{Type: imapv2.StatusResponseTypeNo, Code: code, Text: text}
}

func badf(format string, args ...any) error {
	return &imapv2.Error{Type: imapv2.StatusResponseTypeBad, Text: fmt.Sprintf(format, args...)}
}

var (
	errReadOnly  = no(imapv2.ResponseCodeCannot, "mailbox is read-only (EXAMINE)")
	errNoMailbox = no(imapv2.ResponseCodeNonExistent, "no such mailbox")
)

// mapErr turns store and folder errors into IMAP responses: the one place
// that does. Unknown errors are logged and reported without detail.
func mapErr(log *slog.Logger, op string, err error) error {
	var ie *imapv2.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie):
		return err
	case errors.Is(err, folder.ErrNotFound):
		return errNoMailbox
	case errors.Is(err, folder.ErrExists):
		return no(imapv2.ResponseCodeAlreadyExists, "mailbox already exists")
	case errors.Is(err, folder.ErrBadName):
		return no(imapv2.ResponseCodeCannot, err.Error())
	case errors.Is(err, store.ErrMailboxGone):
		return no(imapv2.ResponseCodeNonExistent, "the selected mailbox was deleted")
	case errors.Is(err, folder.ErrLocked):
		// RFC 5530 INUSE: another program (mutt, procmail) holds the
		// mailbox's lock; the client may retry.
		log.Warn("mailbox locked by another program", "op", op, "err", err)
		return no(imapv2.ResponseCodeInUse, "mailbox is locked by another program, try again")
	}
	log.Error("imap command failed", "op", op, "err", err)
	return no(imapv2.ResponseCodeServerBug, "internal error; the administrator has the details")
}
