package imap

import (
	"strconv"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
)

// A second SORT takes its keys from the cache; a new message is sorted
// in; a recreated mailbox (new UIDVALIDITY) never sees the old keys.
func TestSortCache(t *testing.T) {
	e := newEnv(t)
	base := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, subj := range []string{"b", "a", "c"} {
		fetchTestAppend(t, e, "Subject: "+subj+"\r\n\r\nx\r\n", folder.Flags{}, base.Add(time.Duration(i)*time.Hour))
	}
	s := e.dial(t)
	s.login()
	s.selectInbox("s0")
	s.do("a1 SORT (SUBJECT) UTF-8 ALL", "* SORT 2 1 3", "a1 OK SORT completed")
	sc := &e.srv.sortCache
	if sc.hits != 0 || sc.lookups != 3 {
		t.Fatalf("first SORT: %d hits of %d lookups", sc.hits, sc.lookups)
	}
	s.do("a2 SORT (REVERSE SUBJECT) UTF-8 ALL", "* SORT 3 1 2", "a2 OK SORT completed")
	s.do("a3 THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (1)(2)(3)", "a3 OK THREAD completed")
	if sc.hits != 6 {
		t.Fatalf("later SORT and THREAD: %d hits of %d lookups", sc.hits, sc.lookups)
	}
	fetchTestAppend(t, e, "Subject: Re: a\r\n\r\nx\r\n", folder.Flags{}, base.Add(5*time.Hour))
	s.do("a4 NOOP", "* 4 EXISTS", "* 4 RECENT", "a4 OK NOOP completed")
	s.do("a5 SORT (SUBJECT) UTF-8 ALL", "* SORT 2 4 1 3", "a5 OK SORT completed")
	// Same name, new mailbox: the old keys of UID 1 must not be used.
	s.do("b1 CREATE Box", "b1 OK CREATE completed")
	s.appendOK("b2", "Box", "Subject: zz\r\n\r\nx\r\n")
	selectBox := func(tag string) {
		s.send(tag + " SELECT Box\r\n")
		for l := s.line(); l[0] == '*'; l = s.line() {
		}
	}
	selectBox("b3")
	s.do("b4 SORT (SUBJECT) UTF-8 ALL", "* SORT 1", "b4 OK SORT completed")
	s.selectInbox("b5")
	s.do("b6 DELETE Box", "b6 OK DELETE completed")
	s.do("b7 CREATE Box", "b7 OK CREATE completed")
	s.appendOK("b8", "Box", "Subject: aa\r\n\r\nx\r\n")
	s.appendOK("b9", "Box", "Subject: bb\r\n\r\nx\r\n")
	selectBox("c1")
	s.do("c2 SORT (SUBJECT) UTF-8 ALL", "* SORT 1 2", "c2 OK SORT completed")
}

// The cache stays under its bound by dropping the mailboxes used least
// recently, never the one being filled.
func TestSortCacheBound(t *testing.T) {
	var sc sortCache
	per := maxSortEntries / 4
	uids := make([]uint32, per)
	es := make([]*sortEntry, per)
	for i := range uids {
		uids[i], es[i] = uint32(i+1), &sortEntry{}
	}
	for b := 0; b < 10; b++ {
		sc.put(sortBoxKey{user: "u" + strconv.Itoa(b), mailbox: 1, uidValidity: 1}, uids, es)
		if sc.total > maxSortEntries {
			t.Fatalf("after %d boxes: %d entries", b+1, sc.total)
		}
	}
	got := sc.get(sortBoxKey{user: "u9", mailbox: 1, uidValidity: 1}, uids[:1], nil)
	if got[0] == nil {
		t.Fatal("the newest box was dropped")
	}
	if got := sc.get(sortBoxKey{user: "u0", mailbox: 1, uidValidity: 1}, uids[:1], nil); got[0] != nil {
		t.Fatal("the oldest box was kept")
	}
}
