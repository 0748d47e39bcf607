package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/index"
	"github.com/storaged/storaged/message"
)

// scanRetries bounds the scans one Sync makes of a folder that keeps
// changing under it.
const scanRetries = 3

// SyncAll syncs every mailbox of the account.
func (a *Account) SyncAll(ctx context.Context) error {
	var names []string
	err := a.idx.View(func(tx *index.Tx) error {
		mbs, err := tx.Mailboxes()
		for _, mb := range mbs {
			names = append(names, mb.Name)
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, n := range names {
		mb, err := a.Mailbox(n)
		if err != nil {
			return err
		}
		if err := mb.Sync(ctx); err != nil {
			return fmt.Errorf("sync %s: %w", n, err)
		}
	}
	return nil
}

// Sync brings the index in line with the files: files other programs
// added get the next UIDs, files they removed are expunged, flags they
// changed are taken over. It is cheap when the folder's token has not
// moved since the last complete sync.
func (m *Mailbox) Sync(ctx context.Context) error {
	// Early appends (AppendOptions.Early) whose answer may have been
	// heard are indexed first: their keys are pending until then, and a
	// scan would pass them over.
	if err := m.awaitIndexing(ctx); err != nil {
		return err
	}
	m.wmu.Lock()
	defer m.wmu.Unlock()
	return m.syncLocked(ctx)
}

type known struct {
	uid   uint32
	name  string
	flags folder.Flags
}

// flagScope is what a format records of flags on disk.
type flagScope struct {
	sys      folder.SysFlags
	keywords bool
}

var fullScope = flagScope{sys: folder.Seen | folder.Answered | folder.Flagged | folder.Deleted | folder.Draft, keywords: true}

// same tells whether the index's flags and the disk's agree on what the
// disk records.
func (s flagScope) same(idx, disk folder.Flags) bool {
	if idx.Sys&s.sys != disk.Sys&s.sys {
		return false
	}
	return !s.keywords || folder.Flags{Keywords: folder.NormalizeKeywords(idx.Keywords)}.Equal(folder.Flags{Keywords: folder.NormalizeKeywords(disk.Keywords)})
}

// merge takes from disk what it records and keeps the rest from the index.
func (s flagScope) merge(idx, disk folder.Flags) folder.Flags {
	out := folder.Flags{Sys: idx.Sys&^s.sys | disk.Sys&s.sys, Keywords: idx.Keywords}
	if s.keywords {
		out.Keywords = disk.Keywords
	}
	return out
}

func (m *Mailbox) syncLocked(ctx context.Context) error {
	a := m.acct
	var info index.Mailbox
	if err := a.idx.View(func(tx *index.Tx) (err error) { info, err = tx.MailboxByID(m.id); return err }); err != nil {
		return err
	}
	tok, err := m.folder().Token()
	if err != nil {
		return err
	}
	if len(info.Token) > 0 && bytes.Equal(tok, info.Token) {
		return nil
	}
	for attempt := 1; ; attempt++ {
		done, err := m.syncOnce(ctx, attempt == scanRetries)
		if err != nil || done {
			return err
		}
	}
}

// folderDiff is how a folder's files differ from the index: files no
// one indexed, indexed files another program renamed or whose flags it
// changed (with the flags to take over), UIDs whose files are gone, and
// the folder's token for the scan.
type folderDiff struct {
	idx     map[string]known
	added   []folder.Entry
	renamed []folder.Entry
	missing []uint32
	tok     []byte
}

// diff scans the folder and compares it with the index, changing
// nothing. done=false: the folder changed during the scan so that the
// missing files are uncertain (see syncOnce).
func (m *Mailbox) diff(ctx context.Context, final bool) (folderDiff, bool, error) {
	a := m.acct
	// Messages indexed before the scan starts must have their files in
	// it; those indexed later may not, and are not judged.
	var before index.Mailbox
	if err := a.idx.View(func(tx *index.Tx) (err error) { before, err = tx.MailboxByID(m.id); return err }); err != nil {
		return folderDiff{}, false, err
	}
	entries, tok, err := m.folder().Scan(ctx)
	if err != nil {
		return folderDiff{}, false, err
	}
	// Sized for the mailbox: at 100,000 messages, growing the map was a
	// fifth of a rescan.
	idx := make(map[string]known, before.Messages)
	err = a.idx.View(func(tx *index.Tx) error {
		return tx.ForEachMessage(m.id, func(msg *index.Message) error {
			idx[msg.Key] = known{uid: msg.UID, name: msg.Name, flags: msg.Flags}
			return nil
		})
	})
	if err != nil {
		return folderDiff{}, false, err
	}
	// A format whose names spell the flags (Maildir, mbox's offsets and
	// lengths) shows a change by another program as a new name; one that
	// keeps flags apart (MH sequences) is compared on what it records.
	scope, partial := fullScope, false
	if p, ok := m.folder().(folder.PartialFlags); ok {
		scope.sys, scope.keywords = p.RecordedFlags()
		partial = true
	}
	onDisk := make(map[string]bool, len(entries))
	var added []folder.Entry
	var renamed []folder.Entry
	for _, e := range entries {
		onDisk[e.Key] = true
		k, ok := idx[e.Key]
		switch {
		case !ok && !m.isPending(e.Key):
			added = append(added, e)
		case ok && (k.name != e.Name || partial && !scope.same(k.flags, e.Flags)):
			// Another program renamed it (a Maildir flag change) or
			// changed what the format records of its flags (an mbox
			// Status field, an MH sequence): we take that over. Keywords
			// the format cannot spell (Maildir has 26 letters) are lost
			// at that point; they were never visible to that program.
			e.Flags = scope.merge(k.flags, e.Flags)
			renamed = append(renamed, e)
		}
	}
	var missing []uint32
	for key, k := range idx {
		if k.uid < before.UIDNext && !onDisk[key] {
			missing = append(missing, k.uid)
		}
	}
	if len(missing) > 0 {
		// A rename by another program during our readdir can hide a file
		// from both reads; only trust absences from an unchanging folder.
		after, err := m.folder().Token()
		if err != nil {
			return folderDiff{}, false, err
		}
		if !bytes.Equal(after, tok) {
			if !final {
				return folderDiff{}, false, nil
			}
			missing, tok = nil, nil
		}
	}
	if !m.folder().Settled(tok) {
		tok = nil
	}
	return folderDiff{idx: idx, added: added, renamed: renamed, missing: missing, tok: tok}, true, nil
}

// syncOnce does one scan. It reports done=false when the folder changed
// during the scan in a way that makes missing files uncertain; the caller
// scans again, and on the last attempt (final) the uncertain expunges are
// left for a later sync.
func (m *Mailbox) syncOnce(ctx context.Context, final bool) (bool, error) {
	d, done, err := m.diff(ctx, final)
	if err != nil || !done {
		return done, err
	}
	a := m.acct
	idx, added, renamed, missing, tok := d.idx, d.added, d.renamed, d.missing, d.tok
	adds, err := m.prepareAdds(ctx, added)
	if err != nil {
		return false, err
	}
	var events []Event
	err = a.idx.Commit(func(tx *index.Tx) error {
		events = events[:0]
		var addUIDs, flagUIDs []uint32
		var modseq uint64
		now := time.Now()
		for _, nm := range adds {
			if _, dup := tx.UIDOfKey(m.id, nm.Key); dup {
				continue
			}
			nm.SaveDate = now // RFC 8514 §3: saved here when we found it
			rec, err := tx.AddMessage(m.id, nm)
			if err != nil {
				return err
			}
			addUIDs, modseq = append(addUIDs, rec.UID), rec.ModSeq
		}
		for _, e := range renamed {
			k := idx[e.Key]
			rec, err := tx.UpdateMessage(m.id, k.uid, e.Flags, e.Name)
			if err != nil {
				return err
			}
			if !rec.Flags.Equal(k.flags) {
				flagUIDs, modseq = append(flagUIDs, rec.UID), rec.ModSeq
			}
		}
		gone, err := tx.Expunge(m.id, missing)
		if err != nil {
			return err
		}
		cur, err := tx.MailboxByID(m.id)
		if err != nil {
			return err
		}
		if len(gone) > 0 {
			modseq = cur.HighestModSeq
		}
		cur.Token = tok
		if err := tx.PutMailbox(cur); err != nil {
			return err
		}
		if len(gone) > 0 {
			events = append(events, Event{Mailbox: m.id, Kind: Expunged, UIDs: gone, ModSeq: modseq})
		}
		if len(flagUIDs) > 0 {
			events = append(events, Event{Mailbox: m.id, Kind: FlagsSet, UIDs: flagUIDs, ModSeq: modseq})
		}
		if len(addUIDs) > 0 {
			events = append(events, Event{Mailbox: m.id, Kind: Added, UIDs: addUIDs, ModSeq: modseq})
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	if n := len(adds); n > 0 || len(missing) > 0 {
		m.acct.log.Info("synced mailbox with external changes", "mailbox_id", m.id, "added", n, "expunged", len(missing))
	}
	for _, e := range events {
		m.acct.hub.Publish(e)
	}
	return true, nil
}

// prepareAdds reads and parses files other programs dropped in, oldest
// first so their UIDs follow arrival order.
func (m *Mailbox) prepareAdds(ctx context.Context, added []folder.Entry) ([]index.NewMessage, error) {
	out := make([]index.NewMessage, 0, len(added))
	for _, e := range added {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st, err := m.folder().Stat(e)
		if errors.Is(err, folder.ErrGone) {
			continue
		}
		if err != nil {
			return nil, err
		}
		torn, err := m.dropTorn(st)
		if errors.Is(err, folder.ErrGone) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if torn {
			continue
		}
		r, err := m.folder().Open(st)
		if errors.Is(err, folder.ErrGone) {
			continue
		}
		if err != nil {
			return nil, err
		}
		cr := &countingReader{r: r}
		info, err := message.Parse(cr)
		io.Copy(io.Discard, cr)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("store: parse %s: %w", e.Name, err)
		}
		env, body, err := encodeInfo(info)
		if err != nil {
			return nil, err
		}
		out = append(out, index.NewMessage{
			Key: st.Key, Name: st.Name, Flags: st.Flags, InternalDate: st.Date,
			Size: st.Size, CRLFSize: cr.n, Envelope: env, Body: body,
		})
	}
	// By date; ties in the format's own order when it has one (an
	// mbox's file order, MH's numbers: added lists them in Scan's
	// order, which the stable sort keeps), else by key.
	_, ordered := m.folder().(folder.Ordered)
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].InternalDate.Equal(out[j].InternalDate) {
			return out[i].InternalDate.Before(out[j].InternalDate)
		}
		return !ordered && out[i].Key < out[j].Key
	})
	return out, nil
}

// dropTorn removes e's file when the format says a crash cut it short
// (folder.Verifier): an append that had not returned wrote it, so no
// one acknowledged it (the MTA delivers it again) and no one was shown
// it; indexing it would show a message with missing or stale octets.
func (m *Mailbox) dropTorn(e folder.Entry) (bool, error) {
	v, ok := m.folder().(folder.Verifier)
	if !ok {
		return false, nil
	}
	torn, err := v.Torn(e)
	if err != nil || !torn {
		return false, err
	}
	if err := m.folder().Remove([]folder.Entry{e}); err != nil {
		return true, fmt.Errorf("store: remove torn %s: %w", e.Name, err)
	}
	m.acct.log.Warn("removed a message file cut short by a crash before its delivery was acknowledged", "mailbox_id", m.id, "file", e.Name, "size", e.Size)
	return true, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
