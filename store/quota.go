package store

// Quota (see package quota for the rules): usage is the index's per-user
// totals (kept in the same transactions as appends and expunges) less the
// mailboxes the rules ignore, plus what appends in flight have reserved.
//
// Invariants:
//   - An append reserves its size before any file is written and keeps
//     the reservation until its index commit is done (or failed): two
//     appends racing for the last megabyte cannot both get it.
//   - A COPY or MOVE reserves the whole set at once, so it fits entirely
//     or changes nothing.
//   - Without limits nothing is read or locked: quota off costs nothing.
//   - A warning is one message into INBOX when an append takes usage
//     across a threshold upwards; it is not itself counted against the
//     limit (a user at 99 % still gets told).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/index"
	"github.com/storaged/storaged/quota"
)

// QuotaOptions configure limits and warnings.
type QuotaOptions struct {
	// Limits returns a user's limits; nil means none for anyone.
	Limits func(user string) (quota.Limits, error)
	// Warnings are thresholds in percent of a limit (80, 95).
	Warnings []int
	// WarningMessage builds the message a crossing delivers to INBOX.
	WarningMessage func(user string, percent int, u quota.Usage, l quota.Limits, now time.Time) []byte
}

// Limits returns the account's limits now.
func (a *Account) Limits() (quota.Limits, error) {
	if a.quota.Limits == nil {
		return quota.Limits{}, nil
	}
	l, err := a.quota.Limits(a.user)
	if err != nil {
		return quota.Limits{}, fmt.Errorf("store: quota limits of %s: %w", a.user, err)
	}
	return l, nil
}

// Usage returns what the account's mailboxes hold, as the limits count it.
func (a *Account) Usage() (quota.Usage, error) {
	l, err := a.Limits()
	if err != nil {
		return quota.Usage{}, err
	}
	u, err := a.usage(l)
	if err != nil {
		return u, err
	}
	// What appends in flight hold: an early append is answered before
	// its index commit, and counts from its answer on.
	a.qmu.Lock()
	u.Storage += a.reserved.Storage
	u.Messages += a.reserved.Messages
	a.qmu.Unlock()
	return u, nil
}

func (a *Account) usage(l quota.Limits) (quota.Usage, error) {
	var u quota.Usage
	err := a.idx.View(func(tx *index.Tx) error {
		u.Messages, u.Storage = tx.Totals()
		for _, name := range l.IgnoredMailboxes() {
			mb, err := tx.Mailbox(name)
			if err != nil {
				continue // no such mailbox: nothing to leave out
			}
			u.Messages -= int64(mb.Messages)
			u.Storage -= mb.Size
		}
		return nil
	})
	u.Messages, u.Storage = max(u.Messages, 0), max(u.Storage, 0)
	return u, err
}

// movedUsage is what moving messages of size moved out of src adds to
// usage: nothing, unless src is a mailbox the rules ignore (then all of
// it: the destination decides whether it fits).
func (a *Account) movedUsage(src *Mailbox, moved quota.Usage) (quota.Usage, error) {
	l, err := a.Limits()
	if err != nil || l.None() || len(l.Rules) == 0 {
		return quota.Usage{}, err
	}
	info, err := src.Info()
	if err != nil {
		return quota.Usage{}, err
	}
	if l.Ignored(info.Name) {
		return moved, nil
	}
	return quota.Usage{}, nil
}

// reservation is quota held by appends in flight.
type reservation struct {
	a       *Account
	held    quota.Usage
	crossed int // the warning threshold this change crosses, or 0
}

// reserve checks that add fits when saving into m and holds it. A nil
// reservation (and nil error) means there is nothing to hold: no limits,
// or a mailbox the rules ignore.
func (a *Account) reserve(m *Mailbox, add quota.Usage) (*reservation, error) {
	l, err := a.Limits()
	if err != nil {
		return nil, err
	}
	if l.None() {
		return nil, nil
	}
	a.qmu.Lock()
	defer a.qmu.Unlock()
	u, err := a.usage(l)
	if err != nil {
		return nil, err
	}
	name := ""
	if len(l.Rules) > 0 {
		// m.info, not Info: no waiting for early appends' commits, which
		// release their reservations under qmu.
		info, err := m.info()
		if err != nil {
			return nil, err
		}
		name = info.Name
		if l.Ignored(name) {
			return nil, nil
		}
	}
	u.Storage += a.reserved.Storage
	u.Messages += a.reserved.Messages
	if err := l.Check(u, name, add); err != nil {
		return nil, err
	}
	held := quota.Usage{Storage: max(add.Storage, 0), Messages: max(add.Messages, 0)}
	a.reserved.Storage += held.Storage
	a.reserved.Messages += held.Messages
	after := quota.Usage{Storage: u.Storage + add.Storage, Messages: u.Messages + add.Messages}
	return &reservation{a: a, held: held, crossed: l.Crossed(u, after, a.quota.Warnings)}, nil
}

// release gives the reservation back; the index totals now hold what
// was committed.
func (r *reservation) release() {
	if r == nil {
		return
	}
	r.a.qmu.Lock()
	r.a.reserved.Storage -= r.held.Storage
	r.a.reserved.Messages -= r.held.Messages
	r.a.qmu.Unlock()
}

// warn delivers the warning for a crossing, once the change is stored.
func (r *reservation) warn(ctx context.Context) {
	if r == nil || r.crossed == 0 || r.a.quota.WarningMessage == nil {
		return
	}
	a := r.a
	l, err := a.Limits()
	if err == nil {
		var u quota.Usage
		if u, err = a.usage(l); err == nil {
			var inbox *Mailbox
			if inbox, err = a.Mailbox("INBOX"); err == nil {
				msg := a.quota.WarningMessage(a.user, r.crossed, u, l, time.Now())
				_, err = inbox.append(ctx, msg, AppendOptions{}, noQuota)
			}
		}
	}
	if err != nil {
		a.log.Error("quota warning not delivered", "percent", r.crossed, "err", err)
		return
	}
	a.log.Info("quota warning delivered", "percent", r.crossed)
}

// noQuota marks an append that is not checked: a quota warning, or one
// inside a COPY that reserved for the whole set.
var noQuota = &reservation{}

// Recalc is what `storaged quota recalc` reports.
type Recalc struct {
	Before, After quota.Usage // the index's totals (every mailbox)
	Resized       int         // messages whose indexed size differed from their file
	Files         int         // message files read
}

// Recalc recounts the account from its files: it syncs every mailbox
// (files other programs added or removed), measures each message file in
// canonical form, corrects indexed sizes that differ, and recomputes the
// counters. Clients see nothing change but STATUS SIZE.
func (a *Account) Recalc(ctx context.Context) (Recalc, error) {
	var r Recalc
	if err := a.SyncAll(ctx); err != nil {
		return r, err
	}
	infos, err := a.Mailboxes()
	if err != nil {
		return r, err
	}
	for _, info := range infos {
		mb, err := a.Mailbox(info.Name)
		if err != nil {
			return r, err
		}
		var msgs []Message
		if err := mb.ForEach(func(m *Message) error { msgs = append(msgs, *m); return nil }); err != nil {
			return r, err
		}
		sizes := map[uint32][2]int64{}
		for _, m := range msgs {
			if err := ctx.Err(); err != nil {
				return r, err
			}
			disk, n, err := mb.measure(m)
			if errors.Is(err, folder.ErrGone) {
				continue // expunged meanwhile, or the next sync's to find
			}
			if err != nil {
				return r, err
			}
			r.Files++
			if n != m.CRLFSize || disk != m.Size {
				sizes[m.UID] = [2]int64{disk, n}
			}
		}
		if len(sizes) > 0 {
			err := a.idx.Commit(func(tx *index.Tx) error {
				for uid, n := range sizes {
					if err := tx.SetSize(mb.id, uid, n[0], n[1]); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return r, err
			}
			r.Resized += len(sizes)
		}
	}
	err = a.idx.Commit(func(tx *index.Tx) error {
		bm, bb, am, ab, err := tx.Recount()
		r.Before, r.After = quota.Usage{Storage: bb, Messages: bm}, quota.Usage{Storage: ab, Messages: am}
		return err
	})
	return r, err
}

// measure returns a message file's size on disk and canonical size, read
// to its end (Open would stop at the indexed size).
func (m *Mailbox) measure(msg Message) (disk, canonical int64, err error) {
	e, err := m.folder().Stat(folder.Entry{Key: msg.Key, Name: msg.Name})
	if err != nil {
		return 0, 0, err
	}
	rc, err := m.folder().Open(folder.Entry{Key: e.Key, Name: e.Name})
	if err != nil {
		return 0, 0, err
	}
	defer rc.Close()
	canonical, err = io.Copy(io.Discard, rc)
	return e.Size, canonical, err
}
