package mbox

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"github.com/storaged/storaged/folder"
)

// SetFlags implements folder.Folder: the flags wait in memory for Flush,
// which rewrites the file once for all of them.
func (f *Folder) SetFlags(e folder.Entry, fl folder.Flags) (folder.Entry, error) {
	fl = folder.Flags{Sys: fl.Sys, Keywords: folder.NormalizeKeywords(fl.Keywords)}
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
	return f.rewrite(nil)
}

// Remove implements folder.Folder: one rewrite without them (and with
// any pending flags).
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
// pending flags, under the write lock, into a temporary file in the same
// directory that replaces it by rename once fsynced; then the directory
// is fsynced. A crash leaves the old file or the new one. The caller
// holds f.mu.
//
// Every record is written again from its content, so the new file is
// mboxrd with our state fields throughout, whatever wrote the old one:
// what a reader of the new file gets is by construction what Content
// gave for the old one, and keys do not move. Bytes before the first
// From_ line are kept as they were.
func (f *Folder) rewrite(gone map[string]bool) error {
	l, err := f.lockWrite()
	if err != nil {
		return err
	}
	defer l.release()
	b, st, err := readAllOf(l.file)
	if err != nil {
		return fmt.Errorf("mbox: read: %w", err)
	}
	recs := Split(b)
	ents := entriesOf(b, recs, st.ModTime())
	var out bytes.Buffer
	out.Grow(len(b))
	if len(recs) > 0 {
		out.Write(b[:recs[0].Start])
	}
	changed := false
	var kept []folder.Entry
	for i, r := range recs {
		e := ents[i]
		if gone[e.Key] {
			changed = true
			continue
		}
		fl, has := f.pending[e.Key]
		withFlags := true
		if has {
			changed = true
			e.Flags = fl
		} else if !bytes.Contains(b[r.Body:r.End], []byte("Status:")) {
			// Never had state fields: keep it that way.
			withFlags = false
		}
		from := append(bytes.Clone(line(b, r.Start)), '\n')
		out.Write(appendRecord(nil, from, storedKey(b, r), Content(b, r), e.Flags, withFlags))
		kept = append(kept, e)
	}
	if !changed {
		f.pending = nil
		return nil
	}
	tok, err := f.replace(out.Bytes(), st.Mode().Perm())
	if err != nil {
		f.forget()
		return err
	}
	f.pending = nil
	// The old inode stays locked a while for programs that opened it
	// before the rename (see holdReplaced).
	l.holdReplaced()
	f.remember(tok, relisted(out.Bytes(), kept, st.ModTime()), true)
	return nil
}

// replace puts data in place of the folder's file: a new file of random
// name beside it (O_EXCL: nothing that exists is written through),
// fsynced, renamed over the old name, the directory fsynced. It returns
// the token of the new file, taken before the rename so that a change
// another program makes right after cannot hide in it.
func (f *Folder) replace(data []byte, perm os.FileMode) (folder.Token, error) {
	d := f.st.dir
	dir := parentOf(f.rel)
	fd, tmp, err := d.CreateTemp(dir, "."+baseOf(f.rel)+".storaged-rewrite-", perm)
	if err != nil {
		return nil, fmt.Errorf("mbox: rewrite: %w", err)
	}
	if err = fd.Chmod(perm); err == nil {
		_, err = fd.Write(data)
	}
	if err == nil {
		err = fd.Sync()
	}
	var tok folder.Token
	if err == nil {
		var st os.FileInfo
		if st, err = fd.Stat(); err == nil {
			tok = tokenOf(st)
		}
	}
	if cerr := fd.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = d.Rename(tmp, f.rel)
	}
	if err != nil {
		d.Remove(tmp)
		return nil, fmt.Errorf("mbox: rewrite: %w", err)
	}
	if err := d.SyncDir(dir); err != nil {
		return nil, err
	}
	return tok, nil
}

// relisted is the listing of a file rewrite just wrote: the kept
// entries (keys, flags, dates) at their new places. Should the new file
// split differently, which the round-trip tests say it never does, it is
// listed from scratch.
func relisted(b []byte, kept []folder.Entry, mtime time.Time) []folder.Entry {
	recs := Split(b)
	if len(recs) != len(kept) {
		return entriesOf(b, recs, mtime)
	}
	out := make([]folder.Entry, len(kept))
	for i, r := range recs {
		out[i] = kept[i]
		out[i].Name, out[i].Size = nameOf(r), int64(r.End-r.Start)
	}
	return out
}
