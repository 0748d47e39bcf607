package mbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/message"
)

// Folder is one mbox file.
type Folder struct {
	st   *Store
	path string

	mu      sync.Mutex              // our own appends and rewrites, one at a time
	pending map[string]folder.Flags // SetFlags waiting for Flush, by key

	// The last listing and the token of the file it describes. Our own
	// appends extend it when the file was, just before the append, in
	// the state it describes, so that a rescan after a delivery does not
	// read the whole file again.
	cmu        sync.Mutex
	cacheTok   folder.Token
	cache      []folder.Entry
	cacheNames map[string]string // name → key of cache, built when first asked
}

var crcTable = crc64.MakeTable(crc64.ECMA)

// keyOf is a record's key: the X-Storaged-Key we wrote at append, or for
// a message another program wrote a checksum of its From_ line and
// content, which our flag rewrites do not change.
func keyOf(b []byte, r Record) string {
	if k := storedKey(b, r); k != "" {
		return k
	}
	h := crc64.New(crcTable)
	h.Write(line(b, r.Start))
	h.Write(Content(b, r))
	return "c" + strconv.FormatUint(h.Sum64(), 16)
}

// entries lists the records of a file's bytes. Identical messages from
// other programs share a checksum; the second and later get an ordinal.
func entries(b []byte) []folder.Entry {
	recs := Split(b)
	out := make([]folder.Entry, 0, len(recs))
	seen := map[string]int{}
	for _, r := range recs {
		key := keyOf(b, r)
		if n := seen[key]; n > 0 {
			seen[key] = n + 1
			key += "." + strconv.Itoa(n+1)
		} else {
			seen[key] = 1
		}
		_, date, _ := ParseFromLine(line(b, r.Start))
		out = append(out, folder.Entry{
			Key: key, Name: strconv.Itoa(r.Start) + ":" + strconv.Itoa(r.End-r.Start),
			Flags: Flags(b, r), Size: int64(r.End - r.Start), Date: date,
		})
	}
	return out
}

// readLocked reads the whole file under a shared fcntl lock, after
// breaking a lock a dead storaged left (and the half append with it). The
// token describes exactly the bytes read.
func (f *Folder) readLocked() ([]byte, folder.Token, error) {
	if _, err := os.Stat(f.path + ".lock"); err == nil {
		f.breakStale(f.path + ".lock")
	}
	fd, err := os.Open(f.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%w: %s", folder.ErrNotFound, f.path)
		}
		return nil, nil, fmt.Errorf("mbox: %w", err)
	}
	defer fd.Close()
	if err := folder.LockFile(fd, unix.F_RDLCK, time.Now().Add(f.st.LockWait)); err != nil {
		return nil, nil, err
	}
	st, err := fd.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("mbox: %w", err)
	}
	b, err := io.ReadAll(fd)
	if err != nil {
		return nil, nil, fmt.Errorf("mbox: read %s: %w", f.path, err)
	}
	return b, tokenOf(st), nil
}

// Scan implements folder.Folder.
func (f *Folder) Scan(ctx context.Context) ([]folder.Entry, folder.Token, error) {
	tok, err := f.Token()
	if err != nil {
		return nil, nil, err
	}
	f.cmu.Lock()
	if f.cache != nil && bytes.Equal(tok, f.cacheTok) {
		ents := slices.Clone(f.cache)
		f.cmu.Unlock()
		return ents, tok, nil
	}
	f.cmu.Unlock()
	b, tok, err := f.readLocked()
	if err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	ents := entries(b)
	f.cmu.Lock()
	f.cache, f.cacheTok, f.cacheNames = slices.Clone(ents), tok, nil
	f.cmu.Unlock()
	return ents, tok, nil
}

// listed tells whether the listing cached for token tok has e's key at
// e's name.
func (f *Folder) listed(tok folder.Token, e folder.Entry) bool {
	f.cmu.Lock()
	defer f.cmu.Unlock()
	if f.cache == nil || !bytes.Equal(tok, f.cacheTok) {
		return false
	}
	if f.cacheNames == nil {
		f.cacheNames = make(map[string]string, len(f.cache))
		for _, c := range f.cache {
			f.cacheNames[c.Name] = c.Key
		}
	}
	return f.cacheNames[e.Name] == e.Key
}

// forgetCache drops the listing after a rewrite.
func (f *Folder) forgetCache() {
	f.cmu.Lock()
	f.cache, f.cacheTok, f.cacheNames = nil, nil, nil
	f.cmu.Unlock()
}

func tokenOf(st fs.FileInfo) folder.Token {
	tok := binary.BigEndian.AppendUint64(make([]byte, 0, 24), uint64(st.ModTime().UnixNano()))
	tok = binary.BigEndian.AppendUint64(tok, uint64(st.Size()))
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		tok = binary.BigEndian.AppendUint64(tok, sys.Ino)
	}
	return tok
}

// Token implements folder.Folder: size, mtime and inode of the file (a
// rewrite by rename changes the inode even when size and time agree).
func (f *Folder) Token() (folder.Token, error) {
	st, err := os.Stat(f.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", folder.ErrNotFound, f.path)
		}
		return nil, fmt.Errorf("mbox: %w", err)
	}
	return tokenOf(st), nil
}

// Settled implements folder.Folder: trusted once the mtime is clearly
// in the past.
func (f *Folder) Settled(tok folder.Token) bool {
	return len(tok) >= 8 && time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(tok)))) >= 2*time.Second
}

// Stat implements folder.Folder: size and date come with the scan.
func (f *Folder) Stat(e folder.Entry) (folder.Entry, error) {
	b, r, err := f.find(e)
	if err != nil {
		return e, err
	}
	_, date, ok := ParseFromLine(line(b, r.Start))
	if !ok {
		if st, err := os.Stat(f.path); err == nil {
			date = st.ModTime()
		}
	}
	e.Size, e.Date = int64(r.End-r.Start), date
	return e, nil
}

// find reads the record of an entry: at its Name's offset when that still
// holds it, else wherever a rescan finds its key.
func (f *Folder) find(e folder.Entry) ([]byte, Record, error) {
	if b, r, ok := f.readAt(e); ok {
		return b, r, nil
	}
	b, _, err := f.readLocked()
	if err != nil {
		return nil, Record{}, err
	}
	if off, _, ok := parseName(e.Name); ok && off < len(b) && (off == 0 || b[off-1] == '\n') && bytes.HasPrefix(b[off:], []byte("From ")) {
		if body := off + len(line(b, off)) + 1; body <= len(b) && b[body-1] == '\n' {
			end, _ := messageEnd(b, body)
			r := Record{Start: off, Body: body, End: end}
			if k := keyOf(b, r); k == strings.SplitN(e.Key, ".", 2)[0] || k == e.Key {
				return b, r, nil
			}
		}
	}
	recs := Split(b)
	for i, ent := range entries(b) {
		if ent.Key == e.Key {
			return b, recs[i], nil
		}
	}
	return nil, Record{}, folder.ErrGone
}

// readAt reads just the record an entry's Name points at, with a little
// of what follows to check that it still ends there: FETCH of one body
// must not read the whole file. ok is false when the Name is stale.
func (f *Folder) readAt(e folder.Entry) ([]byte, Record, bool) {
	off, n, ok := parseName(e.Name)
	if !ok || n == 0 {
		return nil, Record{}, false
	}
	if _, err := os.Stat(f.path + ".lock"); err == nil {
		return nil, Record{}, false
	}
	fd, err := os.Open(f.path)
	if err != nil {
		return nil, Record{}, false
	}
	defer fd.Close()
	if folder.LockFile(fd, unix.F_RDLCK, time.Now().Add(f.st.LockWait)) != nil {
		return nil, Record{}, false
	}
	if st, err := fd.Stat(); err == nil && f.listed(tokenOf(st), e) {
		// The file is as the last listing saw it and that listing had
		// this key at this place: no need to check the record's identity.
		w := make([]byte, n)
		if _, err := fd.ReadAt(w, int64(off)); err == nil {
			if body := bytes.IndexByte(w, '\n') + 1; body > 0 {
				return w, Record{Start: 0, Body: body, End: n}, true
			}
		}
	}
	if off > 0 {
		var prev [1]byte
		if _, err := fd.ReadAt(prev[:], int64(off-1)); err != nil || prev[0] != '\n' {
			return nil, Record{}, false
		}
	}
	// The tail check parses the next From_ line: 1 KB holds any real one.
	w := make([]byte, n+1024)
	m, err := fd.ReadAt(w, int64(off))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, Record{}, false
	}
	w = w[:m]
	if m < n || !bytes.HasPrefix(w, []byte("From ")) {
		return nil, Record{}, false
	}
	body := len(line(w, 0)) + 1
	if body > n || w[body-1] != '\n' {
		return nil, Record{}, false
	}
	if m == n+1024 {
		// Not at the end of the file: the record must end where the
		// next From_ line begins, whole within the window.
		if _, ok := validTail(w, n); !ok {
			return nil, Record{}, false
		}
	}
	end, _ := messageEnd(w, body)
	r := Record{Start: 0, Body: body, End: end}
	if end != n || (keyOf(w, r) != e.Key && keyOf(w, r) != strings.SplitN(e.Key, ".", 2)[0]) {
		return nil, Record{}, false
	}
	return w, r, true
}

func parseName(name string) (off, n int, ok bool) {
	a, c, found := strings.Cut(name, ":")
	if !found {
		return 0, 0, false
	}
	off, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(c)
	return off, n, err1 == nil && err2 == nil && off >= 0 && n >= 0
}

// Open implements folder.Folder.
func (f *Folder) Open(e folder.Entry) (io.ReadCloser, error) {
	b, r, err := f.find(e)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(message.Canonical(Content(b, r)))), nil
}

// Append implements folder.Folder: at the end of the file, under the
// write lock, fsynced; see writeIntent for a crash in the middle.
func (f *Folder) Append(ctx context.Context, m folder.NewMessage) (folder.Entry, error) {
	if err := ctx.Err(); err != nil {
		return folder.Entry{}, err
	}
	data, _ := message.StorageLF(m.Canonical)
	var rnd [8]byte
	rand.Read(rnd[:])
	key := hex.EncodeToString(rnd[:])
	flags := folder.Flags{Sys: m.Flags.Sys, Keywords: folder.NormalizeKeywords(m.Flags.Keywords)}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	rec := appendRecord(nil, fromLine(m.Sender, date), key, data, flags, flags.Sys != 0 || len(flags.Keywords) > 0)

	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.lockWrite(f.st.LockWait)
	if err != nil {
		return folder.Entry{}, err
	}
	defer l.release()
	st, err := l.file.Stat()
	if err != nil {
		return folder.Entry{}, fmt.Errorf("mbox: %w", err)
	}
	size := st.Size()
	// The last message must end in a blank line before ours begins.
	var sep []byte
	if size > 0 {
		var tail [2]byte
		n, _ := l.file.ReadAt(tail[:min(2, int(size))], max(0, size-2))
		switch {
		case n >= 1 && tail[n-1] != '\n':
			sep = []byte("\n\n")
		case n == 2 && tail[0] != '\n':
			sep = []byte("\n")
		}
	}
	buf := append(sep, rec...)
	if err := l.writeIntent(size, size+int64(len(buf))); err != nil {
		return folder.Entry{}, err
	}
	if m.Reserve != nil {
		m.Reserve(key)
	}
	if _, err := l.file.WriteAt(buf, size); err != nil {
		l.file.Truncate(size)
		return folder.Entry{}, fmt.Errorf("mbox: append: %w", err)
	}
	if err := l.file.Sync(); err != nil {
		l.file.Truncate(size)
		return folder.Entry{}, fmt.Errorf("mbox: append: %w", err)
	}
	e := entries(rec)[0]
	start := int(size) + len(sep)
	_, n, _ := parseName(e.Name)
	e.Name = strconv.Itoa(start) + ":" + strconv.Itoa(n)
	after, err := l.file.Stat()
	f.cmu.Lock()
	if err == nil && f.cache != nil && bytes.Equal(f.cacheTok, tokenOf(st)) && len(sep) == 0 {
		f.cache, f.cacheTok = append(f.cache, e), tokenOf(after)
		if f.cacheNames != nil {
			f.cacheNames[e.Name] = e.Key
		}
	} else {
		f.cache, f.cacheTok, f.cacheNames = nil, nil, nil
	}
	f.cmu.Unlock()
	return e, nil
}

// SetFlags implements folder.Folder; Flush writes the flags.
func (f *Folder) SetFlags(e folder.Entry, fl folder.Flags) (folder.Entry, error) {
	f.mu.Lock()
	if f.pending == nil {
		f.pending = make(map[string]folder.Flags)
	}
	f.pending[e.Key] = fl
	f.mu.Unlock()
	e.Flags = fl
	return e, nil
}

// Flush implements folder.Folder: one rewrite for every pending change.
func (f *Folder) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pending) == 0 {
		return nil
	}
	err := f.rewrite(nil)
	if err == nil {
		f.pending = nil
	}
	return err
}

// Remove implements folder.Folder.
func (f *Folder) Remove(es []folder.Entry) error {
	gone := make(map[string]bool, len(es))
	for _, e := range es {
		gone[e.Key] = true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rewrite(gone)
}

// rewrite writes the file anew without the messages in gone and with the
// pending flags, into a temporary file that replaces it by rename, under
// the write lock: a crash leaves the old file or the new one. Programs
// that take the dotlock first (mutt, procmail, Dovecot) never write to
// the replaced file.
func (f *Folder) rewrite(gone map[string]bool) error {
	l, err := f.lockWrite(f.st.LockWait)
	if err != nil {
		return err
	}
	defer l.release()
	b, err := io.ReadAll(io.NewSectionReader(l.file, 0, 1<<62))
	if err != nil {
		return fmt.Errorf("mbox: read: %w", err)
	}
	recs := Split(b)
	ents := entries(b)
	var out bytes.Buffer
	out.Grow(len(b))
	changed := false
	for i, r := range recs {
		key := ents[i].Key
		if gone[key] {
			changed = true
			continue
		}
		fl, has := f.pending[key]
		if !has {
			fl = ents[i].Flags
			if !bytes.Contains(b[r.Body:r.End], []byte("Status:")) {
				// Never had state fields: keep it that way.
				out.Write(appendRecord(nil, append(bytes.Clone(line(b, r.Start)), '\n'), storedKey(b, r), Content(b, r), fl, false))
				continue
			}
		} else {
			changed = true
		}
		out.Write(appendRecord(nil, append(bytes.Clone(line(b, r.Start)), '\n'), storedKey(b, r), Content(b, r), fl, true))
	}
	if !changed {
		return nil
	}
	dir := filepath.Dir(f.path)
	tmp := filepath.Join(dir, "."+filepath.Base(f.path)+".storaged-rewrite")
	fd, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("mbox: rewrite: %w", err)
	}
	_, err = fd.Write(out.Bytes())
	if err == nil {
		err = fd.Sync()
	}
	if cerr := fd.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, f.path)
	}
	f.forgetCache()
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("mbox: rewrite: %w", err)
	}
	return folder.SyncDir(dir)
}
