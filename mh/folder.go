package mh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/safefs"
	"github.com/storaged/storaged/message"
)

// tmpPrefix starts the names of messages being written: a dot-file, which
// MH programs ignore.
const tmpPrefix = ".storaged-tmp-"

// Folder is one MH folder, rel beneath the store's root. Every call
// resolves its names afresh beneath the root (safefs): a folder replaced
// by a link after Store.Folder returned it is then no folder.
type Folder struct {
	rel  string
	st   *Store
	sync *folder.DirSyncer

	mu      sync.Mutex
	next    int                  // next number to try; 0: not known yet
	pending map[int]folder.Flags // SetFlags not yet written to .mh_sequences
}

func (f *Folder) dir() *safefs.Dir     { return f.st.dir }
func (f *Folder) name(n string) string { return f.rel + "/" + n }

// msgNumber parses a message file name: a positive decimal number without
// leading zeros or signs.
func msgNumber(name string) (int, bool) {
	if name == "" || len(name) > 9 || name[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(name)
	return n, err == nil
}

// notFound turns a name that leads nowhere we go into ErrNotFound for
// the folder.
func (f *Folder) notFound(err error) error {
	if folder.Missing(err) {
		return fmt.Errorf("%w: %s: %w", folder.ErrNotFound, f.rel, err)
	}
	return fmt.Errorf("mh: %w", err)
}

// cleanTemp removes what an append cut short by a crash left: temporary
// files older than an hour (a live append takes milliseconds).
func (f *Folder) cleanTemp() {
	ents, _ := f.dir().ReadDir(f.rel)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name, tmpPrefix) {
			continue
		}
		if info, err := f.dir().Lstat(f.name(e.Name)); err == nil && time.Since(info.ModTime()) > time.Hour {
			f.dir().Remove(f.name(e.Name))
		}
	}
}

// highest returns the largest number of a message file in the folder.
func (f *Folder) highest() (int, error) {
	ents, err := f.readDir()
	if err != nil {
		return 0, err
	}
	max := 0
	for _, de := range ents {
		if v, ok := msgNumber(de.Name); ok && !de.IsDir() && v > max {
			max = v
		}
	}
	return max, nil
}

// readDir lists the folder directory with the entries' types, which tell
// a message from a subfolder with a numeric name without a stat each.
func (f *Folder) readDir() ([]safefs.Entry, error) {
	ents, err := f.dir().ReadDir(f.rel)
	if err != nil {
		return nil, f.notFound(err)
	}
	return ents, nil
}

// Append implements folder.Folder; see the package invariants.
func (f *Folder) Append(ctx context.Context, m folder.NewMessage) (folder.Entry, error) {
	if err := ctx.Err(); err != nil {
		return folder.Entry{}, err
	}
	tmp := f.name(tmpPrefix + safefs.RandomName())
	var size int64
	if m.Content != nil && m.Content.Body.Spooled() {
		// A spooled message, streamed in the form StorageLF would give.
		want, _, err := m.Content.StoredSize()
		if err != nil {
			return folder.Entry{}, err
		}
		if size, err = folder.WriteFileSyncedFrom(f.dir(), tmp, m.Content.StoredReader(), m.Date); err != nil {
			return folder.Entry{}, f.notFound(err)
		}
		if size != want {
			f.dir().Remove(tmp)
			return folder.Entry{}, fmt.Errorf("mh: wrote %d octets of a %d octet message", size, want)
		}
	} else {
		var data []byte
		if m.Content != nil {
			// In memory: that form in one pass, in a slice of our own.
			data, _, _ = m.Content.AppendStored(nil)
		} else {
			data, _ = message.StorageLF(m.Data)
		}
		if err := folder.WriteFileSynced(f.dir(), tmp, data, m.Date); err != nil {
			return folder.Entry{}, f.notFound(err)
		}
		size = int64(len(data))
	}
	defer f.dir().Remove(tmp)
	n, err := f.link(tmp, m.Reserve)
	if err != nil {
		return folder.Entry{}, err
	}
	if err := f.sync.Sync(f.dir(), f.rel); err != nil {
		return folder.Entry{}, err
	}
	flags := folder.Flags{Sys: m.Flags.Sys, Keywords: folder.NormalizeKeywords(m.Flags.Keywords)}
	// The message is durable now and must be acknowledged: failing here
	// would make the sender retry a message we keep. The flags are in the
	// index; a sequences file an MH program holds locked for ten seconds
	// only costs that program the mark.
	_ = updateSequences(f.dir(), f.rel, func(s *sequences) { s.apply(n, flags) })
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	key := strconv.Itoa(n)
	return folder.Entry{Key: key, Name: key, Flags: flags, Size: size, Date: date}, nil
}

// linkTries bounds the numbers an append tries.
const linkTries = 100

// link gives tmp the next free number. Another program appending at the
// same time makes link fail with EEXIST; then the folder is read again.
// A number a subfolder has taken (a folder named "51", which another
// program or an older storaged made) is skipped: folders and messages
// never share a name, and such a folder never blocks delivery.
func (f *Folder) link(tmp string, reserve func(string)) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for tries := 0; tries < linkTries; tries++ {
		if f.next == 0 {
			max, err := f.highest()
			if err != nil {
				return 0, err
			}
			f.next = max + 1
		}
		n := f.next
		if reserve != nil {
			reserve(strconv.Itoa(n))
		}
		err := f.dir().Link(tmp, f.name(strconv.Itoa(n)))
		if err == nil {
			f.next = n + 1
			return n, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return 0, fmt.Errorf("mh: link message into place: %w", f.notFound(err))
		}
		if fi, lerr := f.dir().Lstat(f.name(strconv.Itoa(n))); lerr == nil && !fi.Mode().IsRegular() {
			// Not a message (a folder, a link): the next number.
			f.next = n + 1
			continue
		}
		f.next = 0
	}
	return 0, fmt.Errorf("mh: no free message number after %d tries", linkTries)
}

// messageName checks that an entry names a message file of the folder.
func (f *Folder) messageName(e folder.Entry) (string, error) {
	if _, ok := msgNumber(e.Name); !ok {
		return "", fmt.Errorf("%w: %q is not a message number", folder.ErrGone, e.Name)
	}
	return f.name(e.Name), nil
}

// Open implements folder.Folder.
func (f *Folder) Open(e folder.Entry) (io.ReadCloser, error) {
	name, err := f.messageName(e)
	if err != nil {
		return nil, err
	}
	// nmh's anno rewrites messages in place: no size is trusted.
	return folder.OpenCanonical(f.dir(), name, 0)
}

// ReadStored implements folder.Folder.
func (f *Folder) ReadStored(e folder.Entry) ([]byte, error) {
	name, err := f.messageName(e)
	if err != nil {
		return nil, err
	}
	return folder.ReadStored(f.dir(), name)
}

// Token implements folder.Folder: the directory's mtime (links and
// unlinks) and the sequences file's mtime and size (flag changes).
func (f *Folder) Token() (folder.Token, error) {
	st, err := f.dir().Lstat(f.rel)
	if err == nil && !st.IsDir() {
		err = safefs.ErrLink
	}
	if err != nil {
		return nil, f.notFound(err)
	}
	tok := folder.AppendMtime(make(folder.Token, 0, 24), st)
	if sq, err := f.dir().Lstat(f.name(seqFile)); err == nil && sq.Mode().IsRegular() {
		tok = folder.AppendMtime(tok, sq)
		tok = folder.AppendUint(tok, uint64(sq.Size()))
	}
	return tok, nil
}

// Settled implements folder.Folder: both mtimes must be settled.
func (f *Folder) Settled(tok folder.Token) bool { return folder.MtimesSettled(tok, 2) }

// Scan implements folder.Folder: one readdir and one read of the
// sequences; sizes and dates come from Stat when the store needs them.
// Only regular files are messages: a link, a FIFO or a subfolder with a
// numeric name is not listed.
func (f *Folder) Scan(ctx context.Context) ([]folder.Entry, folder.Token, error) {
	tok, err := f.Token()
	if err != nil {
		return nil, nil, err
	}
	seqs, err := readSequences(f.dir(), f.rel)
	if err != nil {
		return nil, nil, err
	}
	ents, err := f.readDir()
	if err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	out := make([]folder.Entry, 0, len(ents))
	for _, de := range ents {
		name := de.Name
		n, ok := msgNumber(name)
		// The directory entry's type, not a stat.
		if !ok || !(de.IsRegular() || (de.Unknown() && f.dir().IsRegular(f.name(name)))) {
			continue
		}
		out = append(out, folder.Entry{Key: name, Name: name, Flags: seqs.flags(n)})
	}
	// By number (folder.Ordered): a directory lists in no useful order.
	slices.SortFunc(out, func(a, b folder.Entry) int {
		na, _ := msgNumber(a.Key)
		nb, _ := msgNumber(b.Key)
		return na - nb
	})
	return out, tok, nil
}

// ScanOrdered implements folder.Ordered.
func (f *Folder) ScanOrdered() {}

// Stat implements folder.Folder; anything but a regular file is ErrGone.
func (f *Folder) Stat(e folder.Entry) (folder.Entry, error) {
	name, err := f.messageName(e)
	if err != nil {
		return e, err
	}
	st, err := f.dir().Lstat(name)
	if err == nil && !st.Mode().IsRegular() {
		err = safefs.ErrNotRegular
	}
	if err != nil {
		if folder.Missing(err) {
			return e, fmt.Errorf("%w: %w", folder.ErrGone, err)
		}
		return e, fmt.Errorf("mh: %w", err)
	}
	e.Size, e.Date = st.Size(), st.ModTime()
	return e, nil
}

// RecordedFlags implements folder.PartialFlags: the sequences hold
// unseen, flagged and replied.
func (f *Folder) RecordedFlags() (folder.SysFlags, bool) {
	return folder.Seen | folder.Flagged | folder.Answered, false
}

// SetFlags implements folder.Folder: the change waits for Flush, which
// writes the sequences once for a whole STORE.
func (f *Folder) SetFlags(e folder.Entry, fl folder.Flags) (folder.Entry, error) {
	n, ok := msgNumber(e.Name)
	if !ok {
		return e, fmt.Errorf("mh: %q is not a message number", e.Name)
	}
	f.mu.Lock()
	if f.pending == nil {
		f.pending = make(map[int]folder.Flags)
	}
	f.pending[n] = fl
	f.mu.Unlock()
	e.Flags = fl
	return e, nil
}

// Flush writes pending flag changes to .mh_sequences.
func (f *Folder) Flush() error {
	f.mu.Lock()
	pending := f.pending
	f.pending = nil
	f.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	return updateSequences(f.dir(), f.rel, func(s *sequences) {
		for n, fl := range pending {
			if _, err := f.dir().Lstat(f.name(strconv.Itoa(n))); err == nil {
				s.apply(n, fl)
			}
		}
	})
}

// Remove implements folder.Folder: names are unlinked (a link is
// removed, never what it points at).
func (f *Folder) Remove(entries []folder.Entry) error {
	var gone []int
	for _, e := range entries {
		n, ok := msgNumber(e.Name)
		if !ok {
			continue
		}
		err := f.dir().Remove(f.name(e.Name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("mh: remove: %w", f.notFound(err))
		}
		gone = append(gone, n)
	}
	if err := f.sync.Sync(f.dir(), f.rel); err != nil {
		return f.notFound(err)
	}
	f.mu.Lock()
	for _, n := range gone {
		delete(f.pending, n)
	}
	f.mu.Unlock()
	return updateSequences(f.dir(), f.rel, func(s *sequences) {
		for _, n := range gone {
			s.forget(n)
		}
	})
}
