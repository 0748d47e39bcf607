package sievestore

import (
	"sync"
	"time"
)

// The answer "this user has no active script" is remembered, because
// most users have none and every delivery asks: finding it out costs
// five failed look-ups (the user's script folder and active link, the
// home's sieve/ and .dovecot.sieve, the link again) and the owner
// look-up, where checking the remembered answer costs a stat of the two
// directories those names live in.
//
// Rules:
//   - Every name that could make a script active for the user is an
//     entry of Options.Dir (<user>, <user>.sieve) or of the user's home
//     (sieve, .dovecot.sieve). Making, removing or renaming one changes
//     that directory's mtime (a new inode if the directory itself was
//     replaced), so the answer holds while both stamps are the ones
//     taken before the look-ups it came from. This covers writers in
//     other processes too ("storaged sieve" edits the files of a running
//     server), which no in-process invalidation could.
//   - An mtime only moves by the clock's tick: a change in the tick of
//     the stamp would keep it. The answer is therefore kept only when
//     both mtimes were at least noneSettle old when stamped (as
//     folder.MtimesSettled does for mailboxes); until then every
//     delivery looks again.
//   - Changes through this Store (Put, SetActive, Delete, Rename) drop
//     the user's answer as well, before they touch a file.
type noneCache struct {
	mu sync.Mutex
	m  map[string]noneEntry
}

type noneEntry struct {
	home     string
	dir, hom stamp
}

// noneSettle is how old a directory's mtime must be before an answer
// stamped with it is kept.
const noneSettle = 2 * time.Second

// noneStamps stamps the two directories that hold every name which
// could make a script of user's active.
func (s *Store) noneStamps(user string) noneEntry {
	e := noneEntry{dir: stampOf(s.opts.Dir)}
	if s.opts.Home != nil {
		if e.home = s.opts.Home(user); e.home != "" {
			e.hom = stampOf(e.home)
		}
	}
	return e
}

// settled says whether an answer stamped with e may be kept.
func (e noneEntry) settled(now time.Time) bool {
	for _, st := range []stamp{e.dir, e.hom} {
		if st.found && now.Sub(st.mtime) < noneSettle {
			return false
		}
	}
	return true
}

// hasNone reports whether user is known to have no active script; the
// stamps it took come back for rememberNone when the answer is unknown.
func (s *Store) hasNone(user string) (bool, noneEntry) {
	if checkUser(user) != nil {
		return false, noneEntry{} // layoutOf refuses it
	}
	now := s.noneStamps(user)
	s.none.mu.Lock()
	e, ok := s.none.m[user]
	s.none.mu.Unlock()
	return ok && e == now, now
}

// rememberNone records that user has no active script, found by look-ups
// made after e was stamped.
func (s *Store) rememberNone(user string, e noneEntry) {
	if !e.settled(time.Now()) {
		return
	}
	s.none.mu.Lock()
	if s.none.m == nil || len(s.none.m) >= maxCached {
		s.none.m = map[string]noneEntry{}
	}
	s.none.m[user] = e
	s.none.mu.Unlock()
}

// forgetNone drops user's answer: a change through the Store is coming.
func (s *Store) forgetNone(user string) {
	s.none.mu.Lock()
	delete(s.none.m, user)
	s.none.mu.Unlock()
}
