package index

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/storaged/storaged/folder"
)

// Adoption and import: messages that arrive with the UIDs another server
// gave them (Dovecot's dovecot-uidlist, an IMAP source), and the marks
// that let an import run again without adding anything twice.
//
// Invariants, on top of the package's:
//   - A given UID is accepted only when no message and no tombstone holds
//     it. Every UID this DB handed out inside the mailbox's UIDVALIDITY is
//     one or the other (tombstones are never pruned), so a given UID below
//     UIDNEXT can only be one no client has seen here.
//   - SetUIDs changes an empty mailbox only. A new UIDVALIDITY drops the
//     old one's tombstones (they describe UIDs that no longer mean
//     anything) and raises the DB's last UIDVALIDITY, so a later fresh one
//     is above it.
//
// Schema: mbx/<id>/i/<mark> → UID, the import marks (created on first
// use; mailboxes without imports have no such bucket), and
// mbx/<id>/i/"\x00hw" the import high-water UID (see store/import.go).

var (
	// ErrUIDTaken: the UID is held by a message or a tombstone.
	ErrUIDTaken = errors.New("index: UID already used in this UIDVALIDITY")
	// ErrNotEmpty: UIDVALIDITY and UIDNEXT are only set on an empty mailbox.
	ErrNotEmpty = errors.New("index: mailbox is not empty")
)

var (
	bImports = []byte("i")
	kImpHW   = []byte("\x00hw")
)

// AddMessageUID adds a message under a UID another server gave it; see
// the invariants. UIDNEXT moves above it when it is not already.
func (t *Tx) AddMessageUID(mailboxID uint64, uid uint32, nm NewMessage) (Message, error) {
	if uid == 0 {
		return Message{}, fmt.Errorf("%w: 0", ErrUIDTaken)
	}
	return t.addMessage(mailboxID, uid, nm)
}

// SetUIDs gives an empty mailbox the UIDVALIDITY and UIDNEXT another
// server had for it. With the same UIDVALIDITY as now, UIDNEXT only rises.
func (t *Tx) SetUIDs(mailboxID uint64, uidValidity, uidNext uint32) error {
	b := t.mbxBucket(mailboxID)
	if b == nil {
		return fmt.Errorf("index: %w: id %d", folder.ErrNotFound, mailboxID)
	}
	if uidValidity == 0 || uidNext == 0 {
		return fmt.Errorf("index: invalid UIDVALIDITY %d / UIDNEXT %d", uidValidity, uidNext)
	}
	var mb Mailbox
	if err := decodeMailbox(mailboxID, b.Get(kInfo), &mb); err != nil {
		return err
	}
	if mb.Messages > 0 {
		return fmt.Errorf("%w: id %d", ErrNotEmpty, mailboxID)
	}
	if uidValidity == mb.UIDValidity {
		mb.UIDNext = max(mb.UIDNext, uidNext)
	} else {
		t.forget()
		if err := b.DeleteBucket(bTombs); err != nil && !errors.Is(err, bolt.ErrBucketNotFound) {
			return err
		}
		if _, err := b.CreateBucket(bTombs); err != nil {
			return err
		}
		mb.UIDValidity, mb.UIDNext = uidValidity, uidNext
		// Every message is new to every client of the new UIDVALIDITY.
		mb.RecentUID = 1
		if err := t.RaiseUIDValidity(uidValidity); err != nil {
			return err
		}
	}
	mb.HighestModSeq++
	return t.putInfo(&mb)
}

// Imported tells whether an import mark is set, and under which UID.
func (t *Tx) Imported(mailboxID uint64, mark []byte) (uint32, bool) {
	b := t.mbxBucket(mailboxID)
	if b == nil {
		return 0, false
	}
	ib := b.Bucket(bImports)
	if ib == nil {
		return 0, false
	}
	v := ib.Get(mark)
	if len(v) != 4 {
		return 0, false
	}
	return uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3]), true
}

func (t *Tx) imports(mailboxID uint64) (*bolt.Bucket, error) {
	b := t.mbxBucket(mailboxID)
	if b == nil {
		return nil, fmt.Errorf("index: %w: id %d", folder.ErrNotFound, mailboxID)
	}
	return b.CreateBucketIfNotExists(bImports)
}

// MarkImported sets an import mark. Marks stay when the message is
// expunged: what the user deleted is not imported again either.
func (t *Tx) MarkImported(mailboxID uint64, mark []byte, uid uint32) error {
	if len(mark) == 0 || mark[0] == 0 {
		return fmt.Errorf("index: invalid import mark")
	}
	ib, err := t.imports(mailboxID)
	if err != nil {
		return err
	}
	return ib.Put(mark, uidKey(uid))
}

// ImportHighWater is the UIDNEXT the last import commit left; messages
// from there up were added by something else (see store/import.go).
func (t *Tx) ImportHighWater(mailboxID uint64) (uint32, bool) {
	b := t.mbxBucket(mailboxID)
	if b == nil || b.Bucket(bImports) == nil {
		return 0, false
	}
	v := b.Bucket(bImports).Get(kImpHW)
	if len(v) != 4 {
		return 0, false
	}
	return uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3]), true
}

// SetImportHighWater records the mailbox's UIDNEXT as the import
// high-water.
func (t *Tx) SetImportHighWater(mailboxID uint64) error {
	mb, err := t.MailboxByID(mailboxID)
	if err != nil {
		return err
	}
	ib, err := t.imports(mailboxID)
	if err != nil {
		return err
	}
	return ib.Put(kImpHW, uidKey(mb.UIDNext))
}
