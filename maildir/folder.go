package maildir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/safefs"
	"github.com/storaged/storaged/message"
)

// Folder is one Maildir directory (cur/, new/, tmp/), rel beneath the
// store's root. Every call resolves its names afresh beneath the root
// (safefs): a folder replaced by a link after Store.Folder returned it
// is then no folder, never followed.
type Folder struct {
	rel  string
	st   *Store
	kw   *keywords
	sync *folder.DirSyncer
}

var _ folder.Folder = (*Folder)(nil)

func (f *Folder) dir() *safefs.Dir     { return f.st.dir }
func (f *Folder) name(n string) string { return join(f.rel, n) }

// appendTries bounds the fresh names an append tries when one is taken
// in tmp/ (someone put a file there; our names are unique and random).
const appendTries = 3

var _ folder.BatchAppender = (*Folder)(nil)

// Append implements folder.Folder.
func (f *Folder) Append(ctx context.Context, m folder.NewMessage) (folder.Entry, error) {
	e, err := f.AppendUnsynced(ctx, m)
	if err != nil {
		return e, err
	}
	if err := f.SyncAppended([]folder.Entry{e}); err != nil {
		return folder.Entry{}, err
	}
	return e, nil
}

// SyncAppended implements folder.BatchAppender: new/ and, for entries
// appended with flags, cur/, each fsynced once (shared with concurrent
// callers through the DirSyncer, which only lets an fsync that began
// after this call count).
func (f *Folder) SyncAppended(entries []folder.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if fsg := f.st.fsg; fsg != nil {
		// One syncfs covers the files, their inodes, and both
		// directories of every rename, for every store on the file
		// system; the oldest epoch, since epochs only grow.
		epoch := entries[0].SyncEpoch
		for _, e := range entries[1:] {
			epoch = min(epoch, e.SyncEpoch)
		}
		if err := fsg.Sync(epoch); err != nil {
			return fmt.Errorf("maildir: %w", err)
		}
		return nil
	}
	var inNew, inCur bool
	for _, e := range entries {
		if strings.HasPrefix(e.Name, "cur/") {
			inCur = true
		} else {
			inNew = true
		}
	}
	if inNew {
		if err := f.sync.Sync(f.dir(), f.name("new")); err != nil {
			return notFound(f.rel, err)
		}
	}
	if inCur {
		if err := f.sync.Sync(f.dir(), f.name("cur")); err != nil {
			return notFound(f.rel, err)
		}
	}
	return nil
}

// AppendUnsynced implements folder.BatchAppender: the file is written
// and fsynced in tmp/, then renamed into new/ (cur/ with flags).
func (f *Folder) AppendUnsynced(ctx context.Context, m folder.NewMessage) (folder.Entry, error) {
	if err := ctx.Err(); err != nil {
		return folder.Entry{}, err
	}
	var data []byte
	var size, crlfSize int64
	// stream: the message is read from a spool file as it is written.
	stream := m.Content != nil && m.Content.Body.Spooled()
	if m.Content != nil && !stream {
		// A delivery in memory: its head and the spool's memory, put
		// into the stored form in one pass, in a buffer of our own
		// (nothing written may alias the spool, which the transaction
		// reuses). Either form is canonical, so the content's size is
		// the canonical size.
		buf := lfBufs.Get().(*[]byte)
		data, _, _ = m.Content.AppendStored((*buf)[:0])
		if cap(data) <= maxPooledLF {
			defer func() { *buf = data[:0]; lfBufs.Put(buf) }()
		}
		size, crlfSize = int64(len(data)), m.Content.Size()
	} else if stream {
		// A spooled message: streamed from the spool in the form
		// StorageLF would give, sizes known beforehand.
		var err error
		if size, _, err = m.Content.StoredSize(); err != nil {
			return folder.Entry{}, err
		}
		crlfSize = m.Content.Size()
	} else {
		// The LF form lives only until the file is written: its buffer
		// goes back to lfBufs then (a 100 KB delivery made the collector
		// free 100 KB more without).
		buf := lfBufs.Get().(*[]byte)
		var lf bool
		data, lf = message.AppendStorageLF((*buf)[:0], m.Data)
		if lf && cap(data) <= maxPooledLF {
			defer func() { *buf = data[:0]; lfBufs.Put(buf) }()
		} else if !lf {
			lfBufs.Put(buf)
		}
		size, crlfSize = int64(len(data)), int64(len(m.Data))
		if !lf {
			// Only a message with a bare LF is larger in canonical form
			// (a lossless LF form has none).
			crlfSize = message.CRLFSize(m.Data)
		}
	}
	now := time.Now()
	fsg := f.st.fsg
	var epoch uint64
	if fsg != nil {
		epoch = fsg.Begin()
		defer fsg.End()
	}
	var key, tmp string
	for try := 0; ; try++ {
		key = f.st.uniq.next(now, size, crlfSize)
		tmp = f.name("tmp/" + key)
		var err error
		var n int64
		var crc uint32
		switch {
		case stream && fsg != nil:
			n, crc, err = folder.WriteFileUnsyncedFrom(f.dir(), tmp, m.Content.StoredReader(), m.Date)
		case stream:
			n, err = folder.WriteFileSyncedFrom(f.dir(), tmp, m.Content.StoredReader(), m.Date)
		case fsg != nil:
			n = size
			crc, err = folder.WriteFileUnsynced(f.dir(), tmp, data, m.Date)
		default:
			n = size
			err = folder.WriteFileSynced(f.dir(), tmp, data, m.Date)
		}
		if err == nil && n != size {
			f.dir().Remove(tmp)
			return folder.Entry{}, fmt.Errorf("maildir: wrote %d octets of a %d octet message", n, size)
		}
		if err == nil {
			if fsg != nil {
				// Renamed before it is durable: the name records what a
				// whole file holds (Torn).
				key += fmt.Sprintf(",%s=%08x", crcField, crc)
			}
			break
		}
		if errors.Is(err, fs.ErrExist) && try < appendTries {
			continue
		}
		return folder.Entry{}, notFound(f.rel, err)
	}
	name := "new/" + key
	flags := folder.Flags{Sys: m.Flags.Sys, Keywords: folder.NormalizeKeywords(m.Flags.Keywords)}
	if flags.Sys != 0 || len(flags.Keywords) > 0 {
		info, err := formatInfo(flags, f.kw)
		if err != nil {
			f.dir().Remove(tmp)
			return folder.Entry{}, err
		}
		name = "cur/" + key + ":" + info
	}
	if m.Reserve != nil {
		m.Reserve(key)
	}
	// Never replaces a file: a clash would silently destroy a message.
	if err := f.dir().RenameNoReplace(tmp, f.name(name)); err != nil {
		f.dir().Remove(tmp)
		return folder.Entry{}, fmt.Errorf("maildir: move into place: %w", notFound(f.rel, err))
	}
	date := m.Date
	if date.IsZero() {
		date = now
	}
	return folder.Entry{Key: key, Name: name, Flags: flags, Size: size, Date: date, SyncEpoch: epoch}, nil
}

// lfBufs holds the buffers AppendUnsynced writes the LF form into, up
// to maxPooledLF (the LMTP spool's threshold: larger messages come
// spooled, and a large IMAP APPEND is not worth keeping memory for).
var lfBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledLF = 1 << 20

// crcField names the CRC-32C of the stored octets in a file name
// (",H=<8 hex digits>" after S= and W=), written under an FSSync only.
// Dovecot and Courier read S= and W= and pass over fields they do not
// know.
const crcField = "H"

var _ folder.Verifier = (*Folder)(nil)

// Torn implements folder.Verifier: a name with H= (this server's, under
// an FSSync) names a whole file when the file has S= octets whose
// CRC-32C is H=. A crash between the rename and the syncfs that was to
// make it durable can leave the name with an empty or short file, or
// one whose blocks were never written (old disk contents): never
// acknowledged, so never to be indexed.
func (f *Folder) Torn(e folder.Entry) (bool, error) {
	want, ok := crcFromKey(e.Key)
	if !ok {
		return false, nil
	}
	if size, ok := sizeFromKey(e.Key, "S"); ok && size != e.Size {
		return true, nil
	}
	r, err := f.openRaw(e, 0)
	if err != nil {
		return false, err
	}
	defer r.Close()
	h := folder.NewChecksum()
	if _, err := io.Copy(h, r); err != nil {
		return false, fmt.Errorf("maildir: read %s: %w", e.Name, err)
	}
	return h.Sum32() != want, nil
}

// Open implements folder.Folder.
func (f *Folder) Open(e folder.Entry) (io.ReadCloser, error) {
	// Maildir files are never written in place (a flag change renames),
	// so the size the index has is the file's.
	r, err := f.openRaw(e, e.Size)
	if err != nil {
		return nil, err
	}
	return folder.NewCanonicalFile(r), nil
}

// findTries bounds the look-ups of a file another session keeps
// renaming (new/ to cur/, then flag changes): each rename is atomic, so
// a file that exists is found within a few tries, and ErrGone means gone.
const findTries = 4

// openRaw opens e's file, following it through renames: at its Name
// first, then wherever its key is now.
func (f *Folder) openRaw(e folder.Entry, size int64) (*folder.RawFile, error) {
	err := folder.ErrGone
	if e.Name != "" {
		var r *folder.RawFile
		if r, err = folder.OpenRaw(f.dir(), f.name(e.Name), size); err == nil {
			return r, nil
		}
	}
	for try := 0; try < findTries && errors.Is(err, folder.ErrGone); try++ {
		var name string
		if name, err = f.find(e.Key); err != nil {
			if errors.Is(err, folder.ErrNotFound) {
				// The folder itself is no longer one (a link now).
				return nil, fmt.Errorf("%w: %w", folder.ErrGone, err)
			}
			continue
		}
		var r *folder.RawFile
		if r, err = folder.OpenRaw(f.dir(), f.name(name), size); err == nil {
			return r, nil
		}
	}
	return nil, err
}

// ReadStored implements folder.Folder.
func (f *Folder) ReadStored(e folder.Entry) ([]byte, error) {
	r, err := f.openRaw(e, 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("maildir: read: %w", err)
	}
	return message.StoredForm(b), nil
}

// find locates the current name of key ("cur/…" or "new/…"), or reports
// ErrGone.
func (f *Folder) find(key string) (string, error) {
	for _, sub := range []string{"new", "cur"} {
		ents, err := f.readDir(sub)
		if err != nil {
			return "", err
		}
		for _, e := range ents {
			if k, _ := splitName(e.Name); k == key && (e.IsRegular() || e.Unknown()) {
				return sub + "/" + e.Name, nil
			}
		}
	}
	return "", folder.ErrGone
}

func (f *Folder) readDir(sub string) ([]safefs.Entry, error) {
	ents, err := f.dir().ReadDir(f.name(sub))
	if err != nil {
		return nil, notFound(f.rel, err)
	}
	return ents, nil
}

// Token implements folder.Folder: the mtimes of new/ and cur/.
func (f *Folder) Token() (folder.Token, error) {
	tok := make(folder.Token, 0, 16)
	for _, sub := range []string{"new", "cur"} {
		st, err := f.dir().Lstat(f.name(sub))
		if err == nil && !st.IsDir() {
			err = fmt.Errorf("%s: %w", f.name(sub), safefs.ErrLink)
		}
		if err != nil {
			return nil, notFound(f.rel, err)
		}
		tok = folder.AppendMtime(tok, st)
	}
	return tok, nil
}

// Settled implements folder.Folder.
func (f *Folder) Settled(tok folder.Token) bool { return folder.MtimesSettled(tok, 2) }

// Scan implements folder.Folder. Size and Date are filled from the name
// where it records them; Stat gives the rest. Only regular files are
// messages: a link, a FIFO or a directory in new/ or cur/ is not listed.
func (f *Folder) Scan(ctx context.Context) ([]folder.Entry, folder.Token, error) {
	tok, err := f.Token()
	if err != nil {
		return nil, nil, err
	}
	var out []folder.Entry
	seen := make(map[string]bool)
	for _, sub := range []string{"new", "cur"} {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		ents, err := f.readDir(sub)
		if err != nil {
			return nil, nil, err
		}
		for _, de := range ents {
			n := de.Name
			if strings.HasPrefix(n, ".") {
				continue
			}
			if !de.IsRegular() && !(de.Unknown() && f.dir().IsRegular(f.name(sub+"/"+n))) {
				continue
			}
			key, info := splitName(n)
			if seen[key] {
				// Moved between our two reads: keep the first.
				continue
			}
			seen[key] = true
			e := folder.Entry{Key: key, Name: sub + "/" + n}
			if sub == "cur" {
				e.Flags = parseInfo(info, f.kw)
			}
			e.Size, _ = sizeFromKey(key, "S")
			out = append(out, e)
		}
	}
	return out, tok, nil
}

// Stat fills Size and Date of an entry from the file itself; anything
// but a regular file there is ErrGone.
func (f *Folder) Stat(e folder.Entry) (folder.Entry, error) {
	st, err := f.dir().Lstat(f.name(e.Name))
	if err == nil && !st.Mode().IsRegular() {
		err = safefs.ErrNotRegular
	}
	if err != nil {
		if folder.Missing(err) {
			return e, fmt.Errorf("%w: %w", folder.ErrGone, err)
		}
		return e, fmt.Errorf("maildir: %w", err)
	}
	e.Size, e.Date = st.Size(), st.ModTime()
	return e, nil
}

// SetFlags implements folder.Folder. The rename is made durable by Flush.
func (f *Folder) SetFlags(e folder.Entry, fl folder.Flags) (folder.Entry, error) {
	info, err := formatInfo(fl, f.kw)
	if err != nil {
		return e, err
	}
	name := "cur/" + e.Key + ":" + info
	if name == e.Name {
		e.Flags = fl
		return e, nil
	}
	err = f.dir().Rename(f.name(e.Name), f.name(name))
	if errors.Is(err, fs.ErrNotExist) {
		var cur string
		if cur, err = f.find(e.Key); err == nil {
			err = f.dir().Rename(f.name(cur), f.name(name))
		}
	}
	if err != nil {
		if folder.Missing(err) || errors.Is(err, folder.ErrGone) {
			return e, fmt.Errorf("%w: %w", folder.ErrGone, err)
		}
		return e, fmt.Errorf("maildir: set flags: %w", err)
	}
	e.Name, e.Flags = name, fl
	return e, nil
}

// Flush makes earlier SetFlags renames durable.
func (f *Folder) Flush() error {
	if err := f.sync.Sync(f.dir(), f.name("new")); err != nil {
		return notFound(f.rel, err)
	}
	if err := f.sync.Sync(f.dir(), f.name("cur")); err != nil {
		return notFound(f.rel, err)
	}
	return nil
}

// Remove implements folder.Folder: names are unlinked (a link is
// removed, never what it points at).
func (f *Folder) Remove(entries []folder.Entry) error {
	for _, e := range entries {
		err := f.dir().Remove(f.name(e.Name))
		if errors.Is(err, fs.ErrNotExist) {
			var cur string
			if cur, err = f.find(e.Key); err == nil {
				err = f.dir().Remove(f.name(cur))
			}
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, folder.ErrGone) {
			return fmt.Errorf("maildir: remove: %w", notFound(f.rel, err))
		}
	}
	return f.Flush()
}
