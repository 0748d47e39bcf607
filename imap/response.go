package imap

import (
	"errors"
	"io/fs"
	"log/slog"
	"strconv"
	"syscall"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/quota"
	"github.com/storaged/storaged/store"
)

// response is a tagged status a handler returns: OK with a response code,
// NO or BAD (RFC 9051 §7.1).
type response struct {
	kind string // "OK", "NO", "BAD"
	code string // response code without brackets, e.g. "READ-WRITE"; may be ""
	text string
}

func (r *response) Error() string { return r.kind + " " + r.text }

func okCode(code, text string) error { return &response{kind: "OK", code: code, text: text} }
func no(code, text string) error     { return &response{kind: "NO", code: code, text: text} }
func bad(text string) error          { return &response{kind: "BAD", text: text} }

// Response codes (RFC 9051 §7.1, RFC 5530).
const (
	codeAuthFailed = "AUTHENTICATIONFAILED"
	codeServerBug  = "SERVERBUG"
	codeNonExist   = "NONEXISTENT"
	codeExists     = "ALREADYEXISTS"
	codeCannot     = "CANNOT"
	codeInUse      = "INUSE"
	codeUnavail    = "UNAVAILABLE"
	codeOverQuota  = "OVERQUOTA"
	codeNoPerm     = "NOPERM"
)

// mapErr turns store and folder errors into responses: the one place that
// does. Unknown errors are logged and reported without detail.
func mapErr(log *slog.Logger, op string, err error) error {
	var r *response
	switch {
	case err == nil:
		return nil
	case errors.As(err, &r):
		return r
	case errors.Is(err, folder.ErrNotFound):
		return no(codeNonExist, "no such mailbox")
	case errors.Is(err, folder.ErrExists):
		return no(codeExists, "mailbox already exists")
	case errors.Is(err, folder.ErrBadName):
		return no(codeCannot, err.Error())
	case errors.Is(err, store.ErrMailboxGone):
		return no(codeNonExist, "the selected mailbox was deleted")
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		// The and Dovecot's answer: OVERQUOTA, never SERVERBUG;
		// nothing was stored, and the client may try again later.
		log.Error("disk full", "op", op, "err", err)
		return no(codeOverQuota, "the server's disk is full; try again later")
	case errors.Is(err, quota.ErrOverQuota):
		// RFC 9208 §4.3 (and RFC 5530): nothing was stored.
		return no(codeOverQuota, "quota exceeded: "+quotaText(err))
	case errors.Is(err, fs.ErrPermission):
		// The kernel refused the store's user (a server run as root
		// works in each store as its user): a file in the store that is
		// not theirs, or a link to one. RFC 5530 NOPERM, as Dovecot
		// answers; the log names the file and the uid.
		log.Error("permission denied in the store", "op", op, "err", err)
		return no(codeNoPerm, "permission denied; the administrator has the details")
	case errors.Is(err, folder.ErrLocked):
		// RFC 5530 INUSE: another program (mutt, procmail) holds the
		// mailbox's lock; the client may retry.
		log.Warn("mailbox locked by another program", "op", op, "err", err)
		return no(codeInUse, "mailbox is locked by another program, try again")
	}
	log.Error("imap command failed", "op", op, "err", err)
	return no(codeServerBug, "internal error; the administrator has the details")
}

// quotaText says which limit a refused change would pass, for people.
func quotaText(err error) string {
	var ex *quota.Exceeded
	if !errors.As(err, &ex) {
		return "the mailbox is full"
	}
	if ex.Resource == quota.Storage {
		return "storage limit " + quota.FormatSize(ex.Limit) + " reached (" + quota.FormatSize(ex.Used) + " used)"
	}
	return "message limit " + strconv.FormatInt(ex.Limit, 10) + " reached"
}
