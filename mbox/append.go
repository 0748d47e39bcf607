package mbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/message"
)

// Append implements folder.Folder: at the end of the file, under the
// write lock, fsynced. The sizes before and after, measured under the
// lock, are in the journal first (see writeIntent), so that a crash in
// the middle leaves a tail the next locker cuts off; a failed write is
// cut off at once, to the size measured under the lock.
func (f *Folder) Append(ctx context.Context, m folder.NewMessage) (folder.Entry, error) {
	if err := ctx.Err(); err != nil {
		return folder.Entry{}, err
	}
	// LF on disk when that reads back as the canonical bytes; otherwise
	// the canonical bytes themselves, which read back unchanged.
	var data []byte
	if m.Content != nil {
		// A copy in memory is put into that form in one pass, in a
		// slice of our own; a spooled one streams.
		var ok bool
		if data, _, ok = m.Content.AppendStored(nil); !ok {
			return f.appendStream(ctx, m)
		}
	} else {
		data, _ = message.StorageLF(m.Data)
	}
	key, flags, date, err := recordHead(m)
	if err != nil {
		return folder.Entry{}, err
	}
	rec := appendRecord(nil, fromLine(m.Sender, date), key, data, flags, flags.Sys != 0 || len(flags.Keywords) > 0)

	f.mu.Lock()
	defer f.mu.Unlock()
	l, st, sep, err := f.lockTail()
	if err != nil {
		return folder.Entry{}, err
	}
	defer l.release()
	size := st.Size()
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
	l.doneIntent()
	e := entries(rec, date)[0]
	_, n, _ := parseName(e.Name)
	e.Name = strconv.Itoa(int(size)+len(sep)) + ":" + strconv.Itoa(n)
	if after, err := l.file.Stat(); err == nil && len(sep) == 0 {
		// A separator we had to add may have changed how the last
		// message reads; only a clean tail keeps the listing valid.
		f.extend(tokenOf(st), tokenOf(after), e)
	} else {
		f.forget()
	}
	return e, nil
}

// appendStream is Append for a spooled message (stream.go): the same
// record, the same locks, intent and syncs, streamed from the spool.
func (f *Folder) appendStream(ctx context.Context, m folder.NewMessage) (folder.Entry, error) {
	key, flags, date, err := recordHead(m)
	if err != nil {
		return folder.Entry{}, err
	}
	withFlags := flags.Sys != 0 || len(flags.Keywords) > 0
	from := fromLine(m.Sender, date)
	rs := &recordStream{from: from, key: key, flags: flags, state: withFlags, c: m.Content,
		unterm: m.Content.Size() == 0 || m.Content.Last() != '\n'}
	// Key, flags and date are read from the record's first lines, which
	// a record of no content has alike; its size and name come from the
	// stream.
	skel := entries(appendRecord(nil, from, key, nil, flags, withFlags), date)[0]
	plan, err := rs.write(io.Discard)
	if err != nil {
		return folder.Entry{}, fmt.Errorf("mbox: append: %w", err)
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	l, st, sep, err := f.lockTail()
	if err != nil {
		return folder.Entry{}, err
	}
	defer l.release()
	size := st.Size()
	if err := l.writeIntent(size, size+int64(len(sep))+plan.n); err != nil {
		return folder.Entry{}, err
	}
	if m.Reserve != nil {
		m.Reserve(key)
	}
	fail := func(err error) (folder.Entry, error) {
		l.file.Truncate(size)
		return folder.Entry{}, fmt.Errorf("mbox: append: %w", err)
	}
	if _, err := l.file.WriteAt(sep, size); err != nil {
		return fail(err)
	}
	got, err := rs.write(io.NewOffsetWriter(l.file, size+int64(len(sep))))
	if err == nil && got != plan {
		err = fmt.Errorf("the record came out as %d octets, not %d", got.n, plan.n)
	}
	if err != nil {
		return fail(err)
	}
	if err := l.file.Sync(); err != nil {
		return fail(err)
	}
	l.doneIntent()
	e := skel
	e.Size = plan.end
	e.Name = strconv.FormatInt(size+int64(len(sep)), 10) + ":" + strconv.FormatInt(plan.end, 10)
	if after, err := l.file.Stat(); err == nil && len(sep) == 0 {
		f.extend(tokenOf(st), tokenOf(after), e)
	} else {
		f.forget()
	}
	return e, nil
}

// tailWindow is how much of the end of the file tailSeparator reads:
// enough for the header of the last message in all but rare cases.
const tailWindow = 64 << 10

// tailSeparator returns what must go between the file's last message and
// a new one so that the last message reads as before: nothing when it
// already ends in its separating blank line, one line break when it ends
// in a line break of its own (mutt leaves the last message of a file it
// rewrites so, its Content-Length counting that line break), two when it
// ends mid-line (that message then gains a line break; no reader could
// keep it without one).
func tailSeparator(fd *os.File, size int64) ([]byte, error) {
	if size == 0 {
		return nil, nil
	}
	base := max(0, size-tailWindow)
	w := make([]byte, size-base)
	if _, err := fd.ReadAt(w, base); err != nil && err != io.EOF {
		return nil, err
	}
	if w[len(w)-1] != '\n' {
		return []byte("\n\n"), nil
	}
	// Where does the last message end, as a reader sees it?
	if start, ok := lastRecordStart(w, base == 0); ok {
		recs := Split(w[start:])
		if len(recs) > 0 {
			tail := w[start+recs[len(recs)-1].End:]
			if len(tail) > 0 && len(bytes.Trim(tail, "\r\n")) == 0 {
				return nil, nil
			}
			return []byte("\n"), nil
		}
	}
	// No From_ line in reach (a huge last message, or no message at
	// all): a blank line at the end is taken for the separator.
	if bytes.HasSuffix(w, []byte("\n\n")) || bytes.HasSuffix(w, []byte("\r\n\r\n")) {
		return nil, nil
	}
	return []byte("\n"), nil
}

// lastRecordStart finds, in a window at the end of a file, a From_ line
// from which splitting reaches the last message: the first one after a
// blank line (or at the start of the file, when the window holds it).
func lastRecordStart(w []byte, fileStart bool) (int, bool) {
	if fileStart && bytes.HasPrefix(w, []byte("From ")) {
		return 0, true
	}
	for i := 0; ; {
		p, ok := nextFrom(w, i)
		if !ok {
			return 0, false
		}
		if (p >= 2 && w[p-2] == '\n') || (p >= 3 && w[p-3] == '\n' && w[p-2] == '\r') {
			return p, true
		}
		i = p
	}
}

// lockTail takes the write lock (f.mu held) and reads what an append
// starts from: the file as it is and the separator its tail needs. The
// caller releases l.
func (f *Folder) lockTail() (l *lock, st fs.FileInfo, sep []byte, err error) {
	l, err = f.lockWrite()
	if err != nil {
		return nil, nil, nil, err
	}
	if st, err = l.file.Stat(); err != nil {
		l.release()
		return nil, nil, nil, fmt.Errorf("mbox: %w", err)
	}
	if sep, err = tailSeparator(l.file, st.Size()); err != nil {
		l.release()
		return nil, nil, nil, fmt.Errorf("mbox: append: %w", err)
	}
	return l, st, sep, nil
}

// recordHead is what both appends start a record from: a new key, the
// flags normalised, the date (now when the message has none).
func recordHead(m folder.NewMessage) (key string, flags folder.Flags, date time.Time, err error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", folder.Flags{}, time.Time{}, fmt.Errorf("mbox: key: %w", err)
	}
	flags = folder.Flags{Sys: m.Flags.Sys, Keywords: folder.NormalizeKeywords(m.Flags.Keywords)}
	date = m.Date
	if date.IsZero() {
		date = time.Now()
	}
	return hex.EncodeToString(rnd[:]), flags, date, nil
}
