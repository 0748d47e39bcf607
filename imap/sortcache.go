package imap

// sortCache keeps what SORT and THREAD compare, per mailbox and message:
// a message's envelope, INTERNALDATE and size never change while its UID
// lasts (UIDs are never reused within a UIDVALIDITY), so the folded keys
// are computed once and shared by every session of the server. Webmail
// (Roundcube) opens a connection per page view and sorts the whole
// mailbox each time: without this, each SORT decoded every envelope.
//
// Invariants:
//   - An entry is keyed by user, mailbox id and UIDVALIDITY besides the
//     UID, so a recreated mailbox or a new UIDVALIDITY never sees old keys.
//   - Entries are immutable once stored; References, read from files only
//     for THREAD=REFERENCES, are kept beside them under the same lock.
//   - The cache holds at most maxSortEntries entries; past that, the
//     mailboxes used least recently are dropped whole.

import (
	"sync"
	"time"
)

const maxSortEntries = 200_000

type sortBoxKey struct {
	user        string
	mailbox     uint64
	uidValidity uint32
}

type sortEntry struct {
	arrival, date time.Time
	size          int64
	from, to, cc  string // folded addr-mailbox keys
	dispFrom      string
	dispTo        string
	subject       string // folded base subject
	reply         bool   // the subject had a reply or forward marker
	messageID     string
	inReplyTo     string
}

type sortBox struct {
	used    uint64
	entries map[uint32]*sortEntry
	refs    map[uint32][]string
}

type sortCache struct {
	mu      sync.Mutex
	boxes   map[sortBoxKey]*sortBox
	total   int
	clock   uint64
	lookups uint64 // for tests and logs: entries asked for
	hits    uint64 // of those, found
}

// get returns the cached entries of uids (nil where missing).
func (sc *sortCache) get(k sortBoxKey, uids []uint32, out []*sortEntry) []*sortEntry {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	out = out[:0]
	b := sc.boxes[k]
	if b != nil {
		sc.clock++
		b.used = sc.clock
	}
	for _, u := range uids {
		var e *sortEntry
		if b != nil {
			e = b.entries[u]
		}
		if e != nil {
			sc.hits++
		}
		out = append(out, e)
	}
	sc.lookups += uint64(len(uids))
	return out
}

// put stores entries, then trims the cache to its bound.
func (sc *sortCache) put(k sortBoxKey, uids []uint32, es []*sortEntry) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.boxes == nil {
		sc.boxes = map[sortBoxKey]*sortBox{}
	}
	b := sc.boxes[k]
	if b == nil {
		b = &sortBox{entries: map[uint32]*sortEntry{}, refs: map[uint32][]string{}}
		sc.boxes[k] = b
	}
	sc.clock++
	b.used = sc.clock
	for i, u := range uids {
		if _, ok := b.entries[u]; !ok {
			sc.total++
		}
		b.entries[u] = es[i]
	}
	for sc.total > maxSortEntries && len(sc.boxes) > 1 {
		var oldest sortBoxKey
		var at uint64 = ^uint64(0)
		for bk, bb := range sc.boxes {
			if bb.used < at && bk != k {
				oldest, at = bk, bb.used
			}
		}
		sc.total -= len(sc.boxes[oldest].entries)
		delete(sc.boxes, oldest)
	}
}

// referencesOf returns the cached References of every hit (have false
// where not yet read), under one lock.
func (sc *sortCache) referencesOf(k sortBoxKey, hits []hit) (refs [][]string, have []bool) {
	refs, have = make([][]string, len(hits)), make([]bool, len(hits))
	sc.mu.Lock()
	defer sc.mu.Unlock()
	b := sc.boxes[k]
	if b == nil {
		return refs, have
	}
	for i, h := range hits {
		refs[i], have[i] = b.refs[h.uid]
	}
	return refs, have
}

func (sc *sortCache) putReferences(k sortBoxKey, uid uint32, refs []string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if b := sc.boxes[k]; b != nil {
		b.refs[uid] = refs
	}
}
