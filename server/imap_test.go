package server_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	imap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/message"
)

func (ts *testServer) imapClient(t *testing.T, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(ts.imap, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (ts *testServer) login(t *testing.T, user string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c := ts.imapClient(t, opts)
	if err := c.Login(user, "secret-"+user).Wait(); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// selectedCount is the message count the client holds for its selected
// mailbox. imapclient (beta.8) records the selection only after Select's
// Wait has returned, so a nil mailbox right after SELECT counts as 0 and
// callers poll.
func selectedCount(c *imapclient.Client) uint32 {
	if mb := c.Mailbox(); mb != nil {
		return mb.NumMessages
	}
	return 0
}

func imapCode(err error) imap.ResponseCode {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Code
	}
	return ""
}

func TestIMAPLoginAndCapabilities(t *testing.T) { eachFormat(t, testIMAPLoginAndCapabilities) }

func testIMAPLoginAndCapabilities(t *testing.T, format string) {
	ts := startServer(t, t.TempDir(), withFormat(format), "ann")
	c := ts.imapClient(t, nil)
	err := c.Login("ann", "wrong").Wait()
	if imapCode(err) != imap.ResponseCodeAuthenticationFailed {
		t.Fatalf("wrong password: %v", err)
	}
	if err := c.Login("nobody", "x").Wait(); imapCode(err) != imap.ResponseCodeAuthenticationFailed {
		t.Fatalf("unknown user: %v", err)
	}
	if err := c.Authenticate(sasl.NewPlainClient("", "ann", "secret-ann")); err != nil {
		t.Fatalf("AUTHENTICATE PLAIN: %v", err)
	}
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []imap.Cap{"IMAP4rev1", "IMAP4rev2", "IDLE", "UIDPLUS", "MOVE", "NAMESPACE", "ESEARCH", "SEARCHRES",
		"LIST-EXTENDED", "LIST-STATUS", "STATUS=SIZE", "BINARY", "CHILDREN", "SPECIAL-USE", "CREATE-SPECIAL-USE",
		"LITERAL+", "SASL-IR", "ENABLE", "UNSELECT", "UTF8=ACCEPT"} {
		if !caps.Has(want) {
			t.Errorf("capability %s missing", want)
		}
	}
	if !caps.Has("APPENDLIMIT=52428800") {
		t.Errorf("APPENDLIMIT missing: %v", caps)
	}
}

func listNames(t *testing.T, c *imapclient.Client, ref, pattern string, opts *imap.ListOptions) map[string][]imap.MailboxAttr {
	t.Helper()
	l, err := c.List(ref, pattern, opts).Collect()
	if err != nil {
		t.Fatalf("LIST %q %q: %v", ref, pattern, err)
	}
	out := map[string][]imap.MailboxAttr{}
	for _, d := range l {
		out[d.Mailbox] = d.Attrs
	}
	return out
}

func hasAttr(attrs []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range attrs {
		if strings.EqualFold(string(x), string(a)) {
			return true
		}
	}
	return false
}

func TestIMAPMailboxes(t *testing.T) { eachFormat(t, testIMAPMailboxes) }

func testIMAPMailboxes(t *testing.T, format string) {
	ts := startServer(t, t.TempDir(), withFormat(format), "ann")
	c := ts.login(t, "ann", nil)
	all := listNames(t, c, "", "*", nil)
	for name, use := range map[string]imap.MailboxAttr{"Drafts": imap.MailboxAttrDrafts, "Sent": imap.MailboxAttrSent, "Trash": imap.MailboxAttrTrash, "Junk": imap.MailboxAttrJunk, "Archive": imap.MailboxAttrArchive} {
		if !hasAttr(all[name], use) {
			t.Errorf("%s lacks %s: %v", name, use, all[name])
		}
	}
	if _, ok := all["INBOX"]; !ok {
		t.Fatal("no INBOX")
	}
	if err := c.Create("Lists/go/nuts", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Lists/go/nuts", nil).Wait(); imapCode(err) != imap.ResponseCodeAlreadyExists {
		t.Fatalf("create twice: %v", err)
	}
	if err := c.Create("Flagged", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrFlagged}}).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"../x", "a/../../b", "x/", "a//b", ".hidden", "bad\x7fname"} {
		if err := c.Create(bad, nil).Wait(); err == nil && bad != "x/" {
			t.Errorf("CREATE %q succeeded", bad)
		}
	}
	if _, err := os.Stat(filepath.Join(ts.dir, "x")); err == nil {
		t.Fatal("hostile name touched the disk")
	}
	top := listNames(t, c, "", "%", nil)
	if !hasAttr(top["Lists"], imap.MailboxAttrHasChildren) || !hasAttr(top["Sent"], imap.MailboxAttrHasNoChildren) {
		t.Fatalf("children attrs: %v", top)
	}
	if _, ok := top["Lists/go"]; ok {
		t.Fatal("% matched across the hierarchy")
	}
	if sub := listNames(t, c, "Lists/", "%", nil); len(sub) != 1 || sub["Lists/go"] == nil {
		t.Fatalf("LIST Lists/ %%: %v", sub)
	}
	// Every atom-special character in a pattern is answered OK.
	for _, p := range []string{"(", ")", "{", "\"", "\\", "]", "%*", "*%", "a b"} {
		if _, err := c.List("", p, nil).Collect(); err != nil {
			t.Errorf("LIST pattern %q: %v", p, err)
		}
	}
	if err := c.Rename("Lists", "Groups", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	all = listNames(t, c, "", "*", nil)
	if _, ok := all["Groups/go/nuts"]; !ok || all["Lists"] != nil {
		t.Fatalf("rename with children: %v", all)
	}
	if err := c.Delete("Groups/go/nuts").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("INBOX").Wait(); err == nil {
		t.Fatal("DELETE INBOX succeeded")
	}
	if err := c.Delete("Nope").Wait(); imapCode(err) != imap.ResponseCodeNonExistent {
		t.Fatalf("DELETE missing: %v", err)
	}
	// Subscriptions: LSUB shows an unsubscribed parent as \Noselect;
	// LIST (SUBSCRIBED) shows a subscribed name whose mailbox is gone as
	// \NonExistent.
	c.Create("Work/Projects", nil).Wait()
	if err := c.Subscribe("Work/Projects").Wait(); err != nil {
		t.Fatal(err)
	}
	c.Subscribe("Gone").Wait()
	lsub, err := c.List("", "%", &imap.ListOptions{SelectSubscribed: true, SelectRecursiveMatch: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]*imap.ListData{}
	for _, d := range lsub {
		found[d.Mailbox] = d
	}
	if d := found["Work"]; d == nil || d.ChildInfo == nil || !d.ChildInfo.Subscribed {
		t.Fatalf("RECURSIVEMATCH CHILDINFO for Work: %+v", d)
	}
	if d := found["Gone"]; d == nil || !hasAttr(d.Attrs, imap.MailboxAttrNonExistent) || !hasAttr(d.Attrs, imap.MailboxAttrSubscribed) {
		t.Fatalf("subscribed but gone: %+v", d)
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true, NumUnseen: true, Size: true}).Wait()
	if err != nil || *st.NumMessages != 0 || st.UIDNext != 1 || st.UIDValidity == 0 {
		t.Fatalf("STATUS: %+v %v", st, err)
	}
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' {
		t.Fatalf("NAMESPACE: %+v %v", ns, err)
	}
}

func appendMsg(t *testing.T, c *imapclient.Client, mailbox string, msg []byte, opts *imap.AppendOptions) *imap.AppendData {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(msg)), opts)
	cmd.Write(msg)
	cmd.Close()
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	return data
}

// Every corpus message goes in by APPEND and comes back by FETCH BODY[]
// byte for byte (canonical form), with well-formed ENVELOPE and
// BODYSTRUCTURE.
func TestIMAPCorpusRoundTrip(t *testing.T) { eachFormat(t, testIMAPCorpusRoundTrip) }

func testIMAPCorpusRoundTrip(t *testing.T, format string) {
	ts := startServer(t, t.TempDir(), withFormat(format), "ann")
	c := ts.login(t, "ann", nil)
	files, _ := filepath.Glob("../testdata/messages/*.eml")
	hostile, _ := filepath.Glob("../testdata/hostile/*.eml")
	files = append(files, hostile...)
	sort.Strings(files)
	var want [][]byte
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if len(b) == 0 || bytes.IndexByte(b, 0) >= 0 {
			continue // empty and NUL messages cannot be APPENDed as literals without BINARY
		}
		b = message.Canonical(b)
		appendMsg(t, c, "INBOX", b, nil)
		want = append(want, b)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, Flags: true, RFC822Size: true, Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(want) {
		t.Fatalf("%d fetched, %d appended", len(msgs), len(want))
	}
	for i, m := range msgs {
		got := m.FindBodySection(&imap.FetchItemBodySection{Peek: true})
		if !bytes.Equal(got, want[i]) {
			t.Fatalf("message %d: BODY[] differs (%d vs %d bytes)", i+1, len(got), len(want[i]))
		}
		if m.RFC822Size != int64(len(want[i])) || m.BodyStructure == nil || m.Envelope == nil {
			t.Fatalf("message %d: size %d, structure %v", i+1, m.RFC822Size, m.BodyStructure)
		}
	}
}

func TestIMAPMessages(t *testing.T) { eachFormat(t, testIMAPMessages) }

func testIMAPMessages(t *testing.T, format string) {
	ts := startServer(t, t.TempDir(), withFormat(format), "ann")
	c := ts.login(t, "ann", nil)
	msg := []byte("From: Alice Example <alice@example.org>\r\nTo: undisclosed-recipients:;\r\nSubject: hello there\r\nDate: Mon, 1 Jan 2024 10:00:00 +0100\r\nMessage-ID: <m1@example.org>\r\n\r\nThe body says xylophone.\r\n")
	date := time.Date(2023, 5, 6, 7, 8, 9, 0, time.FixedZone("", -5*3600))
	ad := appendMsg(t, c, "INBOX", msg, &imap.AppendOptions{Flags: []imap.Flag{imap.FlagFlagged, "$Work"}, Time: date})
	if ad.UID != 1 || ad.UIDValidity == 0 {
		t.Fatalf("APPENDUID %+v", ad)
	}
	appendMsg(t, c, "INBOX", []byte("From: bob@example.net\r\nSubject: second\r\n\r\nnothing\r\n"), nil)
	bad := c.Append("Nope", 3, nil)
	bad.Write([]byte("x\r\n"))
	bad.Close()
	if _, err := bad.Wait(); imapCode(err) != imap.ResponseCodeTryCreate {
		t.Fatalf("APPEND to missing mailbox: %v", err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 2 || sel.UIDNext != 3 {
		t.Fatalf("SELECT: %+v %v", sel, err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true, InternalDate: true, RFC822Size: true, Envelope: true, UID: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH: %v %v", msgs, err)
	}
	m := msgs[0]
	if !m.InternalDate.Equal(date) || m.RFC822Size != int64(len(msg)) {
		t.Errorf("date %v size %d", m.InternalDate, m.RFC822Size)
	}
	flags := map[imap.Flag]bool{}
	for _, f := range m.Flags {
		flags[f] = true
	}
	if !flags[imap.FlagFlagged] || !flags["$Work"] || !flags[`\Recent`] || flags[imap.FlagSeen] {
		t.Errorf("flags %v", m.Flags)
	}
	env := m.Envelope
	if env.Subject != "hello there" || env.MessageID != "m1@example.org" || len(env.From) != 1 || env.From[0].Name != "Alice Example" {
		t.Errorf("envelope %+v", env)
	}
	if len(env.To) != 2 || !env.To[0].IsGroupStart() || !env.To[1].IsGroupEnd() {
		t.Errorf("group markers lost: %+v", env.To)
	}
	// Sections: header, text, a partial; a non-PEEK fetch sets \Seen.
	msgs, err = c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{
		{Specifier: imap.PartSpecifierHeader, Peek: true}, {Specifier: imap.PartSpecifierText}, {Partial: &imap.SectionPartial{Offset: 6, Size: 5}, Peek: true},
	}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	secs := msgs[0].BodySection
	if len(secs) != 3 || !bytes.HasSuffix(secs[0].Bytes, []byte("\r\n\r\n")) || string(secs[1].Bytes) != "The body says xylophone.\r\n" || string(secs[2].Bytes) != "Alice" {
		t.Fatalf("sections: %+v", secs)
	}
	msgs, _ = c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
	if !containsFlag(msgs[0].Flags, imap.FlagSeen) {
		t.Fatalf("BODY[TEXT] did not set \\Seen: %v", msgs[0].Flags)
	}
	// STORE, written through to the files where the format has a place
	// for the flag (Maildir names, mbox Status:/X-Status:, MH sequences).
	if _, err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagAnswered, imap.FlagDeleted}}, nil).Collect(); err != nil {
		t.Fatal(err)
	}
	var got []folder.SysFlags
	for _, m := range onDisk(t, ts.cfg, "ann", "INBOX") {
		got = append(got, m.Flags.Sys)
	}
	slices.Sort(got)
	want := []folder.SysFlags{folder.Seen | folder.Flagged, folder.Answered | folder.Deleted}
	if format == "mh" {
		// MH sequences carry unseen, flagged and replied only.
		want[1] = folder.Answered
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("flags on disk %v, want %v", got, want)
	}
	// SEARCH.
	cases := []struct {
		c    imap.SearchCriteria
		want []uint32
	}{
		{imap.SearchCriteria{Body: []string{"XYLOPHONE"}}, []uint32{1}},
		{imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "alice example"}}}, []uint32{1}},
		{imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted}}, []uint32{2}},
		{imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []uint32{2}},
		{imap.SearchCriteria{Larger: 150}, []uint32{1}},
		{imap.SearchCriteria{Text: []string{"second"}}, []uint32{2}},
		{imap.SearchCriteria{Flag: []imap.Flag{`\Recent`}}, []uint32{1, 2}},
		{imap.SearchCriteria{SentBefore: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), SentSince: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}, []uint32{1}},
		{imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Body: []string{"nothing"}}, {Flag: []imap.Flag{"$Work"}}}}}, []uint32{1, 2}},
	}
	for i, tc := range cases {
		res, err := c.Search(&tc.c, nil).Wait()
		if err != nil {
			t.Fatalf("search %d: %v", i, err)
		}
		if got := res.AllSeqNums(); !equalU32(got, tc.want) {
			t.Errorf("search %d: %v, want %v", i, got, tc.want)
		}
	}
	// COPY and MOVE, into other mailboxes and into the selected one.
	cp, err := c.Copy(imap.SeqSetNum(1), "Archive").Wait()
	if err != nil || cp.UIDValidity == 0 {
		t.Fatalf("COPY: %+v %v", cp, err)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "INBOX").Wait(); err != nil {
		t.Fatalf("COPY into itself: %v", err)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "Missing").Wait(); imapCode(err) != imap.ResponseCodeTryCreate {
		t.Fatalf("COPY to missing: %v", err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if n := selectedCount(c); n != 3 {
		t.Fatalf("after COPY into INBOX: %d messages", n)
	}
	mv, err := c.Move(imap.SeqSetNum(3), "Trash").Wait()
	if err != nil || mv == nil {
		t.Fatalf("MOVE: %v", err)
	}
	if n := selectedCount(c); n != 2 {
		t.Fatalf("after MOVE: %d messages", n)
	}
	// EXPUNGE removes the \Deleted one.
	exp, err := c.Expunge().Collect()
	if err != nil || !equalU32(exp, []uint32{2}) {
		t.Fatalf("EXPUNGE: %v %v", exp, err)
	}
	st, _ := c.Status("Trash", &imap.StatusOptions{NumMessages: true}).Wait()
	if *st.NumMessages != 1 {
		t.Fatalf("Trash has %d", *st.NumMessages)
	}
}

func containsFlag(fs []imap.Flag, f imap.Flag) bool {
	for _, x := range fs {
		if strings.EqualFold(string(x), string(f)) {
			return true
		}
	}
	return false
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// EXAMINE is read-only in fact: STORE is refused, FETCH BODY[] does not
// set \Seen, CLOSE expunges nothing.
func TestIMAPExamine(t *testing.T) { eachFormat(t, testIMAPExamine) }

func testIMAPExamine(t *testing.T, format string) {
	ts := startServer(t, t.TempDir(), withFormat(format), "ann")
	c := ts.login(t, "ann", nil)
	appendMsg(t, c, "INBOX", []byte("Subject: a\r\n\r\nx\r\n"), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDeleted}})
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect(); err == nil {
		t.Fatal("STORE on EXAMINE succeeded")
	}
	c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Fatal(err)
	}
	st, _ := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, NumUnseen: true}).Wait()
	if *st.NumMessages != 1 || *st.NumUnseen != 1 {
		t.Fatalf("EXAMINE changed the mailbox: %d messages, %d unseen", *st.NumMessages, *st.NumUnseen)
	}
}

// IDLE is woken by an LMTP delivery; a second session sees an EXPUNGE
// made by the first only when it may (NOOP), with coherent numbers.
func TestIMAPIdleAndTwoSessions(t *testing.T) { eachFormat(t, testIMAPIdleAndTwoSessions) }

func testIMAPIdleAndTwoSessions(t *testing.T, format string) {
	ts := startServer(t, t.TempDir(), withFormat(format), "ann")
	var mu sync.Mutex
	exists := make(chan uint32, 16)
	var expunged []uint32
	c1 := ts.login(t, "ann", &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
		Expunge: func(seq uint32) { mu.Lock(); expunged = append(expunged, seq); mu.Unlock() },
	}})
	if _, err := c1.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c1.Idle()
	if err != nil {
		t.Fatal(err)
	}
	deliverN(t, ts, "ann", 3, 1)
	deadline := time.After(10 * time.Second)
	for got := uint32(0); got < 3; {
		select {
		case got = <-exists:
		case <-deadline:
			t.Fatal("IDLE not woken by deliveries")
		}
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	c2 := ts.login(t, "ann", nil)
	sel2, err := c2.Select("INBOX", nil).Wait()
	if err != nil || sel2.NumMessages != 3 {
		t.Fatalf("second SELECT: %+v %v", sel2, err)
	}
	// c2 deletes message 2; c1 learns at its next NOOP.
	c2.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close()
	if _, err := c2.Expunge().Collect(); err != nil {
		t.Fatal(err)
	}
	// FETCH does not report the EXPUNGE; numbers stay valid.
	msgs, err := c1.Fetch(imap.SeqSetNum(3), &imap.FetchOptions{UID: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].UID != 3 {
		t.Fatalf("FETCH 3 before NOOP: %+v %v", msgs, err)
	}
	mu.Lock()
	n := len(expunged)
	mu.Unlock()
	if n != 0 {
		t.Fatal("EXPUNGE sent during FETCH")
	}
	if err := c1.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := append([]uint32(nil), expunged...)
	mu.Unlock()
	if !equalU32(got, []uint32{2}) {
		t.Fatalf("expunges seen by the other session: %v", got)
	}
	msgs, _ = c1.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{UID: true}).Collect()
	if len(msgs) != 1 || msgs[0].UID != 3 {
		t.Fatalf("after EXPUNGE, seq 2 is %+v", msgs)
	}
}

// A file another program drops into the Maildir shows up on NOOP; a
// mailbox renamed by one session stays readable in another that has it
// selected.
func TestIMAPExternalAndRename(t *testing.T) { eachFormat(t, testIMAPExternalAndRename) }

func testIMAPExternalAndRename(t *testing.T, format string) {
	ts := startServer(t, t.TempDir(), withFormat(format), "ann")
	c := ts.login(t, "ann", nil)
	c.Create("Box", nil).Wait()
	appendMsg(t, c, "Box", []byte("Subject: in box\r\n\r\nkeep me\r\n"), nil)
	if _, err := c.Select("Box", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	ts.dropExternal(t, "ann", "Box", []byte("Subject: dropped\n\nfrom procmail\n"))
	deadline := time.Now().Add(10 * time.Second)
	for selectedCount(c) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("dropped file not seen: %d messages", selectedCount(c))
		}
		// Poll syncs with the files at most once a second.
		time.Sleep(200 * time.Millisecond)
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
	}
	other := ts.login(t, "ann", nil)
	if err := other.Rename("Box", "Renamed/Box", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil || len(msgs) != 2 {
		t.Fatalf("FETCH after rename elsewhere: %v %v", msgs, err)
	}
	if !bytes.Contains(msgs[0].FindBodySection(&imap.FetchItemBodySection{Peek: true}), []byte("keep me")) {
		t.Fatal("body lost after rename")
	}
	st, err := other.Status("Renamed/Box", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || *st.NumMessages != 2 {
		t.Fatalf("renamed mailbox: %+v %v", st, err)
	}
}
