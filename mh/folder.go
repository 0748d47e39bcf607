package mh

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/message"
)

// tmpPrefix starts the names of messages being written: a dot-file, which
// MH programs ignore.
const tmpPrefix = ".storaged-tmp-"

// Folder is one MH folder.
type Folder struct {
	dir  string
	sync *folder.DirSyncer

	mu      sync.Mutex
	next    int                  // next number to try; 0: not known yet
	pending map[int]folder.Flags // SetFlags not yet written to .mh_sequences
}

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

// cleanTemp removes what an append cut short by a crash left: temporary
// files older than an hour (a live append takes milliseconds).
func (f *Folder) cleanTemp() {
	ents, _ := os.ReadDir(f.dir)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Hour {
			os.Remove(filepath.Join(f.dir, e.Name()))
		}
	}
}

// highest returns the largest message number in the folder.
func (f *Folder) highest() (int, error) {
	ents, err := readDir(f.dir)
	if err != nil {
		return 0, err
	}
	max := 0
	for _, de := range ents {
		if v, ok := msgNumber(de.Name()); ok && !de.IsDir() && v > max {
			max = v
		}
	}
	return max, nil
}

// readDir lists a folder directory with the entries' types, which tell a
// message from a subfolder with a numeric name without a stat each.
func readDir(dir string) ([]fs.DirEntry, error) {
	d, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", folder.ErrNotFound, dir)
		}
		return nil, fmt.Errorf("mh: %w", err)
	}
	defer d.Close()
	ents, err := d.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("mh: read %s: %w", dir, err)
	}
	return ents, nil
}

// Append implements folder.Folder; see the package invariants.
func (f *Folder) Append(ctx context.Context, m folder.NewMessage) (folder.Entry, error) {
	if err := ctx.Err(); err != nil {
		return folder.Entry{}, err
	}
	data, _ := message.StorageLF(m.Data)
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := filepath.Join(f.dir, tmpPrefix+hex.EncodeToString(rnd[:]))
	if err := folder.WriteFileSynced(tmp, data, m.Date); err != nil {
		return folder.Entry{}, fmt.Errorf("mh: %w", err)
	}
	defer os.Remove(tmp)
	n, err := f.link(tmp, m.Reserve)
	if err != nil {
		return folder.Entry{}, err
	}
	if err := f.sync.Sync(f.dir); err != nil {
		return folder.Entry{}, err
	}
	flags := folder.Flags{Sys: m.Flags.Sys, Keywords: folder.NormalizeKeywords(m.Flags.Keywords)}
	// The message is durable now and must be acknowledged: failing here
	// would make the sender retry a message we keep. The flags are in the
	// index; a sequences file an MH program holds locked for ten seconds
	// only costs that program the mark.
	_ = updateSequences(f.dir, func(s *sequences) { s.apply(n, flags) })
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	key := strconv.Itoa(n)
	return folder.Entry{Key: key, Name: key, Flags: flags, Size: int64(len(data)), Date: date}, nil
}

// link gives tmp the next free number. Another program appending at the
// same time makes link fail with EEXIST; then the folder is read again.
func (f *Folder) link(tmp string, reserve func(string)) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for tries := 0; tries < 100; tries++ {
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
		err := os.Link(tmp, filepath.Join(f.dir, strconv.Itoa(n)))
		if err == nil {
			f.next = n + 1
			return n, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return 0, fmt.Errorf("mh: link message into place: %w", err)
		}
		f.next = 0
	}
	return 0, errors.New("mh: no free message number after 100 tries")
}

// Open implements folder.Folder.
func (f *Folder) Open(e folder.Entry) (io.ReadCloser, error) {
	// nmh's anno rewrites messages in place: no size is trusted.
	return folder.OpenCanonical(filepath.Join(f.dir, e.Name), 0)
}

// ReadStored implements folder.Folder.
func (f *Folder) ReadStored(e folder.Entry) ([]byte, error) {
	return folder.ReadStored(filepath.Join(f.dir, e.Name))
}

// Token implements folder.Folder: the directory's mtime (links and
// unlinks) and the sequences file's mtime and size (flag changes).
func (f *Folder) Token() (folder.Token, error) {
	st, err := os.Stat(f.dir)
	if err != nil {
		return nil, fmt.Errorf("mh: %w", err)
	}
	tok := folder.AppendMtime(make(folder.Token, 0, 24), st)
	if sq, err := os.Stat(filepath.Join(f.dir, seqFile)); err == nil {
		tok = folder.AppendMtime(tok, sq)
		tok = folder.AppendUint(tok, uint64(sq.Size()))
	}
	return tok, nil
}

// Settled implements folder.Folder: both mtimes must be settled.
func (f *Folder) Settled(tok folder.Token) bool { return folder.MtimesSettled(tok, 2) }

// Scan implements folder.Folder: one readdir and one read of the
// sequences; sizes and dates come from Stat when the store needs them.
func (f *Folder) Scan(ctx context.Context) ([]folder.Entry, folder.Token, error) {
	tok, err := f.Token()
	if err != nil {
		return nil, nil, err
	}
	seqs, err := readSequences(f.dir)
	if err != nil {
		return nil, nil, err
	}
	ents, err := readDir(f.dir)
	if err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	out := make([]folder.Entry, 0, len(ents))
	for _, de := range ents {
		name := de.Name()
		n, ok := msgNumber(name)
		// The directory entry's type, not a stat: a subfolder may have a
		// numeric name too.
		if !ok || de.IsDir() {
			continue
		}
		out = append(out, folder.Entry{Key: name, Name: name, Flags: seqs.flags(n)})
	}
	return out, tok, nil
}

// Stat implements folder.Folder.
func (f *Folder) Stat(e folder.Entry) (folder.Entry, error) {
	st, err := os.Stat(filepath.Join(f.dir, e.Name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return e, folder.ErrGone
		}
		return e, fmt.Errorf("mh: %w", err)
	}
	if !st.Mode().IsRegular() {
		return e, folder.ErrGone
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
	return updateSequences(f.dir, func(s *sequences) {
		for n, fl := range pending {
			if _, err := os.Lstat(filepath.Join(f.dir, strconv.Itoa(n))); err == nil {
				s.apply(n, fl)
			}
		}
	})
}

// Remove implements folder.Folder.
func (f *Folder) Remove(entries []folder.Entry) error {
	var gone []int
	for _, e := range entries {
		n, ok := msgNumber(e.Name)
		if !ok {
			continue
		}
		err := os.Remove(filepath.Join(f.dir, e.Name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("mh: remove: %w", err)
		}
		gone = append(gone, n)
	}
	if err := f.sync.Sync(f.dir); err != nil {
		return err
	}
	f.mu.Lock()
	for _, n := range gone {
		delete(f.pending, n)
	}
	f.mu.Unlock()
	return updateSequences(f.dir, func(s *sequences) {
		for _, n := range gone {
			s.forget(n)
		}
	})
}
