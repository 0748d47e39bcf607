package wire

import (
	"bufio"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// recorder is a LiteralHook that remembers what it was asked and refuses
// when refuse says so.
type recorder struct {
	asked  []LiteralInfo
	refuse func(LiteralInfo) error
}

func (r *recorder) hook(l LiteralInfo) error {
	r.asked = append(r.asked, l)
	if r.refuse != nil {
		return r.refuse(l)
	}
	return nil
}

func newTestReader(in string, lim Limits, rec *recorder) *Reader {
	if rec == nil {
		rec = &recorder{}
	}
	return NewParser(lim).NewReader(bufio.NewReaderSize(strings.NewReader(in), 16), rec.hook)
}

func readOne(t *testing.T, in string) *Command {
	t.Helper()
	c, err := newTestReader(in, Limits{}, nil).ReadCommand()
	if err != nil {
		t.Fatalf("%q: %v", in, err)
	}
	return c
}

func set(rs ...SeqRange) SeqSet { return SeqSet{Ranges: rs} }
func one(n uint32) SeqRange     { return SeqRange{n, n} }
func str(s string) String       { return String{Value: s} }
func mbox(s string) Mailbox     { return Mailbox{Name: s} }

func TestReadCommandGolden(t *testing.T) {
	date := time.Date(1994, 2, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		name string
		uid  bool
		args any
	}{
		{"a CAPABILITY\r\n", "CAPABILITY", false, nil},
		{"a1 noop\r\n", "NOOP", false, nil},
		{"a NOOP \r\n", "NOOP", false, nil}, // trailing space tolerated
		{"a logout\n", "LOGOUT", false, nil},
		{"tag.1 StartTLS\r\n", "STARTTLS", false, nil},
		{"a IDLE\r\n", "IDLE", false, nil},
		{"a UNAUTHENTICATE\r\n", "UNAUTHENTICATE", false, nil},
		{"a AUTHENTICATE plain\r\n", "AUTHENTICATE", false, &AuthenticateArgs{Mechanism: "PLAIN"}},
		{"a AUTHENTICATE PLAIN =\r\n", "AUTHENTICATE", false, &AuthenticateArgs{Mechanism: "PLAIN", HasInitial: true, Initial: []byte{}}},
		{"a AUTHENTICATE PLAIN AGJvYgBwdw==\r\n", "AUTHENTICATE", false, &AuthenticateArgs{Mechanism: "PLAIN", HasInitial: true, Initial: []byte("\x00bob\x00pw")}},
		{"a LOGIN bob \"p w\\\"\"\r\n", "LOGIN", false, &LoginArgs{str("bob"), str(`p w"`)}},
		{"a LOGIN {3}\r\nbob {4+}\r\np\r\nw\r\n", "LOGIN", false, &LoginArgs{str("bob"), str("p\r\nw")}},
		{"a LOGIN \"j\xc3\xb6rg\" x\r\n", "LOGIN", false, &LoginArgs{String{"j\xc3\xb6rg", true}, str("x")}},
		{"a ENABLE condstore UTF8=ACCEPT\r\n", "ENABLE", false, &EnableArgs{Caps: []string{"CONDSTORE", "UTF8=ACCEPT"}}},
		{"a ID NIL\r\n", "ID", false, &IDArgs{Nil: true}},
		{"a ID (\"name\" \"iOS\" \"version\" NIL)\r\n", "ID", false, &IDArgs{Fields: []IDField{{"name", "iOS", false}, {"version", "", true}}}},
		{"a SELECT inbox\r\n", "SELECT", false, &SelectArgs{Mailbox: mbox("INBOX")}},
		{"a EXAMINE \"Sent\"\r\n", "EXAMINE", false, &SelectArgs{Mailbox: mbox("Sent"), ReadOnly: true}},
		{"a SELECT INBOX (CONDSTORE)\r\n", "SELECT", false, &SelectArgs{Mailbox: mbox("INBOX"), Params: []Param{{Name: "CONDSTORE"}}}},
		{"a CREATE Drafts (USE (\\drafts))\r\n", "CREATE", false, &CreateArgs{Mailbox: mbox("Drafts"),
			Params: []Param{{Name: "USE", Value: &Arg{Kind: KindList, List: []Arg{{Kind: KindAtom, Str: `\drafts`}}}}}, Use: []string{`\Drafts`}}},
		{"a DELETE foo\r\n", "DELETE", false, &MailboxArgs{mbox("foo")}},
		{"a SUBSCRIBE foo]bar\r\n", "SUBSCRIBE", false, &MailboxArgs{mbox("foo]bar")}},
		{"a FETCH 1 (UID PREVIEW (lazy) FLAGS)\r\n", "FETCH", false, &FetchArgs{Seq: set(one(1)), Items: []FetchItem{{Kind: FetchUID}, {Kind: FetchPreview, Lazy: true}, {Kind: FetchFlags}}}},
		{"a FETCH 1 PREVIEW (LAZY)\r\n", "FETCH", false, &FetchArgs{Seq: set(one(1)), Items: []FetchItem{{Kind: FetchPreview, Lazy: true}}}},
		{"a FETCH 1 PREVIEW\r\n", "FETCH", false, &FetchArgs{Seq: set(one(1)), Items: []FetchItem{{Kind: FetchPreview}}}},
		{"a GETQUOTAROOT inbox\r\n", "GETQUOTAROOT", false, &MailboxArgs{mbox("INBOX")}},
		{"a UID THREAD orderedsubject utf-8 ALL\r\n", "THREAD", true, &ThreadArgs{Algorithm: "ORDEREDSUBJECT", Charset: "UTF-8", Key: SearchKey{Op: SearchAll}}},
		{"a UID SORT (REVERSE date subject) utf-8 ALL\r\n", "SORT", true, &SortArgs{Criteria: []SortCriterion{{"DATE", true}, {"SUBJECT", false}}, Charset: "UTF-8", Key: SearchKey{Op: SearchAll}}},
		{"a SORT RETURN (min count) (ARRIVAL) US-ASCII 1:5\r\n", "SORT", false, &SortArgs{HasReturn: true, Return: []string{"MIN", "COUNT"}, Criteria: []SortCriterion{{"ARRIVAL", false}}, Charset: "US-ASCII", Key: SearchKey{Op: SearchSeq, Seq: set(SeqRange{1, 5})}}},
		{"a GETQUOTA \"User quota\"\r\n", "GETQUOTA", false, &QuotaRootArgs{"User quota"}},
		{"a GETQUOTA \"\"\r\n", "GETQUOTA", false, &QuotaRootArgs{""}},
		{"a SETQUOTA \"\" (storage 512 MESSAGE 10)\r\n", "SETQUOTA", false, &SetQuotaArgs{"", []QuotaLimit{{"STORAGE", 512}, {"MESSAGE", 10}}}},
		{"a SETQUOTA x ()\r\n", "SETQUOTA", false, &SetQuotaArgs{Root: "x"}},
		{"a UNSUBSCRIBE NIL\r\n", "UNSUBSCRIBE", false, &MailboxArgs{mbox("NIL")}},
		{"a RENAME a b\r\n", "RENAME", false, &RenameArgs{mbox("a"), mbox("b")}},
		{"a LIST \"\" *\r\n", "LIST", false, &ListArgs{Reference: str(""), Patterns: []String{str("*")}}},
		{"a LIST \"\" %/x*\r\n", "LIST", false, &ListArgs{Reference: str(""), Patterns: []String{str("%/x*")}}},
		{"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"%\" INBOX) RETURN (CHILDREN STATUS (MESSAGES unseen))\r\n", "LIST", false,
			&ListArgs{Select: []string{"SUBSCRIBED", "RECURSIVEMATCH"}, Reference: str(""), Patterns: []String{str("%"), str("INBOX")},
				Return: []string{"CHILDREN", "STATUS"}, StatusItems: []string{"MESSAGES", "UNSEEN"}, Extended: true}},
		{"a LIST \"\" \"\" RETURN ()\r\n", "LIST", false, &ListArgs{Reference: str(""), Patterns: []String{str("")}, Return: []string{}, Extended: true}},
		{"a LSUB \"\" *\r\n", "LSUB", false, &ListArgs{Reference: str(""), Patterns: []String{str("*")}}},
		{"a NAMESPACE\r\n", "NAMESPACE", false, nil},
		{"a STATUS INBOX (MESSAGES UIDNEXT SIZE)\r\n", "STATUS", false, &StatusArgs{mbox("INBOX"), []string{"MESSAGES", "UIDNEXT", "SIZE"}}},
		{"a APPEND INBOX {5}\r\nhello\r\n", "APPEND", false, &AppendArgs{mbox("INBOX"), []AppendMessage{{Data: []byte("hello")}}}},
		{"a APPEND INBOX (\\seen $Fwd) \" 1-Feb-1994 10:00:00 -0130\" {2+}\r\nhi\r\n", "APPEND", false, &AppendArgs{mbox("INBOX"), []AppendMessage{{
			Flags: []string{`\Seen`, "$Fwd"}, HasDate: true, Date: time.Date(1994, 2, 1, 10, 0, 0, 0, time.FixedZone("", -90*60)), Data: []byte("hi")}}}},
		{"a APPEND INBOX ~{3}\r\na\x00b\r\n", "APPEND", false, &AppendArgs{mbox("INBOX"), []AppendMessage{{Data: []byte("a\x00b"), Binary: true}}}},
		{"a APPEND INBOX UTF8 (~{2+}\r\nhi)\r\n", "APPEND", false, &AppendArgs{mbox("INBOX"), []AppendMessage{{Data: []byte("hi"), Binary: true, UTF8: true}}}},
		{"a APPEND {3}\r\nbox {1}\r\nx (\\Draft) {1+}\r\ny\r\n", "APPEND", false, &AppendArgs{mbox("box"), []AppendMessage{{Data: []byte("x")}, {Flags: []string{`\Draft`}, Data: []byte("y")}}}},
		{"a CHECK\r\n", "CHECK", false, nil},
		{"a CLOSE\r\n", "CLOSE", false, nil},
		{"a UNSELECT\r\n", "UNSELECT", false, nil},
		{"a EXPUNGE\r\n", "EXPUNGE", false, nil},
		{"a UID EXPUNGE 1:3,5\r\n", "EXPUNGE", true, &ExpungeArgs{set(SeqRange{1, 3}, one(5))}},
		{"a COPY 1:* Trash\r\n", "COPY", false, &CopyArgs{set(SeqRange{1, 0}), mbox("Trash")}},
		{"a uid move $ inbox\r\n", "MOVE", true, &CopyArgs{SeqSet{Saved: true}, mbox("INBOX")}},
		{"a STORE 1 +FLAGS.SILENT (\\seen $x)\r\n", "STORE", false, &StoreArgs{Seq: set(one(1)), Op: StoreAdd, Silent: true, Flags: []string{`\Seen`, "$x"}}},
		{"a STORE 2:1 -flags \\Deleted \\FLAGGED\r\n", "STORE", false, &StoreArgs{Seq: set(SeqRange{2, 1}), Op: StoreRemove, Flags: []string{`\Deleted`, `\Flagged`}}},
		{"a UID STORE * (UNCHANGEDSINCE 12) FLAGS ()\r\n", "STORE", true, &StoreArgs{Seq: set(one(0)), HasUnchangedSince: true, UnchangedSince: 12, Flags: []string{}}},
		{"a SEARCH ALL\r\n", "SEARCH", false, &SearchArgs{Key: SearchKey{Op: SearchAll}}},
		{"a UID SEARCH RETURN (MIN COUNT) CHARSET utf-8 UID 1:* NOT DELETED\r\n", "SEARCH", true, &SearchArgs{HasReturn: true, Return: []string{"MIN", "COUNT"}, Charset: "UTF-8",
			Key: SearchKey{Op: SearchAnd, Children: []SearchKey{{Op: SearchUID, Seq: set(SeqRange{1, 0})}, {Op: SearchNot, Children: []SearchKey{{Op: SearchFlag, Flag: `\Deleted`}}}}}}},
		{"a SEARCH OR (FROM bob since 1-Feb-1994) HEADER X-Foo \"\" $\r\n", "SEARCH", false, &SearchArgs{Key: SearchKey{Op: SearchAnd, Children: []SearchKey{
			{Op: SearchOr, Children: []SearchKey{
				{Op: SearchAnd, Children: []SearchKey{{Op: SearchFrom, Value: str("bob")}, {Op: SearchSince, Date: date}}},
				{Op: SearchHeader, Field: "X-Foo", Value: str("")}}},
			{Op: SearchSeq, Seq: SeqSet{Saved: true}}}}}},
		{"a SEARCH SENTBEFORE \"01-Feb-1994\" LARGER 10 KEYWORD $Junk YOUNGER 60\r\n", "SEARCH", false, &SearchArgs{Key: SearchKey{Op: SearchAnd, Children: []SearchKey{
			{Op: SearchSentBefore, Date: date}, {Op: SearchLarger, Num: 10}, {Op: SearchFlag, Flag: "$Junk"}, {Op: SearchYounger, Num: 60}}}}},
		{"a SEARCH MODSEQ \"/flags/\\\\Seen\" all 620162338\r\n", "SEARCH", false, &SearchArgs{Key: SearchKey{Op: SearchModSeq, Num: 620162338, ModSeqEntry: `/flags/\Seen`, ModSeqType: "ALL"}}},
		{"a SEARCH 2,4:* BODY {3}\r\nf\xc3\xb6\r\n", "SEARCH", false, &SearchArgs{Key: SearchKey{Op: SearchAnd, Children: []SearchKey{
			{Op: SearchSeq, Seq: set(one(2), SeqRange{4, 0})}, {Op: SearchBody, Value: String{"f\xc3\xb6", true}}}}}},
		{"a FETCH 1 ALL\r\n", "FETCH", false, &FetchArgs{Seq: set(one(1)), Macro: "ALL", Items: []FetchItem{{Kind: FetchFlags}, {Kind: FetchInternalDate}, {Kind: FetchRFC822Size}, {Kind: FetchEnvelope}}}},
		{"a FETCH 1 flags\r\n", "FETCH", false, &FetchArgs{Seq: set(one(1)), Items: []FetchItem{{Kind: FetchFlags}}}},
		{"a UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (From \"Subject\")]<0.10> BINARY[1.2] binary.size[] BODY[1.MIME] MODSEQ) (CHANGEDSINCE 5 VANISHED)\r\n", "FETCH", true, &FetchArgs{
			Seq: set(SeqRange{1, 0}), HasChangedSince: true, ChangedSince: 5, Vanished: true, Items: []FetchItem{
				{Kind: FetchUID},
				{Kind: FetchBodySection, Peek: true, Section: Section{Specifier: "HEADER.FIELDS", Fields: []string{"From", "Subject"}}, HasPartial: true, Offset: 0, Count: 10},
				{Kind: FetchBinary, Section: Section{Part: []uint32{1, 2}}},
				{Kind: FetchBinarySize},
				{Kind: FetchBodySection, Section: Section{Part: []uint32{1}, Specifier: "MIME"}},
				{Kind: FetchModSeq}}}},
		{"a FETCH 1 BODY[HEADER.FIELDS.NOT ({7}\r\nSubject)]\r\n", "FETCH", false, &FetchArgs{Seq: set(one(1)), Items: []FetchItem{
			{Kind: FetchBodySection, Section: Section{Specifier: "HEADER.FIELDS.NOT", Fields: []string{"Subject"}}}}}},
		{"\r\n\n  \r\na NOOP\r\n", "NOOP", false, nil}, // empty lines skipped (iOS Mail)
	}
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.in), func(t *testing.T) {
			c := readOne(t, tt.in)
			if c.Name != tt.name || c.UID != tt.uid || c.Tag == "" {
				t.Fatalf("got %s uid=%v tag %q, want %s uid=%v", c.Name, c.UID, c.Tag, tt.name, tt.uid)
			}
			if !reflect.DeepEqual(c.Args, tt.args) {
				t.Fatalf("args\n got %s\nwant %s", dump(c.Args), dump(tt.args))
			}
		})
	}
}

func dump(v any) string { return fmt.Sprintf("%+v", v) }
