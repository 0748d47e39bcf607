package store

import (
	"context"
	"errors"
	"sort"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/index"
)

// A View is one session's picture of a selected mailbox, independent of
// any protocol: the message sequence (sequence number = position + 1,
// RFC 9051 §2.3.1.2), which messages are \Recent for this session, and
// the changes other sessions made that this one has not yet told its
// client about.
//
// Invariants:
//   - The sequence only changes in Updates: an expunge made elsewhere
//     keeps its UID in the sequence until Updates is allowed to report
//     expunges (RFC 9051 §7.5.1: not during FETCH, STORE or SEARCH), so
//     sequence numbers the client holds stay valid.
//   - Messages are appended to the sequence in UID order.
//   - An expunge held back that way keeps the MODSEQ of its expunge
//     (its tombstone's) until it is reported, so that the session can
//     keep its client's HIGHESTMODSEQ below it (WithheldExpungeModSeq).
//   - A View is used by one session goroutine at a time.
type View struct {
	mb       *Mailbox
	sub      *Sub
	readOnly bool

	uids   []uint32
	recent map[uint32]bool

	// Owed to the client, in hub order. owedExpunge maps each UID to
	// the MODSEQ of its expunge (0: the index has no tombstone for it).
	owedExpunge map[uint32]uint64
	owedAdd     []uint32
	owedFlags   map[uint32]bool
	resync      bool
	// void: the mailbox was rebuilt under a new UIDVALIDITY.
	void bool
	// newKeywords are keywords changes set since NewKeywords last ran.
	newKeywords []string
}

// UpdateKind says what an Update reports.
type UpdateKind uint8

const (
	UpdateExpunge UpdateKind = iota + 1 // Seq was removed
	UpdateExists                        // the mailbox now has Count messages
	UpdateRecent                        // Count messages are \Recent
	UpdateFlags                         // message Seq/UID has new flags
)

// Update is one change to tell the client, in order.
type Update struct {
	Kind  UpdateKind
	Seq   uint32
	UID   uint32
	Count uint32
}

// OpenView syncs the mailbox and returns a view of it. A read-write view
// (SELECT) takes the \Recent messages no other session has seen; a
// read-only one (EXAMINE) changes nothing.
func (m *Mailbox) OpenView(ctx context.Context, readOnly bool) (*View, error) {
	if err := m.Sync(ctx); err != nil {
		return nil, err
	}
	v := &View{mb: m, readOnly: readOnly, recent: map[uint32]bool{}, owedExpunge: map[uint32]uint64{}, owedFlags: map[uint32]bool{}}
	// Subscribe before reading, so that nothing committed in between is
	// missed; what is both read and announced is filtered by UID.
	v.sub = m.acct.hub.Subscribe(m.id)
	if err := v.load(); err != nil {
		v.sub.Close()
		return nil, err
	}
	return v, nil
}

func (v *View) load() error {
	uids := make([]uint32, 0, 64)
	var recentFrom, uidNext uint32
	err := v.mb.acct.idx.View(func(tx *index.Tx) error {
		mb, err := tx.MailboxByID(v.mb.id)
		if err != nil {
			return err
		}
		recentFrom, uidNext = mb.RecentUID, mb.UIDNext
		return tx.ForEachUID(v.mb.id, func(uid uint32) error {
			uids = append(uids, uid)
			return nil
		})
	})
	if err != nil {
		return err
	}
	v.uids = uids
	if v.readOnly {
		// RFC 3501 §6.3.2: EXAMINE reports the \Recent messages and
		// leaves them \Recent for the next SELECT.
		v.markRecent(recentFrom, uidNext)
		return nil
	}
	if recentFrom < uidNext {
		if err := v.claimRecent(uidNext); err != nil {
			return err
		}
	}
	return nil
}

// claimRecent makes messages below upTo \Recent in this view if no other
// session has claimed them (RFC 3501 §2.3.2: recent in one session only).
// A read-only view (EXAMINE) shows them \Recent and claims nothing, as
// load does.
func (v *View) claimRecent(upTo uint32) error {
	var from uint32
	if v.readOnly {
		err := v.mb.acct.idx.View(func(tx *index.Tx) error {
			mb, err := tx.MailboxByID(v.mb.id)
			from = mb.RecentUID
			return err
		})
		if err != nil {
			return err
		}
		v.markRecent(from, upTo)
		return nil
	}
	err := v.mb.acct.idx.Commit(func(tx *index.Tx) error {
		mb, err := tx.MailboxByID(v.mb.id)
		if err != nil {
			return err
		}
		from = mb.RecentUID
		if from >= upTo {
			return nil
		}
		mb.RecentUID = upTo
		return tx.PutMailbox(mb)
	})
	if err != nil {
		return err
	}
	v.markRecent(from, upTo)
	return nil
}

func (v *View) markRecent(from, upTo uint32) {
	for _, uid := range v.uids {
		if uid >= from && uid < upTo {
			v.recent[uid] = true
		}
	}
}

// Close ends the view.
func (v *View) Close() { v.sub.Close() }

// Mailbox is the viewed mailbox.
func (v *View) Mailbox() *Mailbox { return v.mb }

// ReadOnly reports whether the view was opened read-only.
func (v *View) ReadOnly() bool { return v.readOnly }

// Sub is the view's hub subscription, to pass as Origin of its changes.
func (v *View) Sub() *Sub { return v.sub }

// Changed is ready when other sessions or deliveries changed the mailbox.
func (v *View) Changed() <-chan struct{} { return v.sub.C }

// Len is the number of messages the client knows.
func (v *View) Len() int { return len(v.uids) }

// UIDs returns the sequence; do not modify it.
func (v *View) UIDs() []uint32 { return v.uids }

// UID returns the UID at sequence number seq (1-based), 0 if none.
func (v *View) UID(seq uint32) uint32 {
	if seq == 0 || int(seq) > len(v.uids) {
		return 0
	}
	return v.uids[seq-1]
}

// Seq returns the sequence number of uid, 0 if it is not in the view.
func (v *View) Seq(uid uint32) uint32 {
	i := sort.Search(len(v.uids), func(i int) bool { return v.uids[i] >= uid })
	if i < len(v.uids) && v.uids[i] == uid {
		return uint32(i + 1)
	}
	return 0
}

// IsRecent reports whether uid is \Recent in this session.
func (v *View) IsRecent(uid uint32) bool { return v.recent[uid] }

// NumRecent counts this session's \Recent messages.
func (v *View) NumRecent() int { return len(v.recent) }

// NewKeywords returns the keywords changes have set since it last ran
// (they may repeat, and may be known already): a session announces the
// new ones before anything else it owes.
func (v *View) NewKeywords() []string {
	v.take()
	k := v.newKeywords
	v.newKeywords = nil
	return k
}

// Refresh takes in the changes published since the view last looked, so
// that Expunged knows of every expunge so far (nothing is reported).
func (v *View) Refresh() { v.take() }

// Expunged reports whether uid was expunged and the client not yet told.
func (v *View) Expunged(uid uint32) bool { _, ok := v.owedExpunge[uid]; return ok }

// WithheldExpungeModSeq returns the lowest MODSEQ among the expunges of
// messages still in the sequence (held back from the client because
// Updates was not allowed to report them), 0 if there is none. A session
// that shows its client a MODSEQ at or above it must then lower the
// client's HIGHESTMODSEQ below it (RFC 7162 §3.2), or a client that
// resynchronises from that MODSEQ never hears of the expunge.
func (v *View) WithheldExpungeModSeq() uint64 {
	v.take()
	var low uint64
	for uid, ms := range v.owedExpunge {
		// A message the client never saw (added and expunged between
		// two Updates) is nothing it can miss; one without a tombstone
		// (ms 0) is not reported by VANISHED (EARLIER) whatever the
		// client's MODSEQ.
		if ms == 0 || v.Seq(uid) == 0 {
			continue
		}
		if low == 0 || ms < low {
			low = ms
		}
	}
	return low
}

// take moves events from the hub into what the view owes.
func (v *View) take() {
	events, overflow := v.sub.Take()
	if overflow {
		v.resync = true
	}
	for _, e := range events {
		v.newKeywords = append(v.newKeywords, e.Keywords...)
		switch e.Kind {
		case Added:
			v.owedAdd = append(v.owedAdd, e.UIDs...)
		case Expunged:
			for _, uid := range e.UIDs {
				if ms, ok := v.owedExpunge[uid]; !ok || ms == 0 || e.ModSeq < ms {
					v.owedExpunge[uid] = e.ModSeq
				}
				delete(v.owedFlags, uid)
			}
		case FlagsSet:
			if e.Origin == v.sub {
				// The session reports its own STORE itself.
				continue
			}
			for _, uid := range e.UIDs {
				v.owedFlags[uid] = true
			}
		case Removed, Rebuilt:
			v.resync = true
		case UIDValidityChanged:
			v.void = true
		}
	}
}

// Owes reports, without applying anything, whether the view owes the
// client messages (new or expunged ones) and flag changes: NOTIFY pushes
// only the kinds its client asked for.
func (v *View) Owes() (messages, flags bool) {
	v.take()
	return len(v.owedAdd) > 0 || len(v.owedExpunge) > 0 || v.resync, len(v.owedFlags) > 0
}

// ErrMailboxGone is returned when the viewed mailbox was deleted.
var ErrMailboxGone = errors.New("the selected mailbox was deleted")

// Updates applies what the view owes and returns it for the client, in
// the order to send: expunges (only if allowExpunge), then EXISTS and
// RECENT for new messages, then flag changes.
func (v *View) Updates(allowExpunge bool) ([]Update, error) {
	v.take()
	if v.void {
		return nil, ErrUIDValidityChanged
	}
	var out []Update
	if v.resync && allowExpunge {
		if err := v.rebuild(); err != nil {
			return nil, err
		}
	}
	if allowExpunge {
		out = v.applyExpunges()
	}
	if len(v.owedAdd) > 0 {
		last := uint32(0)
		if len(v.uids) > 0 {
			last = v.uids[len(v.uids)-1]
		}
		// The new messages are what the index holds above the last UID
		// the client knows, not the UIDs in the events: two appends that
		// commit 10 then 11 may publish 11 first, and a view that took 11
		// from its event could never show 10 (sequence numbers follow
		// UIDs). The index always holds a prefix of the UIDs it gave.
		var added []uint32
		err := v.mb.acct.idx.View(func(tx *index.Tx) error {
			return tx.ForEachUIDFrom(v.mb.id, last+1, func(uid uint32) error {
				added = append(added, uid)
				return nil
			})
		})
		if err != nil {
			return nil, err
		}
		var maxUID uint32
		for _, uid := range added {
			if uid > last && !v.Expunged(uid) {
				v.uids = append(v.uids, uid)
				last, maxUID = uid, uid
			}
		}
		v.owedAdd = v.owedAdd[:0]
		if maxUID > 0 {
			if err := v.claimRecent(maxUID + 1); err != nil {
				return nil, err
			}
			out = append(out, Update{Kind: UpdateExists, Count: uint32(len(v.uids))})
			out = append(out, Update{Kind: UpdateRecent, Count: uint32(len(v.recent))})
		}
	}
	if len(v.owedFlags) > 0 {
		var uids []uint32
		for uid := range v.owedFlags {
			if seq := v.Seq(uid); seq > 0 && !v.Expunged(uid) {
				uids = append(uids, uid)
			}
		}
		sort.Slice(uids, func(i, j int) bool { return uids[i] < uids[j] })
		for _, uid := range uids {
			out = append(out, Update{Kind: UpdateFlags, Seq: v.Seq(uid), UID: uid})
		}
		v.owedFlags = map[uint32]bool{}
	}
	return out, nil
}

// rebuild recovers from a hub overflow: everything the index no longer
// has is owed as an expunge, everything new as an addition.
func (v *View) rebuild() error {
	v.resync = false
	have := map[uint32]bool{}
	// The MODSEQs of the expunges, which the dropped events carried.
	tombs := map[uint32]uint64{}
	err := v.mb.acct.idx.View(func(tx *index.Tx) error {
		if err := tx.ForEachUID(v.mb.id, func(uid uint32) error { have[uid] = true; return nil }); err != nil {
			return err
		}
		return tx.Tombstones(v.mb.id, func(uid uint32, ms uint64) error { tombs[uid] = ms; return nil })
	})
	if errors.Is(err, folder.ErrNotFound) {
		return ErrMailboxGone
	}
	if err != nil {
		return err
	}
	last := uint32(0)
	for _, uid := range v.uids {
		if !have[uid] {
			v.owedExpunge[uid] = tombs[uid]
		}
		last = uid
	}
	v.owedAdd = v.owedAdd[:0]
	for uid := range have {
		if uid > last {
			v.owedAdd = append(v.owedAdd, uid)
		}
	}
	return nil
}

// ExpungeUpdates applies and returns only the owed expunges, leaving
// additions and flag changes owed: for responses that can carry nothing
// else (EXPUNGE, MOVE).
func (v *View) ExpungeUpdates() ([]Update, error) {
	v.take()
	return v.applyExpunges(), nil
}

// applyExpunges removes owed expunges from the sequence. Each EXPUNGE
// renumbers the messages after it, so a message's sequence number is its
// position among those kept so far.
func (v *View) applyExpunges() []Update {
	if len(v.owedExpunge) == 0 {
		return nil
	}
	var out []Update
	kept := v.uids[:0]
	for _, uid := range v.uids {
		if v.Expunged(uid) {
			out = append(out, Update{Kind: UpdateExpunge, Seq: uint32(len(kept) + 1), UID: uid})
			delete(v.recent, uid)
			continue
		}
		kept = append(kept, uid)
	}
	v.uids = kept
	// Messages added and expunged between two polls were never shown:
	// drop them from the additions too.
	adds := v.owedAdd[:0]
	for _, uid := range v.owedAdd {
		if !v.Expunged(uid) {
			adds = append(adds, uid)
		}
	}
	v.owedAdd = adds
	v.owedExpunge = map[uint32]uint64{}
	return out
}
