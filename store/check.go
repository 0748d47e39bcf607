package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/storaged/storaged/folder"
)

// Difference is one way a mailbox's files and its index disagree, as
// `storaged check` reports it.
type Difference struct {
	Mailbox string
	Kind    string // "unindexed", "missing", "flags", "size"
	UID     uint32 // 0 for a file no one indexed
	File    string // the file's name in the format's terms, when known
	Detail  string
}

// Check compares every mailbox's files with the index and reports each
// difference. It changes nothing unless repair is set: then it does what
// a sync and `quota recalc` would (new files get the next UIDs, missing
// ones are expunged, flags and sizes are taken from the files), and the
// differences it reports are the ones it repaired.
func (a *Account) Check(ctx context.Context, repair bool) ([]Difference, error) {
	infos, err := a.Mailboxes()
	if err != nil {
		return nil, err
	}
	var out []Difference
	for _, info := range infos {
		mb, err := a.Mailbox(info.Name)
		if err != nil {
			return out, err
		}
		d, err := mb.check(ctx, info.Name)
		if err != nil {
			return out, fmt.Errorf("%s: %w", info.Name, err)
		}
		out = append(out, d...)
	}
	if repair && len(out) > 0 {
		if _, err := a.Recalc(ctx); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (m *Mailbox) check(ctx context.Context, name string) ([]Difference, error) {
	// An early append's file is not the index's yet: not a difference.
	if err := m.awaitIndexing(ctx); err != nil {
		return nil, err
	}
	m.wmu.Lock()
	var d folderDiff
	var err error
	for attempt := 1; ; attempt++ {
		var done bool
		d, done, err = m.diff(ctx, attempt == scanRetries)
		if err != nil || done {
			break
		}
	}
	m.wmu.Unlock()
	if err != nil {
		return nil, err
	}
	var out []Difference
	for _, e := range d.added {
		out = append(out, Difference{Mailbox: name, Kind: "unindexed", File: e.Name, Detail: "a file no one indexed (another program's delivery, or lost from the index)"})
	}
	for _, e := range d.renamed {
		k := d.idx[e.Key]
		out = append(out, Difference{Mailbox: name, Kind: "flags", UID: k.uid, File: e.Name,
			Detail: fmt.Sprintf("index has %s, the file %s", flagWords(k.flags), flagWords(e.Flags))})
	}
	for _, uid := range d.missing {
		name := ""
		for _, k := range d.idx {
			if k.uid == uid {
				name = k.name
			}
		}
		out = append(out, Difference{Mailbox: name, Kind: "missing", UID: uid, File: name, Detail: "indexed, but its file is gone"})
	}
	// Sizes: what quota and FETCH RFC822.SIZE rest on.
	err = m.ForEach(func(msg *Message) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		disk, n, err := m.measure(*msg)
		if errors.Is(err, folder.ErrGone) {
			return nil // reported as missing above, or expunged meanwhile
		}
		if err != nil {
			return err
		}
		if n != msg.CRLFSize || disk != msg.Size {
			out = append(out, Difference{Mailbox: name, Kind: "size", UID: msg.UID,
				Detail: fmt.Sprintf("index has %d octets (%d on disk), the file %d (%d on disk)", msg.CRLFSize, msg.Size, n, disk)})
		}
		return nil
	})
	sort.SliceStable(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	return out, err
}

func flagWords(f folder.Flags) string {
	var w []string
	for _, n := range []struct {
		f    folder.SysFlags
		name string
	}{{folder.Seen, `\Seen`}, {folder.Answered, `\Answered`}, {folder.Flagged, `\Flagged`}, {folder.Deleted, `\Deleted`}, {folder.Draft, `\Draft`}} {
		if f.Sys.Has(n.f) {
			w = append(w, n.name)
		}
	}
	w = append(w, f.Keywords...)
	if len(w) == 0 {
		return "no flags"
	}
	return "(" + strings.Join(w, " ") + ")"
}
