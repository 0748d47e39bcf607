package server_test

import (
	"slices"
	"testing"
	"time"

	imap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// CONDSTORE (RFC 7162) as go-imap's client speaks it: SELECT (CONDSTORE)
// and STATUS carry HIGHESTMODSEQ, FETCH MODSEQ and (CHANGEDSINCE n) give
// exactly what another session changed, STORE (UNCHANGEDSINCE n) leaves a
// message changed since alone, SEARCH MODSEQ finds the changed ones, and
// the flag change another session makes reaches an IDLE with its MODSEQ.
func TestIMAPCondStoreGoIMAP(t *testing.T) { eachFormat(t, testIMAPCondStoreGoIMAP) }

func testIMAPCondStoreGoIMAP(t *testing.T, format string) {
	ts := startServer(t, t.TempDir(), withFormat(format), "ann")
	deliverMsgs(t, ts, "ann", testMessage(1), testMessage(2), testMessage(3))

	unilateral := make(chan *imapclient.FetchMessageBuffer, 16)
	a := ts.login(t, "ann", &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Fetch: func(msg *imapclient.FetchMessageData) {
			// The handler must consume the message before it returns.
			if buf, err := msg.Collect(); err == nil {
				unilateral <- buf
			}
		},
	}})
	if !a.Caps().Has(imap.CapCondStore) {
		t.Fatalf("CONDSTORE not advertised: %v", a.Caps())
	}
	sel, err := a.Select("INBOX", &imap.SelectOptions{CondStore: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.HighestModSeq == 0 {
		t.Fatal("SELECT (CONDSTORE) without HIGHESTMODSEQ")
	}
	all := imap.SeqSetNum()
	all.AddRange(1, 0)
	msgs, err := a.Fetch(all, &imap.FetchOptions{UID: true, ModSeq: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 {
		t.Fatalf("%d messages", len(msgs))
	}
	for _, m := range msgs {
		if m.ModSeq == 0 || m.ModSeq > sel.HighestModSeq {
			t.Errorf("UID %d: MODSEQ %d, HIGHESTMODSEQ %d", m.UID, m.ModSeq, sel.HighestModSeq)
		}
	}

	// Another session flags message 2.
	b := ts.login(t, "ann", nil)
	if _, err := b.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := b.Store(imap.UIDSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}

	// The change reaches A's IDLE as a FETCH with UID and MODSEQ.
	idle, err := a.Idle()
	if err != nil {
		t.Fatal(err)
	}
	var pushed *imapclient.FetchMessageBuffer
	select {
	case pushed = <-unilateral:
	case <-time.After(10 * time.Second):
		t.Fatal("no FETCH during IDLE for another session's STORE")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	if pushed.UID != 2 || !slices.Contains(pushed.Flags, imap.FlagFlagged) || pushed.ModSeq <= sel.HighestModSeq {
		t.Errorf("pushed FETCH: UID %d FLAGS %v MODSEQ %d (HIGHESTMODSEQ was %d)", pushed.UID, pushed.Flags, pushed.ModSeq, sel.HighestModSeq)
	}

	// CHANGEDSINCE: message 2 alone, with the MODSEQ it was pushed with.
	changed, err := a.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, ChangedSince: sel.HighestModSeq}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 1 || changed[0].UID != 2 || changed[0].ModSeq != pushed.ModSeq {
		t.Fatalf("FETCH (CHANGEDSINCE %d): %+v", sel.HighestModSeq, changed)
	}

	// STATUS agrees with the new MODSEQ.
	st, err := b.Status("INBOX", &imap.StatusOptions{HighestModSeq: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if st.HighestModSeq != pushed.ModSeq {
		t.Errorf("STATUS HIGHESTMODSEQ %d, want %d", st.HighestModSeq, pushed.ModSeq)
	}

	// SEARCH MODSEQ: the one changed message.
	found, err := a.UIDSearch(&imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: sel.HighestModSeq + 1}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if uids := found.AllUIDs(); !slices.Equal(uids, []imap.UID{2}) {
		t.Errorf("UID SEARCH MODSEQ %d: %v", sel.HighestModSeq+1, uids)
	}

	// UNCHANGEDSINCE the HIGHESTMODSEQ of the SELECT: 1 and 3 are seen, 2
	// (changed since) is left alone
	// (RFC 7162 §3.1.3: it is named in [MODIFIED], not changed).
	set := imap.UIDSetNum(1, 2, 3)
	stored, err := a.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}},
		&imap.StoreOptions{UnchangedSince: sel.HighestModSeq}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var storedUIDs []imap.UID
	for _, m := range stored {
		if slices.Contains(m.Flags, imap.FlagSeen) {
			storedUIDs = append(storedUIDs, m.UID)
		}
	}
	after, err := a.Fetch(set, &imap.FetchOptions{UID: true, Flags: true, ModSeq: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range after {
		seen := slices.Contains(m.Flags, imap.FlagSeen)
		if seen != (m.UID != 2) {
			t.Errorf("after STORE (UNCHANGEDSINCE %d): UID %d FLAGS %v", sel.HighestModSeq, m.UID, m.Flags)
		}
		if m.UID != 2 && m.ModSeq <= pushed.ModSeq {
			t.Errorf("UID %d stored with MODSEQ %d, not above %d", m.UID, m.ModSeq, pushed.ModSeq)
		}
	}
	if slices.Contains(storedUIDs, 2) {
		t.Errorf("STORE answered \\Seen for UID 2: %v", storedUIDs)
	}
}
