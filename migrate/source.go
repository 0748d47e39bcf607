package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/maildir"
	"github.com/storaged/storaged/mh"
)

// Message is one message a source yields. Data is valid until the
// callback returns.
type Message struct {
	Data     []byte
	Flags    folder.Flags
	Date     time.Time
	UID      uint32 // the source's UID, 0 when it has none
	POP3UIDL string // the source's own UIDL when it records one
}

// Folder is one folder of a source.
type Folder struct {
	Name       string // our spelling: '/' between levels, INBOX
	SpecialUse string // \Sent … when the source says so
	// UIDs are the source's UIDVALIDITY and UIDNEXT, nil when it has none.
	UIDs *folder.ForeignUIDs
	// Each streams the folder's messages in the source's order.
	Each func(ctx context.Context, fn func(*Message) error) error
	// Estimate, when set, says cheaply (a listing, a stat) how much Each
	// will yield, for the progress bar's ETA: messages or source bytes,
	// 0 for what it cannot tell.
	Estimate func(ctx context.Context) (messages, bytes int64)
}

// Source is a store to import from.
type Source interface {
	// Kind names the source format for people ("maildir", "mbox", "mh").
	Kind() string
	Folders() ([]Folder, error)
	// Subscriptions are the source's, when it keeps any.
	Subscriptions() (names []string, ok bool)
}

// ErrUnknownSource: the path is neither an mbox file or tree, a Maildir
// nor an MH tree.
var ErrUnknownSource = errors.New("migrate: not an mbox, Maildir or MH store")

// Open recognises a local source: a file is an mbox; a directory with
// cur/ a Maildir (Maildir++ folders beside it, or Dovecot's LAYOUT=fs
// folders beneath it); one with inbox/ and no
// cur/ an MH tree; any other directory an mbox tree.
func Open(path string) (Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if !st.IsDir() {
		return openMbox(path, true)
	}
	switch {
	case maildir.Format.Owns(path):
		// Dovecot's LAYOUT=fs (nested directories) or Maildir++, as the
		// folders on disk are laid out: the admin need not say which.
		layout, err := maildir.DetectLayout(path)
		if err != nil {
			return nil, err
		}
		s, err := maildir.OpenLayout(path, layout)
		if err != nil {
			return nil, err
		}
		kind := "maildir"
		if layout == maildir.FS {
			kind = "maildir-fs"
		}
		return &storeSource{kind: kind, st: s}, nil
	case mh.Owns(path):
		s, err := mh.Open(path)
		if err != nil {
			return nil, err
		}
		return &storeSource{kind: "mh", st: s}, nil
	}
	return openMbox(path, false)
}

// storeSource reads a store through its folder format (Maildir, MH):
// flags, keywords and dates as the format records them.
type storeSource struct {
	kind string
	st   folder.Store
}

func (s *storeSource) Kind() string { return s.kind }

func (s *storeSource) Subscriptions() ([]string, bool) {
	fs, ok := s.st.(folder.ForeignSubscriptions)
	if !ok {
		return nil, false
	}
	names, ok, err := fs.ReadForeignSubscriptions()
	if err != nil {
		return nil, false
	}
	return names, ok
}

func (s *storeSource) Folders() ([]Folder, error) {
	names, err := s.st.List()
	if err != nil {
		return nil, err
	}
	out := make([]Folder, 0, len(names))
	for _, n := range names {
		f, err := s.st.Folder(n)
		if err != nil {
			return nil, err
		}
		fo := Folder{Name: n}
		fo.Estimate = func(ctx context.Context) (int64, int64) {
			entries, _, err := f.Scan(ctx)
			if err != nil {
				return 0, 0
			}
			return int64(len(entries)), 0
		}
		var uids map[string]folder.ForeignUID
		if h, ok := f.(folder.UIDHistory); ok {
			// Read once here for the header, and again in Each for the
			// lines: no folder's map lives longer than its import.
			hdr, ok, err := h.ReadForeignUIDs(func(folder.ForeignUID) error { return nil })
			if err == nil && ok {
				fo.UIDs = &hdr
			}
		}
		fo.Each = func(ctx context.Context, fn func(*Message) error) error {
			if fo.UIDs != nil {
				uids = make(map[string]folder.ForeignUID)
				h := f.(folder.UIDHistory)
				if _, _, err := h.ReadForeignUIDs(func(u folder.ForeignUID) error { uids[u.Key] = u; return nil }); err != nil {
					return err
				}
			}
			defer func() { uids = nil }()
			return eachEntry(ctx, f, uids, fn)
		}
		out = append(out, fo)
	}
	return out, nil
}

// eachEntry streams a folder's messages, in UID order where the source
// has UIDs, else in arrival order.
func eachEntry(ctx context.Context, f folder.Folder, uids map[string]folder.ForeignUID, fn func(*Message) error) error {
	entries, _, err := f.Scan(ctx)
	if err != nil {
		return err
	}
	for i := range entries {
		st, err := f.Stat(entries[i])
		if err == nil {
			entries[i] = st
		}
	}
	sort.SliceStable(entries, func(i, j int) bool {
		ui, uj := uids[entries[i].Key].UID, uids[entries[j].Key].UID
		if ui != uj {
			if ui == 0 || uj == 0 {
				return uj == 0
			}
			return ui < uj
		}
		if !entries[i].Date.Equal(entries[j].Date) {
			return entries[i].Date.Before(entries[j].Date)
		}
		return entries[i].Key < entries[j].Key
	})
	var msg Message
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := f.Open(e)
		if errors.Is(err, folder.ErrGone) {
			continue
		}
		if err != nil {
			return err
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return fmt.Errorf("migrate: read %s: %w", filepath.Base(e.Name), err)
		}
		u := uids[e.Key]
		msg = Message{Data: data, Flags: e.Flags, Date: e.Date, UID: u.UID, POP3UIDL: u.POP3UIDL}
		if err := fn(&msg); err != nil {
			return err
		}
	}
	return nil
}
