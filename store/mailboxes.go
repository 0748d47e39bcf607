package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/index"
	"github.com/storaged/storaged/quota"
)

// Mailboxes lists the account's mailboxes, sorted by name.
func (a *Account) Mailboxes() ([]MailboxInfo, error) {
	var mbs []index.Mailbox
	err := a.idx.View(func(tx *index.Tx) (err error) { mbs, err = tx.Mailboxes(); return err })
	out := make([]MailboxInfo, len(mbs))
	for i := range mbs {
		out[i] = MailboxInfo(mbs[i])
	}
	return out, err
}

// Subscriptions lists the subscribed names, which need not exist.
func (a *Account) Subscriptions() ([]string, error) {
	var out []string
	err := a.idx.View(func(tx *index.Tx) error { out = tx.Subscriptions(); return nil })
	return out, err
}

// Subscribe adds or removes a subscription (RFC 9051 §6.3.7: a name may
// be subscribed whether or not it exists).
func (a *Account) Subscribe(name string, on bool) error {
	if err := folder.CheckName(name); err != nil {
		return err
	}
	name = folder.CanonicalName(name)
	err := a.idx.Commit(func(tx *index.Tx) error {
		if on {
			return tx.Subscribe(name)
		}
		return tx.Unsubscribe(name)
	})
	if err == nil {
		kind := Unsubscribed
		if on {
			kind = Subscribed
		}
		a.hub.Publish(Event{Kind: kind, Name: name})
	}
	return err
}

// DeleteMailbox removes a mailbox and its messages; its children stay
// (RFC 9051 §6.3.5). INBOX cannot be deleted.
func (a *Account) DeleteMailbox(name string) error {
	if err := folder.CheckName(name); err != nil {
		return err
	}
	name = folder.CanonicalName(name)
	if name == folder.Inbox {
		return fmt.Errorf("%w: INBOX cannot be deleted", folder.ErrBadName)
	}
	a.awaitLazy() // no commit of an early append into a removed mailbox
	a.mu.Lock()
	defer a.mu.Unlock()
	var mb index.Mailbox
	if err := a.idx.View(func(tx *index.Tx) (err error) { mb, err = tx.Mailbox(name); return err }); err != nil {
		if errors.Is(err, folder.ErrNotFound) {
			return fmt.Errorf("%w: %s", folder.ErrNotFound, name)
		}
		return err
	}
	// Files first: a crash after leaves an index entry whose folder is
	// gone, which the next start drops.
	if err := a.files.Delete(name); err != nil && !errors.Is(err, folder.ErrNotFound) {
		return err
	}
	if err := a.idx.Commit(func(tx *index.Tx) error { return tx.DeleteMailbox(name) }); err != nil {
		return err
	}
	delete(a.mailboxes, mb.ID)
	a.hub.Publish(Event{Mailbox: mb.ID, Kind: Removed, Name: name})
	return nil
}

// RenameMailbox renames a mailbox and its children, keeping their
// UIDVALIDITY and UIDs. Renaming INBOX moves its messages into a new
// mailbox and leaves INBOX empty (RFC 9051 §6.3.6).
func (a *Account) RenameMailbox(ctx context.Context, oldName, newName string) error {
	for _, n := range []string{oldName, newName} {
		if err := folder.CheckName(n); err != nil {
			return err
		}
	}
	oldName, newName = folder.CanonicalName(oldName), folder.CanonicalName(newName)
	if newName == folder.Inbox || strings.HasPrefix(newName, oldName+folder.Separator) {
		return fmt.Errorf("%w: cannot rename %s to %s", folder.ErrBadName, oldName, newName)
	}
	// Early appends' files are named in the folder being renamed; their
	// commits come first.
	a.awaitLazy()
	if oldName == folder.Inbox {
		return a.renameInbox(ctx, newName)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	mbs, err := a.Mailboxes()
	if err != nil {
		return err
	}
	var moves [][2]string
	found := false
	for _, mb := range mbs {
		if mb.Name == newName || strings.HasPrefix(mb.Name, newName+folder.Separator) {
			return fmt.Errorf("%w: %s", folder.ErrExists, mb.Name)
		}
		if mb.Name == oldName {
			found = true
			moves = append(moves, [2]string{mb.Name, newName})
		} else if rest, ok := strings.CutPrefix(mb.Name, oldName+folder.Separator); ok {
			moves = append(moves, [2]string{mb.Name, newName + folder.Separator + rest})
		}
	}
	if !found {
		return fmt.Errorf("%w: %s", folder.ErrNotFound, oldName)
	}
	// Parents the new name needs exist as mailboxes first (RFC 9051
	// §6.3.6): formats that nest directories (MH, mbox) move into them.
	if parent, ok := folder.Parent(newName); ok && !a.files.Exists(parent) {
		a.mu.Unlock()
		err := a.CreateMailbox(parent, "")
		a.mu.Lock()
		if err != nil && !errors.Is(err, folder.ErrExists) {
			return err
		}
	}
	if err := a.files.Rename(oldName, newName); err != nil {
		return err
	}
	err = a.idx.Commit(func(tx *index.Tx) error {
		for _, m := range moves {
			if err := tx.RenameMailbox(m[0], m[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Open handles keep working: their folder object follows the move.
	// Handles stay the same objects, so their pending sets and write
	// locks stay the only ones for their mailboxes.
	for _, mb := range mbs {
		h, ok := a.mailboxes[mb.ID]
		if !ok {
			continue
		}
		for _, m := range moves {
			if m[0] == mb.Name {
				f, err := a.files.Folder(m[1])
				if err != nil {
					return err
				}
				h.fmu.Lock()
				h.f = f
				h.fmu.Unlock()
			}
		}
	}
	for _, mb := range mbs {
		for _, m := range moves {
			if m[0] == mb.Name {
				a.hub.Publish(Event{Mailbox: mb.ID, Kind: Renamed, Name: m[1], OldName: m[0]})
			}
		}
	}
	return nil
}

func (a *Account) renameInbox(ctx context.Context, newName string) error {
	if err := a.CreateMailbox(newName, ""); err != nil {
		return err
	}
	src, err := a.Mailbox(folder.Inbox)
	if err != nil {
		return err
	}
	dst, err := a.Mailbox(newName)
	if err != nil {
		return err
	}
	var uids []uint32
	a.idx.View(func(tx *index.Tx) error {
		return tx.ForEachUID(src.id, func(uid uint32) error { uids = append(uids, uid); return nil })
	})
	_, _, err = src.MoveTo(ctx, dst, uids, nil)
	return err
}

// CopyTo copies messages into dst with their flags and internal dates,
// returning the source UIDs copied and the UIDs they got (UIDPLUS). The
// whole set must fit the quota, or nothing is copied (quota.ErrOverQuota).
func (m *Mailbox) CopyTo(ctx context.Context, dst *Mailbox, uids []uint32) (src, dest []uint32, err error) {
	return m.copyTo(ctx, dst, uids, false, nil)
}

// MoveTo copies messages into dst, then expunges them here (RFC 6851),
// telling origin's subscribers nothing of its own expunge. The quota sees
// the net change: nothing, unless one of the two is a mailbox the rules
// ignore.
func (m *Mailbox) MoveTo(ctx context.Context, dst *Mailbox, uids []uint32, origin *Sub) (src, dest []uint32, err error) {
	return m.copyTo(ctx, dst, uids, true, origin)
}

func (m *Mailbox) copyTo(ctx context.Context, dst *Mailbox, uids []uint32, move bool, origin *Sub) (src, dest []uint32, err error) {
	var msgs []index.Message
	err = m.acct.idx.View(func(tx *index.Tx) error {
		for _, uid := range uids {
			msg, ok, err := tx.Message(m.id, uid)
			if err != nil {
				return err
			}
			if ok {
				msgs = append(msgs, msg)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var add quota.Usage
	for _, msg := range msgs {
		add.Storage += msg.CRLFSize
		add.Messages++
	}
	if move {
		if moved, err := m.acct.movedUsage(m, add); err != nil {
			return nil, nil, err
		} else {
			add = moved
		}
	}
	res, err := m.acct.reserve(dst, add)
	if err != nil {
		return nil, nil, err
	}
	defer res.release()
	held := res
	if held == nil {
		held = noQuota
	}
	for _, msg := range msgs {
		r, err := m.Open(Message(msg))
		if errors.Is(err, folder.ErrGone) {
			continue
		}
		if err != nil {
			return src, dest, err
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return src, dest, err
		}
		got, err := dst.append(ctx, b, AppendOptions{Flags: msg.Flags, Date: msg.InternalDate}, held)
		if err != nil {
			return src, dest, err
		}
		src, dest = append(src, msg.UID), append(dest, got.UID)
	}
	if move && len(src) > 0 {
		if _, err := m.Expunge(ctx, src, origin); err != nil {
			return src, dest, err
		}
	}
	res.warn(ctx)
	return src, dest, nil
}
