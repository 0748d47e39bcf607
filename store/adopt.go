package store

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/index"
)

// Adopting a store another server left (Dovecot's Maildir++ with its
// dovecot-uidlist, dovecot-keywords and subscriptions) so its clients see
// no change: the same UIDs, UIDVALIDITY and UIDNEXT, keywords, subscriptions
// and POP3 UIDLs. It runs in openAccount, before the account is returned,
// so no session has seen the mailbox under other UIDs.
//
// Invariants:
//   - A uidlist is applied to a mailbox the index did not know until this
//     open, or to one whose adoption was cut short (no adoption mark yet
//     and the uidlist's UIDVALIDITY already in place). A mailbox storaged
//     already indexed under its own UIDVALIDITY keeps it: its uidlist is
//     stale, and applying it could give a UID twice. Either way the folder
//     is marked afterwards, and a marked folder's uidlist is never read
//     again, not even for an index rebuilt after loss (whose UIDVALIDITYs
//     then come from the clock, above every one adopted).
//   - A UID from the uidlist is used only when the index has no message
//     and no tombstone under it (index.AddMessageUID); otherwise, and for
//     files the uidlist does not list, the message gets the next UID, as
//     files other programs drop in always do. A corrupt uidlist is logged
//     and ignored: new UIDVALIDITY, nothing reused.

// adoptBatch is how many messages one index commit adopts: memory stays
// bounded by it (parsed structures), not by the folder.
const adoptBatch = 256

func (a *Account) adoptForeign(ctx context.Context, created []string) error {
	fresh := make(map[string]bool, len(created))
	for _, n := range created {
		fresh[n] = true
	}
	if fresh[folder.Inbox] {
		if err := a.adoptSubscriptions(); err != nil {
			return err
		}
	}
	mbs, err := a.Mailboxes()
	if err != nil {
		return err
	}
	for _, info := range mbs {
		m, err := a.Mailbox(info.Name)
		if err != nil {
			return err
		}
		hist, ok := m.folder().(folder.UIDHistory)
		if !ok || hist.Adopted() {
			continue
		}
		log := a.log.With("mailbox", info.Name)
		uids := make(map[string]folder.ForeignUID)
		hdr, ok, err := hist.ReadForeignUIDs(func(u folder.ForeignUID) error {
			uids[u.Key] = u
			return nil
		})
		switch {
		case errors.Is(err, folder.ErrCorruptRecord):
			log.Error("dovecot-uidlist unreadable; ignored: the mailbox gets a new UIDVALIDITY", "err", err)
			if err := hist.MarkAdopted(); err != nil {
				return err
			}
			continue
		case err != nil:
			return fmt.Errorf("store: adopt %s: %w", info.Name, err)
		case !ok:
			continue
		}
		if !fresh[info.Name] && info.UIDValidity != hdr.UIDValidity {
			log.Warn("dovecot-uidlist not applied: storaged already indexes this mailbox under its own UIDVALIDITY", "uidvalidity", info.UIDValidity, "uidlist_uidvalidity", hdr.UIDValidity)
			if err := hist.MarkAdopted(); err != nil {
				return err
			}
			continue
		}
		if hdr.Skipped > 0 {
			log.Warn("dovecot-uidlist lines skipped", "lines", hdr.Skipped)
		}
		n, err := m.adopt(ctx, hdr, uids)
		if err != nil {
			return fmt.Errorf("store: adopt %s: %w", info.Name, err)
		}
		if err := hist.MarkAdopted(); err != nil {
			return err
		}
		log.Info("adopted Dovecot mailbox", "uidvalidity", hdr.UIDValidity, "messages", n, "uidlist_lines", len(uids))
	}
	return a.markUIDValidity()
}

// adoptSubscriptions takes over the subscriptions another server kept,
// when the index is new: afterwards ours are the truth.
func (a *Account) adoptSubscriptions() error {
	fs, ok := a.files.(folder.ForeignSubscriptions)
	if !ok {
		return nil
	}
	names, ok, err := fs.ReadForeignSubscriptions()
	if err != nil {
		a.log.Error("subscriptions file unreadable; ignored", "err", err)
		return nil
	}
	if !ok || len(names) == 0 {
		return nil
	}
	return a.idx.Commit(func(tx *index.Tx) error {
		for _, n := range names {
			if err := tx.Subscribe(n); err != nil {
				return err
			}
		}
		return nil
	})
}

// adopt indexes the folder's files with the UIDs uids gives them, after
// setting UIDVALIDITY and UIDNEXT from hdr. It returns how many messages
// it added.
func (m *Mailbox) adopt(ctx context.Context, hdr folder.ForeignUIDs, uids map[string]folder.ForeignUID) (int, error) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	a := m.acct
	var info index.Mailbox
	if err := a.idx.View(func(tx *index.Tx) (err error) { info, err = tx.MailboxByID(m.id); return err }); err != nil {
		return 0, err
	}
	known := make(map[string]bool)
	if info.Messages == 0 {
		if err := a.idx.Commit(func(tx *index.Tx) error { return tx.SetUIDs(m.id, hdr.UIDValidity, hdr.UIDNext) }); err != nil {
			return 0, err
		}
	} else {
		err := a.idx.View(func(tx *index.Tx) error {
			return tx.ForEachMessage(m.id, func(msg *index.Message) error { known[msg.Key] = true; return nil })
		})
		if err != nil {
			return 0, err
		}
	}
	entries, _, err := m.folder().Scan(ctx)
	if err != nil {
		return 0, err
	}
	var listed, unlisted []folder.Entry
	for _, e := range entries {
		if known[e.Key] {
			continue
		}
		if _, ok := uids[e.Key]; ok {
			listed = append(listed, e)
			continue
		}
		st, err := m.folder().Stat(e)
		if errors.Is(err, folder.ErrGone) {
			continue
		}
		if err != nil {
			return 0, err
		}
		unlisted = append(unlisted, st)
	}
	entries = nil
	// Listed files first, so UIDNEXT is past them before unlisted ones
	// take the next UIDs, in arrival order as Sync gives them.
	sort.Slice(listed, func(i, j int) bool { return uids[listed[i].Key].UID < uids[listed[j].Key].UID })
	sort.SliceStable(unlisted, func(i, j int) bool {
		if !unlisted[i].Date.Equal(unlisted[j].Date) {
			return unlisted[i].Date.Before(unlisted[j].Date)
		}
		return unlisted[i].Key < unlisted[j].Key
	})
	added := 0
	all := append(listed, unlisted...)
	for len(all) > 0 {
		chunk := all[:min(adoptBatch, len(all))]
		all = all[len(chunk):]
		adds, err := m.prepareAdds(ctx, chunk)
		if err != nil {
			return added, err
		}
		var taken []uint32
		err = a.idx.Commit(func(tx *index.Tx) error {
			taken = taken[:0]
			for _, nm := range adds {
				u, ok := uids[nm.Key]
				if !ok {
					if _, err := tx.AddMessage(m.id, nm); err != nil {
						return err
					}
					continue
				}
				nm.POP3UIDL = u.POP3UIDL
				_, err := tx.AddMessageUID(m.id, u.UID, nm)
				if errors.Is(err, index.ErrUIDTaken) {
					taken = append(taken, u.UID)
					_, err = tx.AddMessage(m.id, nm)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return added, err
		}
		if len(taken) > 0 {
			a.log.Warn("dovecot-uidlist UIDs already used here; those messages got new UIDs", "mailbox_id", m.id, "uids", taken)
		}
		added += len(adds)
	}
	return added, nil
}
