package mbox

import (
	"bytes"
	"slices"

	"github.com/storaged/storaged/folder"
)

// listing is the last listing of a folder's file and the token of the
// bytes it was made from. It saves a rescan (the whole file) after our
// own appends and rewrites, and lets a stale Name find its message
// without one.
//
// A token cannot tell two changes in one clock tick apart, so a listing
// is trusted only when no change can hide behind its token: the bytes
// were ours (written under the write lock, the token taken before the
// lock was let go), or the file's mtime was already settled when we read
// it. An untrusted listing is never reused.
type listing struct {
	tok     folder.Token
	ents    []folder.Entry
	trusted bool
	names   map[string]string // name → key, built when first asked
	keys    map[string]string // key → name, built when first asked
}

// cached returns a copy of the listing when it describes tok and is
// trusted.
func (f *Folder) cached(tok folder.Token) ([]folder.Entry, bool) {
	f.cmu.Lock()
	defer f.cmu.Unlock()
	l := f.last
	if l == nil || !l.trusted || !bytes.Equal(l.tok, tok) {
		return nil, false
	}
	return slices.Clone(l.ents), true
}

// remember keeps a listing; ents must not be changed afterwards.
func (f *Folder) remember(tok folder.Token, ents []folder.Entry, trusted bool) {
	f.cmu.Lock()
	f.last = &listing{tok: tok, ents: ents, trusted: trusted}
	f.cmu.Unlock()
}

// forget drops the listing.
func (f *Folder) forget() {
	f.cmu.Lock()
	f.last = nil
	f.cmu.Unlock()
}

// extend adds our own append to the listing when the listing described
// the file just before it (tok before, under the write lock); otherwise
// the listing is dropped.
func (f *Folder) extend(before, after folder.Token, e folder.Entry) {
	f.cmu.Lock()
	defer f.cmu.Unlock()
	l := f.last
	if l == nil || !l.trusted || !bytes.Equal(l.tok, before) {
		f.last = nil
		return
	}
	// A new listing, so that copies handed out earlier stay as they were.
	ents := append(slices.Clip(l.ents), e)
	f.last = &listing{tok: after, ents: ents, trusted: true}
}

// listedAt tells whether the trusted listing for tok has e's key at e's
// name: then the record there needs no identity check.
func (f *Folder) listedAt(tok folder.Token, e folder.Entry) bool {
	f.cmu.Lock()
	defer f.cmu.Unlock()
	l := f.last
	if l == nil || !l.trusted || !bytes.Equal(l.tok, tok) {
		return false
	}
	if l.names == nil {
		l.names = make(map[string]string, len(l.ents))
		for _, c := range l.ents {
			l.names[c.Name] = c.Key
		}
	}
	return l.names[e.Name] == e.Key
}

// nameOf returns where the trusted listing for tok has key.
func (f *Folder) nameOf(tok folder.Token, key string) (string, bool) {
	f.cmu.Lock()
	defer f.cmu.Unlock()
	l := f.last
	if l == nil || !l.trusted || !bytes.Equal(l.tok, tok) {
		return "", false
	}
	if l.keys == nil {
		l.keys = make(map[string]string, len(l.ents))
		for _, c := range l.ents {
			l.keys[c.Key] = c.Name
		}
	}
	n, ok := l.keys[key]
	return n, ok
}
