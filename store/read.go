package store

import (
	"context"
	"errors"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/index"
	"github.com/storaged/storaged/message"
)

// The read API: what protocol packages may know of the index. Every call
// reads one consistent snapshot and returns plain values, so no caller
// holds a transaction while it writes to a connection.

// Message is one message's state: UID, flags, MODSEQ, dates and sizes.
type Message index.Message

// MailboxInfo is one mailbox's state: UIDVALIDITY, UIDNEXT, counts.
type MailboxInfo index.Mailbox

// Fields says what a batch read decodes beyond the message record.
type Fields uint8

const (
	FieldEnvelope      Fields = 1 << iota // the cached ENVELOPE
	FieldBodyStructure                    // the cached BODYSTRUCTURE
)

// Meta is one message as ReadBatch returns it.
type Meta struct {
	Message
	// Found is false for a message that is gone from the index
	// (expunged by another session and not yet reported to this one).
	Found    bool
	Envelope *message.Envelope // with FieldEnvelope
	Body     *message.Part     // with FieldBodyStructure
}

// ErrStop ends a ForEach early without an error.
var ErrStop = errors.New("store: stop")

// ReadBatch reads the records of uids in one snapshot: out[i] is uids[i].
// A cached structure that cannot be decoded (a record from a broken
// index) reads as an empty envelope or a text/plain body rather than
// failing the whole batch. Callers bound len(uids): the snapshot holds
// back the index's growth while it lasts.
func (m *Mailbox) ReadBatch(uids []uint32, want Fields) ([]Meta, error) {
	out := make([]Meta, len(uids))
	// One allocation per batch for the envelopes, not one per message.
	var envs []message.Envelope
	if want&FieldEnvelope != 0 {
		envs = make([]message.Envelope, len(uids))
	}
	err := m.acct.idx.View(func(tx *index.Tx) error {
		for i, uid := range uids {
			msg, ok, err := tx.Message(m.id, uid)
			if err != nil {
				return err
			}
			out[i] = Meta{Message: Message(msg), Found: ok}
			if !ok {
				out[i].UID = uid
				continue
			}
			if envs != nil {
				out[i].Envelope = &envs[i]
				if err := envs[i].UnmarshalBinary(tx.Envelope(m.id, uid)); err != nil {
					envs[i] = message.Envelope{}
				}
			}
			if want&FieldBodyStructure != 0 {
				p := new(message.Part)
				if err := p.UnmarshalBinary(tx.BodyStructure(m.id, uid)); err != nil {
					*p = message.Part{Type: "text", Subtype: "plain"}
				}
				out[i].Body = p
			}
		}
		return nil
	})
	return out, err
}

// Message reads one message's record; ok is false when it is gone.
func (m *Mailbox) Message(uid uint32) (msg Message, ok bool, err error) {
	err = m.acct.idx.View(func(tx *index.Tx) error {
		im, found, err := tx.Message(m.id, uid)
		msg, ok = Message(im), found
		return err
	})
	return msg, ok, err
}

// ForEach calls fn for every message in UID order, inside one snapshot:
// fn must not block or do I/O. Returning ErrStop ends the walk with no
// error.
func (m *Mailbox) ForEach(fn func(*Message) error) error {
	m.awaitIndexing(context.Background()) // early appends answered already
	err := m.acct.idx.View(func(tx *index.Tx) error {
		return tx.ForEachMessage(m.id, func(im *index.Message) error { return fn((*Message)(im)) })
	})
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// Snapshot returns the mailbox's state and every message record as of
// one moment: a POP3 maildrop, which must not change during a session.
func (m *Mailbox) Snapshot() (MailboxInfo, []Message, error) {
	m.awaitIndexing(context.Background()) // early appends answered already
	var info index.Mailbox
	var msgs []Message
	err := m.acct.idx.View(func(tx *index.Tx) error {
		var err error
		if info, err = tx.MailboxByID(m.id); err != nil {
			return err
		}
		msgs = make([]Message, 0, info.Messages)
		return tx.ForEachMessage(m.id, func(im *index.Message) error {
			msgs = append(msgs, Message(*im))
			return nil
		})
	})
	return MailboxInfo(info), msgs, err
}

// Tombstones calls fn for every expunged UID the index remembers, with
// the MODSEQ of its expunge (RFC 7162 §3.2.5.1: what VANISHED (EARLIER)
// reports), inside one snapshot: fn must not block or do I/O.
func (m *Mailbox) Tombstones(fn func(uid uint32, modseq uint64) error) error {
	err := m.acct.idx.View(func(tx *index.Tx) error { return tx.Tombstones(m.id, fn) })
	if errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// DeletedSize is the canonical octets of the messages flagged \Deleted:
// what an EXPUNGE would free.
func (m *Mailbox) DeletedSize() (int64, error) {
	var n int64
	err := m.ForEach(func(msg *Message) error {
		if msg.Flags.Sys&folder.Deleted != 0 {
			n += msg.CRLFSize
		}
		return nil
	})
	return n, err
}

// ChangedSince returns the UIDs of the messages whose MODSEQ is above
// modseq (RFC 7162 CHANGEDSINCE), ascending.
func (m *Mailbox) ChangedSince(modseq uint64) ([]uint32, error) {
	var out []uint32
	err := m.acct.idx.View(func(tx *index.Tx) error {
		return tx.ChangedSince(m.id, modseq, func(uid uint32, _ uint64) error {
			out = append(out, uid)
			return nil
		})
	})
	return out, err
}
