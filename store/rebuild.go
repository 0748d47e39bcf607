package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/index"
)

// Rebuilding an index from the files (`storaged index rebuild`, and the
// open of an account whose index is damaged), keeping what the old
// index still knows.
//
// Invariants, on top of the package's:
//   - A message keeps its UID when a readable record of the old index
//     (or a dovecot-uidlist of the same UIDVALIDITY) gives one for its
//     file; its flags and keywords come from that record, merged with
//     what the format records as Sync merges them.
//   - UIDVALIDITY is kept only when every UID the old index gives is
//     below its UIDNEXT, no tombstone and given to one file; otherwise
//     the mailbox gets a new UIDVALIDITY, greater than any the index gave.
//   - A new UID is above every UID the old index shows (UIDNEXT, records
//     and tombstones): no UID is ever given twice inside a UIDVALIDITY,
//     and a UID a session still holds (POP3's snapshot) names no other
//     message after a change of UIDVALIDITY either.
//   - A mailbox is rebuilt in one index commit, under its write lock:
//     sessions see it before or after, never half done. Appends do not
//     take that lock; what one committed since the old state was read is
//     carried over as it is.
//   - Sessions with the mailbox selected are told as for any change
//     (expunges, new messages, flags); after a change of UIDVALIDITY
//     their views fail with ErrUIDValidityChanged and IMAP disconnects
//     them (RFC 9051 §2.3.1.1: UIDs of an earlier session must persist).

// ErrUIDValidityChanged: the viewed mailbox was rebuilt under a new
// UIDVALIDITY; the session's UIDs mean nothing any more.
var ErrUIDValidityChanged = fmt.Errorf("%w: its index was rebuilt with a new UIDVALIDITY", ErrMailboxGone)

// RebuiltMailbox is what a rebuild did to one mailbox.
type RebuiltMailbox struct {
	Mailbox  string `json:"mailbox"`
	Messages int    `json:"messages"`
	// KeptUIDs messages kept the UID they had; NewUIDs got a new one.
	KeptUIDs int `json:"kept_uids"`
	NewUIDs  int `json:"new_uids"`
	// Gone: messages the old index had whose files are gone.
	Gone            int    `json:"gone"`
	UIDValidity     uint32 `json:"uidvalidity"`
	OldUIDValidity  uint32 `json:"old_uidvalidity,omitempty"`
	UIDValidityKept bool   `json:"uidvalidity_kept"`
	// Source: where the kept UIDs came from ("index", "dovecot-uidlist",
	// "index+dovecot-uidlist", "" for none); Why: why UIDVALIDITY changed.
	Source string `json:"source,omitempty"`
	Why    string `json:"why,omitempty"`
}

// Rebuild is what a rebuild of one account did.
type Rebuild struct {
	User string `json:"user"`
	// Damaged: the old index could not be read whole; MovedTo is where
	// the damaged file was kept, when it was moved aside.
	Damaged   bool             `json:"damaged"`
	MovedTo   string           `json:"moved_to,omitempty"`
	Mailboxes []RebuiltMailbox `json:"mailboxes"`
}

// RebuildIndex rebuilds the user's index from the files, every mailbox
// or only the one named. An index that cannot be opened is salvaged,
// moved aside and rebuilt whole (whatever only says); a sound one is
// rebuilt in place, while sessions go on.
func (a *Accounts) RebuildIndex(ctx context.Context, user, only string) (*Rebuild, error) {
	a.mu.Lock()
	_, wasOpen := a.open[user]
	a.mu.Unlock()
	idxPath := filepath.Join(a.opts.IndexDir, user, "index.db")
	_, statErr := os.Stat(idxPath)
	missing := errors.Is(statErr, os.ErrNotExist)
	acct, err := a.Open(ctx, user)
	if err != nil {
		return nil, err
	}
	if !wasOpen {
		if r := acct.takeOpenRebuild(); r != nil {
			return r, nil
		}
		if missing {
			// Open built it already: no record was left to keep UIDs by.
			return acct.rebuiltAtOpen()
		}
	}
	if wasOpen {
		if _, err := os.Stat(acct.idx.Path()); errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("store: %s was removed while this server holds it open: the server's copy is the only one; it is lost at the next stop, after which the index is built from the files with new UIDVALIDITYs", acct.idx.Path())
		}
	}
	return acct.RebuildIndex(ctx, only)
}

// rebuiltAtOpen reports an index that open built from nothing.
func (a *Account) rebuiltAtOpen() (*Rebuild, error) {
	mbs, err := a.Mailboxes()
	if err != nil {
		return nil, err
	}
	r := &Rebuild{User: a.user}
	for _, mb := range mbs {
		r.Mailboxes = append(r.Mailboxes, RebuiltMailbox{Mailbox: mb.Name, Messages: int(mb.Messages), NewUIDs: int(mb.Messages),
			UIDValidity: mb.UIDValidity, Why: "index.db was missing: UIDs follow the files (a Dovecot uidlist not yet adopted gave its own)"})
	}
	return r, nil
}

func (a *Account) takeOpenRebuild() *Rebuild {
	a.mu.Lock()
	defer a.mu.Unlock()
	r := a.openRebuild
	a.openRebuild = nil
	return r
}

// RebuildIndex rebuilds the account's open index in place from the
// files: every mailbox, or only the one named.
func (a *Account) RebuildIndex(ctx context.Context, only string) (*Rebuild, error) {
	a.mu.Lock()
	_, err := a.reconcileMailboxes(ctx, false)
	a.mu.Unlock()
	if err != nil {
		return nil, err
	}
	names, err := a.rebuildTargets(only)
	if err != nil {
		return nil, err
	}
	r := &Rebuild{User: a.user}
	for _, n := range names {
		m, err := a.Mailbox(n)
		if err != nil {
			return r, err
		}
		s, err := a.idx.SalvageMailbox(m.id)
		if err != nil {
			return r, fmt.Errorf("%s: %w", n, err)
		}
		if s.Damaged {
			r.Damaged = true
		}
		res, err := m.rebuild(ctx, n, s, true)
		if err != nil {
			return r, fmt.Errorf("%s: %w", n, err)
		}
		r.Mailboxes = append(r.Mailboxes, res)
	}
	if _, err := a.Recalc(ctx); err != nil {
		return r, err
	}
	return r, a.markUIDValidity()
}

func (a *Account) rebuildTargets(only string) ([]string, error) {
	if only != "" {
		if err := folder.CheckName(only); err != nil {
			return nil, err
		}
		only = folder.CanonicalName(only)
		if _, err := a.Mailbox(only); err != nil {
			return nil, err
		}
		return []string{only}, nil
	}
	mbs, err := a.Mailboxes()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, mb := range mbs {
		names = append(names, mb.Name)
	}
	return names, nil
}

// rebuildFromSalvage fills the fresh index of an account opened over a
// damaged one with what could be read of the old (openAccount).
func (a *Account) rebuildFromSalvage(ctx context.Context, s *index.Salvage, movedTo string) (*Rebuild, error) {
	err := a.idx.Commit(func(tx *index.Tx) error {
		if err := tx.RaiseUIDValidity(s.LastUIDValidity); err != nil {
			return err
		}
		for _, n := range s.Subscriptions {
			if err := tx.Subscribe(n); err != nil {
				return err
			}
		}
		for name, sm := range s.Mailboxes {
			mb, err := tx.Mailbox(name)
			if errors.Is(err, folder.ErrNotFound) {
				continue // its folder is gone too
			}
			if err != nil {
				return err
			}
			if sm.Info.SpecialUse != "" {
				mb.SpecialUse = sm.Info.SpecialUse
				if err := tx.PutMailbox(mb); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	names, err := a.rebuildTargets("")
	if err != nil {
		return nil, err
	}
	r := &Rebuild{User: a.user, Damaged: true, MovedTo: movedTo}
	for _, n := range names {
		m, err := a.Mailbox(n)
		if err != nil {
			return r, err
		}
		res, err := m.rebuild(ctx, n, s.Mailboxes[n], false)
		if err != nil {
			return r, fmt.Errorf("%s: %w", n, err)
		}
		r.Mailboxes = append(r.Mailboxes, res)
	}
	return r, a.markUIDValidity()
}

// planned is one file of a rebuild: the UID it keeps (0: a new one),
// and the old record that gave it, if any.
type planned struct {
	e    folder.Entry
	uid  uint32
	old  *index.Message
	uidl string // POP3 UIDL from a dovecot-uidlist
}

// carried is a message an append indexed while the rebuild ran.
type carried struct {
	msg       index.Message
	env, body []byte
}

// rebuild rebuilds one mailbox from its files and s, what could be read
// of its old state (nil: nothing). live: the index is the one sessions
// use (in place), so appends may have committed since s was read and
// sessions are told what changed.
func (m *Mailbox) rebuild(ctx context.Context, name string, s *index.SalvagedMailbox, live bool) (RebuiltMailbox, error) {
	// Early appends' commits first: their files are to be kept as the
	// commits number them, not taken for files no one indexed.
	if err := m.awaitIndexing(ctx); err != nil {
		return RebuiltMailbox{}, err
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	a := m.acct
	res := RebuiltMailbox{Mailbox: name}
	if live {
		// Read again under the lock: nothing but appends changes it now.
		var err error
		if s, err = a.idx.SalvageMailbox(m.id); err != nil {
			return res, err
		}
	}
	entries, tok, err := m.folder().Scan(ctx)
	if err != nil {
		return res, err
	}
	// Another server's UIDs (Dovecot's uidlist), when they are of the
	// UIDVALIDITY kept or nothing else is known.
	list := map[string]folder.ForeignUID{}
	var hdr folder.ForeignUIDs
	listOK, adopted := false, true
	hist, isHist := m.folder().(folder.UIDHistory)
	if isHist {
		adopted = hist.Adopted()
		hdr, listOK, err = hist.ReadForeignUIDs(func(u folder.ForeignUID) error { list[u.Key] = u; return nil })
		if errors.Is(err, folder.ErrCorruptRecord) {
			a.log.Warn("rebuild: dovecot-uidlist unreadable; ignored", "mailbox", name, "err", err)
			listOK, err = false, nil
		}
		if err != nil {
			return res, err
		}
	}
	var uv, next uint32
	var hms uint64
	var floor uint32 = 1
	useList := false
	switch {
	case s != nil:
		uv, next, hms = s.Info.UIDValidity, s.Info.UIDNext, max(s.Info.HighestModSeq, s.MaxModSeq)
		floor = max(next, s.MaxUID+1)
		useList = listOK && hdr.UIDValidity == uv
		res.Source = "index"
	case listOK && !adopted:
		uv, next = hdr.UIDValidity, hdr.UIDNext
		floor = max(next, 1)
		useList = true
	default:
		res.Why = "the old index has no readable record of this mailbox"
	}
	if useList {
		for _, u := range list {
			floor = max(floor, u.UID+1)
		}
	}
	res.OldUIDValidity = uv
	var old map[string]index.Message
	var tombs map[uint32]uint64
	if s != nil {
		old, tombs = s.Messages, s.Tombstones
	}
	// Records of the old index first: a uidlist UID that one of them
	// holds goes to that record's file, not to the uidlist's.
	used := map[uint32]bool{}
	plan := make([]planned, 0, len(entries))
	for _, e := range entries {
		rec, had := old[e.Key]
		if !had && m.isPending(e.Key) {
			continue // an append in flight indexes it itself
		}
		p := planned{e: e}
		if had {
			p.old, p.uid = &rec, rec.UID
			_, tomb := tombs[rec.UID]
			switch {
			case uv == 0:
			case rec.UID >= next:
				res.Why = fmt.Sprintf("UID %d (%s) is not below UIDNEXT %d", rec.UID, e.Name, next)
			case tomb:
				res.Why = fmt.Sprintf("UID %d (%s) is also an expunged UID", rec.UID, e.Name)
			case used[rec.UID]:
				res.Why = fmt.Sprintf("UID %d is given to two files", rec.UID)
			}
			used[rec.UID] = true
		}
		plan = append(plan, p)
	}
	if res.Why != "" && uv != 0 {
		uv = 0
	}
	fromList := 0
	for i := range plan {
		p := &plan[i]
		if uv == 0 {
			p.uid = 0
			continue
		}
		if p.old != nil || !useList {
			continue
		}
		u, ok := list[p.e.Key]
		if !ok {
			continue
		}
		p.uidl = u.POP3UIDL
		if _, tomb := tombs[u.UID]; u.UID == 0 || tomb || used[u.UID] {
			continue // as adoption does: the file gets a new UID
		}
		p.uid = u.UID
		used[u.UID] = true
		fromList++
	}
	if fromList > 0 {
		if res.Source == "" {
			res.Source = "dovecot-uidlist"
		} else {
			res.Source += "+dovecot-uidlist"
		}
	}
	// Every file is read again: the cached structures and sizes are
	// part of what is rebuilt. Memory holds one mailbox's structures.
	var files []folder.Entry
	for _, p := range plan {
		files = append(files, p.e)
	}
	adds, err := m.prepareAdds(ctx, files)
	if err != nil {
		return res, err
	}
	parsed := make(map[string]index.NewMessage, len(adds))
	for _, nm := range adds {
		parsed[nm.Key] = nm
	}
	scope, partial := fullScope, false
	if p, ok := m.folder().(folder.PartialFlags); ok {
		scope.sys, scope.keywords = p.RecordedFlags()
		partial = true
	}
	var kept []keptMsg
	var fresh []index.NewMessage
	inPlan := map[string]bool{}
	now := time.Now()
	for _, p := range plan {
		nm, ok := parsed[p.e.Key]
		if !ok {
			continue // gone during the rebuild
		}
		inPlan[nm.Key] = true
		if p.old != nil {
			f := p.old.Flags
			if p.old.Name != nm.Name || partial && !scope.same(f, nm.Flags) {
				f = scope.merge(f, nm.Flags)
			}
			nm.Flags, nm.InternalDate, nm.SaveDate, nm.POP3UIDL = f, p.old.InternalDate, p.old.SaveDate, p.old.POP3UIDL
		} else {
			nm.SaveDate = now
			nm.POP3UIDL = p.uidl
		}
		if p.uid != 0 {
			kept = append(kept, keptMsg{p.uid, nm})
		} else {
			fresh = append(fresh, nm)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].uid < kept[j].uid })
	// What the old index had and the files no longer do: expunged now,
	// with a tombstone, as a Sync would.
	keptUIDs := map[uint32]bool{}
	for _, k := range kept {
		keptUIDs[k.uid] = true
	}
	var gone []uint32
	for _, rec := range old {
		if !inPlan[rec.Key] && !keptUIDs[rec.UID] {
			gone = append(gone, rec.UID)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i] < gone[j] })
	var final index.Mailbox
	var carry []carried
	var added []uint32
	err = a.idx.Commit(func(tx *index.Tx) error {
		carry, added = carry[:0], added[:0]
		start := floor
		if live {
			cur, err := tx.MailboxByID(m.id)
			if err != nil {
				return err
			}
			start = max(start, cur.UIDNext)
			err = tx.ForEachMessage(m.id, func(msg *index.Message) error {
				if s != nil && msg.UID < s.Info.UIDNext || inPlan[msg.Key] {
					return nil
				}
				c := carried{msg: *msg}
				c.msg.Flags.Keywords = append([]string(nil), msg.Flags.Keywords...)
				carry = append(carry, c)
				return nil
			})
			if err != nil {
				return err
			}
			for i := range carry {
				carry[i].env = bytes.Clone(tx.Envelope(m.id, carry[i].msg.UID))
				carry[i].body = bytes.Clone(tx.BodyStructure(m.id, carry[i].msg.UID))
			}
		}
		var writeTombs map[uint32]uint64
		if uv != 0 {
			writeTombs = make(map[uint32]uint64, len(gone)+len(tombs))
			if !live {
				for u, ms := range tombs {
					writeTombs[u] = ms
				}
			}
			for _, u := range gone {
				writeTombs[u] = hms + 1
			}
		}
		if _, err := tx.ResetMailbox(m.id, uv, start, hms+1, writeTombs); err != nil {
			return err
		}
		for _, k := range kept {
			if _, err := tx.AddMessageUID(m.id, k.uid, k.nm); err != nil {
				return err
			}
		}
		for _, c := range carry {
			nm := index.NewMessage{Key: c.msg.Key, Name: c.msg.Name, Flags: c.msg.Flags, InternalDate: c.msg.InternalDate,
				Size: c.msg.Size, CRLFSize: c.msg.CRLFSize, Envelope: c.env, Body: c.body, POP3UIDL: c.msg.POP3UIDL, SaveDate: c.msg.SaveDate}
			var err error
			if uv != 0 {
				_, err = tx.AddMessageUID(m.id, c.msg.UID, nm)
			} else {
				_, err = tx.AddMessage(m.id, nm)
			}
			if err != nil {
				return err
			}
		}
		for _, nm := range fresh {
			rec, err := tx.AddMessage(m.id, nm)
			if err != nil {
				return err
			}
			added = append(added, rec.UID)
		}
		mb, err := tx.MailboxByID(m.id)
		if err != nil {
			return err
		}
		if uv != 0 && s != nil {
			mb.RecentUID = min(max(s.Info.RecentUID, 1), mb.UIDNext)
		}
		mb.Token = nil
		if m.folder().Settled(tok) {
			mb.Token = tok
		}
		if err := tx.PutMailbox(mb); err != nil {
			return err
		}
		final, err = tx.MailboxByID(m.id)
		return err
	})
	if err != nil {
		return res, fmt.Errorf("store: rebuild: %w", err)
	}
	if isHist && useList && !adopted {
		if err := hist.MarkAdopted(); err != nil {
			return res, err
		}
	}
	res.Messages = int(final.Messages)
	res.KeptUIDs, res.NewUIDs, res.Gone = len(kept), len(fresh), len(gone)
	if uv != 0 {
		res.KeptUIDs += len(carry)
	} else {
		res.NewUIDs += len(carry)
		res.Source = "" // nothing was kept by it
	}
	res.UIDValidity = final.UIDValidity
	res.UIDValidityKept = uv != 0 && res.OldUIDValidity == final.UIDValidity
	a.log.Info("index rebuilt", "mailbox", name, "messages", res.Messages, "kept_uids", res.KeptUIDs, "new_uids", res.NewUIDs,
		"uidvalidity", res.UIDValidity, "uidvalidity_kept", res.UIDValidityKept, "why", res.Why)
	if live {
		m.publishRebuilt(res, s != nil && s.Damaged, kept, old, gone, hms+1, added, final)
	}
	return res, nil
}

// publishRebuilt tells the mailbox's sessions what the rebuild changed,
// after its commit; goneModSeq is the MODSEQ of gone's tombstones.
func (m *Mailbox) publishRebuilt(res RebuiltMailbox, damaged bool, kept []keptMsg, old map[string]index.Message, gone []uint32, goneModSeq uint64, added []uint32, final index.Mailbox) {
	hub := &m.acct.hub
	if !res.UIDValidityKept {
		hub.Publish(Event{Mailbox: m.id, Kind: UIDValidityChanged, ModSeq: final.HighestModSeq})
		return
	}
	if len(gone) > 0 {
		// Not final.HighestModSeq: the messages kept were added after
		// the tombstones, above it.
		hub.Publish(Event{Mailbox: m.id, Kind: Expunged, UIDs: gone, ModSeq: goneModSeq})
	}
	var flagged []uint32
	var kws []string
	for _, k := range kept {
		if o, ok := old[k.nm.Key]; ok && !o.Flags.Equal(folder.Flags{Sys: k.nm.Flags.Sys, Keywords: folder.NormalizeKeywords(k.nm.Flags.Keywords)}) {
			flagged = append(flagged, k.uid)
			kws = append(kws, k.nm.Flags.Keywords...)
		}
	}
	if len(flagged) > 0 {
		hub.Publish(Event{Mailbox: m.id, Kind: FlagsSet, UIDs: flagged, ModSeq: final.HighestModSeq, Keywords: kws})
	}
	if len(added) > 0 {
		hub.Publish(Event{Mailbox: m.id, Kind: Added, UIDs: added, ModSeq: final.HighestModSeq})
	}
	if damaged {
		// Records that did not decode were never in old: a view finds
		// what it shows and the index no longer has by reading it.
		hub.Publish(Event{Mailbox: m.id, Kind: Rebuilt, ModSeq: final.HighestModSeq})
	}
}

// keptMsg is a file of a rebuild that keeps its UID.
type keptMsg struct {
	uid uint32
	nm  index.NewMessage
}
