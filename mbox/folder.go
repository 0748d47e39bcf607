package mbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc64"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/safefs"
	"github.com/storaged/storaged/message"
)

// Folder is one mbox file, rel beneath the store's root. Every call
// opens it afresh beneath the root (safefs): a file replaced by a link,
// or linked from elsewhere, is then no folder.
type Folder struct {
	st  *Store
	rel string

	mu      sync.Mutex              // our own appends and rewrites, one at a time
	pending map[string]folder.Flags // SetFlags waiting for Flush, by key
	breakMu sync.Mutex              // breakers of a stale dotlock, one at a time

	cmu  sync.Mutex
	last *listing // see cache.go
}

var crcTable = crc64.MakeTable(crc64.ECMA)

// keyOf is a record's key: the X-Storaged-Key we wrote at append, or for
// a message another program wrote a checksum of its From_ line and
// content, which neither our flag rewrites nor mutt's change (the fields
// they write are not content).
func keyOf(b []byte, r Record) string {
	if k := storedKey(b, r); k != "" {
		return k
	}
	h := crc64.New(crcTable)
	h.Write(line(b, r.Start))
	contentTo(b, r, func(p []byte) { h.Write(p) })
	return "c" + strconv.FormatUint(h.Sum64(), 16)
}

// baseKey is a key without the ordinal that tells identical messages
// apart.
func baseKey(k string) string {
	b, _, _ := strings.Cut(k, ".")
	return b
}

// entries lists the records of a file's bytes; mtime dates the records
// whose From_ line has no date we can read.
func entries(b []byte, mtime time.Time) []folder.Entry {
	return entriesOf(b, Split(b), mtime)
}

// entriesOf lists the given records. Identical messages from other
// programs share a checksum; the second and later get an ordinal.
func entriesOf(b []byte, recs []Record, mtime time.Time) []folder.Entry {
	out := make([]folder.Entry, 0, len(recs))
	seen := make(map[string]int, len(recs))
	for _, r := range recs {
		key := keyOf(b, r)
		if n := seen[key]; n > 0 {
			seen[key] = n + 1
			key += "." + strconv.Itoa(n+1)
		} else {
			seen[key] = 1
		}
		out = append(out, folder.Entry{
			Key: key, Name: nameOf(r), Flags: Flags(b, r),
			Size: int64(r.End - r.Start), Date: recordDate(b, r, mtime),
		})
	}
	return out
}

func nameOf(r Record) string {
	return strconv.Itoa(r.Start) + ":" + strconv.Itoa(r.End-r.Start)
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

// recordDate is the date of a record's From_ line, else the file's mtime
// (a first record without a readable From_ line).
func recordDate(b []byte, r Record, mtime time.Time) time.Time {
	if _, d, ok := ParseFromLine(line(b, r.Start)); ok {
		return d
	}
	return mtime
}

// readLocked reads the whole file under a shared fcntl lock, after
// breaking a lock a dead storaged left (and cutting off the half append
// with it). The token and mtime describe exactly the bytes read.
func (f *Folder) readLocked() ([]byte, folder.Token, time.Time, error) {
	if _, err := f.st.dir.Lstat(f.rel + ".lock"); err == nil {
		f.breakStale(f.rel + ".lock")
	}
	fd, err := f.open()
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	defer fd.Close()
	if err := folder.LockFile(fd, unix.F_RDLCK, time.Now().Add(f.st.lockWait())); err != nil {
		return nil, nil, time.Time{}, err
	}
	b, st, err := readAllOf(fd)
	if err != nil {
		return nil, nil, time.Time{}, fmt.Errorf("mbox: read %s: %w", f.rel, err)
	}
	return b, tokenOf(st), st.ModTime(), nil
}

// open opens the file for reading: a regular file with no other link
// (another user's mbox linked here is not read); else ErrNotFound.
func (f *Folder) open() (*os.File, error) {
	fd, err := f.st.dir.OpenFile(f.rel, os.O_RDONLY, 0, safefs.Regular|safefs.Single)
	if err != nil {
		if folder.Missing(err) {
			return nil, fmt.Errorf("%w: %s: %w", folder.ErrNotFound, f.rel, err)
		}
		return nil, fmt.Errorf("mbox: %w", err)
	}
	return fd, nil
}

// readAllOf reads a whole file from its start in one allocation (a
// 100 MB mbox read through io.ReadAll would be copied some twenty times).
func readAllOf(fd *os.File) ([]byte, fs.FileInfo, error) {
	st, err := fd.Stat()
	if err != nil {
		return nil, nil, err
	}
	// One byte more than the size, so that growth is seen as such.
	b := make([]byte, 0, st.Size()+1)
	r := io.NewSectionReader(fd, 0, 1<<62)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			return b, st, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// Scan implements folder.Folder.
func (f *Folder) Scan(ctx context.Context) ([]folder.Entry, folder.Token, error) {
	tok, err := f.Token()
	if err != nil {
		return nil, nil, err
	}
	if ents, ok := f.cached(tok); ok {
		return ents, tok, nil
	}
	b, tok, mtime, err := f.readLocked()
	if err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	ents := entries(b, mtime)
	f.remember(tok, ents, f.Settled(tok))
	return append([]folder.Entry(nil), ents...), tok, nil
}

func tokenOf(st fs.FileInfo) folder.Token {
	tok := folder.AppendMtime(make(folder.Token, 0, 24), st)
	tok = folder.AppendUint(tok, uint64(st.Size()))
	if ino := inodeOfInfo(st); ino != 0 {
		tok = folder.AppendUint(tok, ino)
	}
	return tok
}

// Token implements folder.Folder: mtime, size and inode of the file (a
// rewrite by rename changes the inode even when size and time agree).
func (f *Folder) Token() (folder.Token, error) {
	st, err := f.st.dir.Lstat(f.rel)
	if err == nil && !st.Mode().IsRegular() {
		err = safefs.ErrNotRegular
	}
	if err != nil {
		if folder.Missing(err) {
			return nil, fmt.Errorf("%w: %s: %w", folder.ErrNotFound, f.rel, err)
		}
		return nil, fmt.Errorf("mbox: %w", err)
	}
	return tokenOf(st), nil
}

// ScanOrdered implements folder.Ordered: Scan lists the file's
// messages from its start.
func (f *Folder) ScanOrdered() {}

// Settled implements folder.Folder: the token starts with the mtime.
func (f *Folder) Settled(tok folder.Token) bool { return folder.MtimesSettled(tok, 1) }

// Stat implements folder.Folder.
func (f *Folder) Stat(e folder.Entry) (folder.Entry, error) {
	b, r, name, err := f.find(e)
	if err != nil {
		return e, err
	}
	e.Name = name
	var mtime time.Time
	if _, _, ok := ParseFromLine(line(b, r.Start)); !ok {
		if st, err := f.st.dir.Lstat(f.rel); err == nil {
			mtime = st.ModTime()
		}
	}
	e.Size, e.Date = int64(r.End-r.Start), recordDate(b, r, mtime)
	return e, nil
}

// Open implements folder.Folder: the message in canonical form, without
// the From_ line and the state fields, mboxrd quoting undone.
func (f *Folder) Open(e folder.Entry) (io.ReadCloser, error) {
	b, r, _, err := f.find(e)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(message.Canonical(Content(b, r)))), nil
}

// ReadStored implements folder.Folder.
func (f *Folder) ReadStored(e folder.Entry) ([]byte, error) {
	b, r, _, err := f.find(e)
	if err != nil {
		return nil, err
	}
	return message.StoredForm(Content(b, r)), nil
}

// find reads the record of an entry, and returns it with the Name it has
// now: at its Name when that still holds it, else where the trusted
// listing says its key went, else wherever a rescan finds the key (and
// that rescan becomes the listing).
func (f *Folder) find(e folder.Entry) ([]byte, Record, string, error) {
	if b, r, ok := f.readAt(e); ok {
		return b, r, e.Name, nil
	}
	if tok, err := f.Token(); err == nil {
		if name, ok := f.nameOf(tok, e.Key); ok && name != e.Name {
			moved := e
			moved.Name = name
			if b, r, ok := f.readAt(moved); ok {
				return b, r, name, nil
			}
		}
	}
	b, tok, mtime, err := f.readLocked()
	if errors.Is(err, folder.ErrNotFound) {
		return nil, Record{}, "", fmt.Errorf("%w: %w", folder.ErrGone, err)
	}
	if err != nil {
		return nil, Record{}, "", err
	}
	recs := Split(b)
	ents := entriesOf(b, recs, mtime)
	f.remember(tok, ents, f.Settled(tok))
	for i, ent := range ents {
		if ent.Key == e.Key {
			return b, recs[i], ent.Name, nil
		}
	}
	return nil, Record{}, "", folder.ErrGone
}

// readAt reads just the record an entry's Name points at, with a little
// of what follows to check that it still ends there: FETCH of one body
// must not read the whole file. ok is false when the Name is stale or a
// dotlock is held (a writer that takes no fcntl lock may be at work).
func (f *Folder) readAt(e folder.Entry) ([]byte, Record, bool) {
	off, n, ok := parseName(e.Name)
	if !ok || n == 0 {
		return nil, Record{}, false
	}
	if _, err := f.st.dir.Lstat(f.rel + ".lock"); err == nil {
		return nil, Record{}, false
	}
	fd, err := f.open()
	if err != nil {
		return nil, Record{}, false
	}
	defer fd.Close()
	if folder.LockFile(fd, unix.F_RDLCK, time.Now().Add(f.st.lockWait())) != nil {
		return nil, Record{}, false
	}
	if st, err := fd.Stat(); err == nil && f.listedAt(tokenOf(st), e) {
		// The file is as the trusted listing saw it, and that listing
		// had this key here: no need to check the record's identity.
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
	if end != n {
		return nil, Record{}, false
	}
	if k := keyOf(w, r); k != e.Key && k != baseKey(e.Key) {
		return nil, Record{}, false
	}
	return w, r, true
}
