package folder

import "errors"

// ErrCorruptRecord: another server's record (a dovecot-uidlist) exists but
// cannot be read as one. Callers log it and go on without it.
var ErrCorruptRecord = errors.New("unreadable record of another server")

// ForeignUIDs is what another server recorded of a folder's UIDs: its
// UIDVALIDITY and UIDNEXT. Dovecot keeps them in dovecot-uidlist.
type ForeignUIDs struct {
	UIDValidity uint32
	UIDNext     uint32
	// Skipped counts lines left out: unparsable, a UID not above the
	// one before, a key listed twice.
	Skipped int
}

// ForeignUID is one message's line in that record.
type ForeignUID struct {
	UID uint32
	Key string // the folder key of the message it names
	// POP3UIDL overrides the UIDL POP3 would build from UID and
	// UIDVALIDITY (Dovecot's P field, kept from an earlier migration).
	POP3UIDL string
}

// UIDHistory is implemented by folders that may carry the UIDs another
// server gave their messages, so the store can keep them when it adopts
// the folder (Maildir: Dovecot's dovecot-uidlist). A format without such
// a record does not implement it.
type UIDHistory interface {
	// ReadForeignUIDs calls fn for every message line, in file order,
	// and returns the header. ok is false when there is no record; a
	// record whose header does not parse is an error that Is
	// ErrCorruptRecord. Lines that do not parse are skipped (counted in
	// Skipped), never guessed at.
	ReadForeignUIDs(fn func(ForeignUID) error) (hdr ForeignUIDs, ok bool, err error)
	// Adopted tells whether the store already took over (or refused for
	// good) this folder's record; MarkAdopted records that it did, so a
	// record that has gone stale is never applied again, not even to an
	// index rebuilt after loss.
	Adopted() bool
	MarkAdopted() error
}

// ForeignSubscriptions is implemented by stores that may carry another
// server's subscription list (Maildir: Dovecot's subscriptions file).
type ForeignSubscriptions interface {
	// ReadForeignSubscriptions returns the subscribed names in our
	// spelling ('/' between levels); ok is false when there is no list.
	ReadForeignSubscriptions() (names []string, ok bool, err error)
}
