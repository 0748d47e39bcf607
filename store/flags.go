package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/index"
)

// FlagOp says how StoreFlags combines flags (RFC 9051 §6.4.6).
type FlagOp uint8

const (
	FlagsReplace FlagOp = iota
	FlagsAdd
	FlagsRemove
)

func applyFlags(cur folder.Flags, op FlagOp, f folder.Flags) folder.Flags {
	switch op {
	case FlagsReplace:
		return folder.Flags{Sys: f.Sys, Keywords: folder.NormalizeKeywords(f.Keywords)}
	case FlagsAdd:
		return folder.Flags{Sys: cur.Sys | f.Sys, Keywords: folder.NormalizeKeywords(append(append([]string(nil), cur.Keywords...), f.Keywords...))}
	default:
		out := folder.Flags{Sys: cur.Sys &^ f.Sys}
		for _, k := range cur.Keywords {
			drop := false
			for _, r := range f.Keywords {
				if strings.EqualFold(k, r) {
					drop = true
				}
			}
			if !drop {
				out.Keywords = append(out.Keywords, k)
			}
		}
		return out
	}
}

// StoreFlags changes the flags of messages: index first, written through
// to the folder where the format has a place for them. It returns the
// messages whose flags changed, as stored.
func (m *Mailbox) StoreFlags(ctx context.Context, uids []uint32, op FlagOp, f folder.Flags, origin *Sub) ([]Message, error) {
	changed, _, err := m.StoreFlagsIf(ctx, uids, op, f, origin, nil)
	return changed, err
}

// StoreFlagsIf is StoreFlags that leaves alone, and returns as modified,
// the messages whose MODSEQ is above *unchangedSince (RFC 7162 §3.1.3's
// UNCHANGEDSINCE); nil means no condition. The test and the change are
// one step: no other flag change or expunge of this mailbox runs between
// them (wmu).
func (m *Mailbox) StoreFlagsIf(ctx context.Context, uids []uint32, op FlagOp, f folder.Flags, origin *Sub, unchangedSince *uint64) (changed []Message, modified []uint32, err error) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	type change struct {
		uid       uint32
		flags     folder.Flags
		key, name string
	}
	var changes []change
	err = m.acct.idx.View(func(tx *index.Tx) error {
		modified = modified[:0]
		for _, uid := range uids {
			msg, ok, err := tx.Message(m.id, uid)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if unchangedSince != nil && msg.ModSeq > *unchangedSince {
				modified = append(modified, uid)
				continue
			}
			nf := applyFlags(msg.Flags, op, f)
			if nf.Equal(msg.Flags) {
				continue
			}
			changes = append(changes, change{uid: uid, flags: nf, key: msg.Key, name: msg.Name})
		}
		return nil
	})
	if err != nil || len(changes) == 0 {
		return nil, modified, err
	}
	for i, c := range changes {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		e, err := m.folder().SetFlags(folder.Entry{Key: c.key, Name: c.name}, c.flags)
		if errors.Is(err, folder.ErrGone) {
			// Removed behind our back: the next sync expunges it. The
			// index still takes the flags so the client sees its STORE.
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("store: write flags through: %w", err)
		}
		changes[i].name = e.Name
	}
	if err := m.folder().Flush(); err != nil {
		return nil, nil, err
	}
	var out []Message
	err = m.acct.idx.Commit(func(tx *index.Tx) error {
		out = out[:0]
		for _, c := range changes {
			rec, err := tx.UpdateMessage(m.id, c.uid, c.flags, c.name)
			if err != nil {
				return err
			}
			out = append(out, Message(rec))
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	ev := Event{Mailbox: m.id, Kind: FlagsSet, Origin: origin}
	if op != FlagsRemove {
		ev.Keywords = f.Keywords
	}
	for _, rec := range out {
		ev.UIDs = append(ev.UIDs, rec.UID)
		ev.ModSeq = max(ev.ModSeq, rec.ModSeq)
	}
	m.acct.hub.Publish(ev)
	return out, modified, nil
}

// Expunge removes messages: files first, then the index (see package
// invariants). It returns the UIDs removed.
func (m *Mailbox) Expunge(ctx context.Context, uids []uint32, origin *Sub) ([]uint32, error) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	var entries []folder.Entry
	err := m.acct.idx.View(func(tx *index.Tx) error {
		for _, uid := range uids {
			msg, ok, err := tx.Message(m.id, uid)
			if err != nil {
				return err
			}
			if ok {
				entries = append(entries, folder.Entry{Key: msg.Key, Name: msg.Name})
			}
		}
		return nil
	})
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	if err := m.folder().Remove(entries); err != nil {
		return nil, err
	}
	var gone []uint32
	var modseq uint64
	err = m.acct.idx.Commit(func(tx *index.Tx) error {
		var err error
		if gone, err = tx.Expunge(m.id, append([]uint32(nil), uids...)); err != nil {
			return err
		}
		mb, err := tx.MailboxByID(m.id)
		modseq = mb.HighestModSeq
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(gone) > 0 {
		m.acct.hub.Publish(Event{Mailbox: m.id, Kind: Expunged, UIDs: gone, ModSeq: modseq, Origin: origin})
	}
	return gone, nil
}
