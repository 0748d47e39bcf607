package wire

import (
	"strconv"
	"time"
)

// Args is a cursor over the tokens of a command (or of one list), with
// the readers of RFC 9051 §9 productions that command parsers need. Its
// errors are *SyntaxError without a tag; ReadCommand fills in the tag.
type Args struct {
	list []Arg
	i    int
}

// NewArgs returns a cursor over list.
func NewArgs(list []Arg) *Args { return &Args{list: list} }

func errorf(msg string) error { return &SyntaxError{Msg: msg} }

// More reports whether tokens are left.
func (a *Args) More() bool { return a.i < len(a.list) }

// Len is the number of tokens left.
func (a *Args) Len() int { return len(a.list) - a.i }

// Peek returns the next token without consuming it, nil at the end.
func (a *Args) Peek() *Arg {
	if a.i >= len(a.list) {
		return nil
	}
	return &a.list[a.i]
}

// Next consumes the next token.
func (a *Args) Next() (*Arg, error) {
	if a.i >= len(a.list) {
		return nil, errorf("missing argument")
	}
	a.i++
	return &a.list[a.i-1], nil
}

// End fails if tokens are left.
func (a *Args) End() error {
	if a.i < len(a.list) {
		return errorf("unexpected argument")
	}
	return nil
}

// Keyword consumes an atom and returns it upper-cased.
func (a *Args) Keyword() (string, error) {
	t, err := a.Next()
	if err != nil {
		return "", err
	}
	if t.Kind != KindAtom && t.Kind != KindNil {
		return "", errorf("expected keyword, got " + t.Kind.String())
	}
	return upperString(t.Str), nil
}

// TryKeyword consumes the next token if it is the atom kw (upper case),
// in any case.
func (a *Args) TryKeyword(kw string) bool {
	t := a.Peek()
	if t != nil && (t.Kind == KindAtom || t.Kind == KindNil) && equalFold(t.Str, kw) {
		a.i++
		return true
	}
	return false
}

// String is a string argument: the octets as sent (a literal's too) and
// whether any is 8-bit, since decoding (charset, modified UTF-7, UTF-8
// validity) is the caller's.
type String struct {
	Value string
	Eight bool
}

// AString reads astring = 1*ASTRING-CHAR / string.
func (a *Args) AString() (String, error) {
	t, err := a.Next()
	if err != nil {
		return String{}, err
	}
	switch t.Kind {
	case KindQuoted, KindLiteral:
		if t.Binary {
			return String{}, errorf("literal8 not allowed here")
		}
		return String{Value: t.Text(), Eight: t.Eight}, nil
	case KindAtom, KindNumber, KindNil:
		for i := 0; i < len(t.Str); i++ {
			if c := t.Str[i]; !isAStringChar(c) {
				return String{}, errorf("invalid character in astring")
			}
		}
		return String{Value: t.Str, Eight: t.Eight}, nil
	}
	return String{}, errorf("expected astring, got " + t.Kind.String())
}

// StringArg reads string = quoted / literal.
func (a *Args) StringArg() (String, error) {
	t, err := a.Next()
	if err != nil {
		return String{}, err
	}
	if !t.IsString() || t.Binary {
		return String{}, errorf("expected string, got " + t.Kind.String())
	}
	return String{Value: t.Text(), Eight: t.Eight}, nil
}

// NString reads nstring = string / NIL.
func (a *Args) NString() (s String, isNil bool, err error) {
	if t := a.Peek(); t != nil && t.Kind == KindNil {
		a.i++
		return String{}, true, nil
	}
	s, err = a.StringArg()
	return s, false, err
}

// Mailbox is a mailbox name as sent: "INBOX" in any case becomes "INBOX"
// (RFC 9051 §5.1); modified UTF-7 or UTF-8 decoding is the caller's.
type Mailbox struct {
	Name  string
	Eight bool
}

// Mailbox reads mailbox = "INBOX" / astring.
func (a *Args) Mailbox() (Mailbox, error) {
	s, err := a.AString()
	if err != nil {
		return Mailbox{}, err
	}
	return MailboxName(s), nil
}

// MailboxName canonicalises INBOX.
func MailboxName(s String) Mailbox {
	if equalFold(s.Value, "INBOX") {
		return Mailbox{Name: "INBOX"}
	}
	return Mailbox{Name: s.Value, Eight: s.Eight}
}

// ListMailbox reads list-mailbox = 1*list-char / string (wildcards kept).
func (a *Args) ListMailbox() (String, error) {
	t, err := a.Next()
	if err != nil {
		return String{}, err
	}
	switch t.Kind {
	case KindQuoted, KindLiteral:
		if t.Binary {
			return String{}, errorf("literal8 not allowed here")
		}
		return String{Value: t.Text(), Eight: t.Eight}, nil
	case KindAtom, KindNumber, KindNil:
		for i := 0; i < len(t.Str); i++ {
			if !isListChar(t.Str[i]) {
				return String{}, errorf("invalid character in mailbox pattern")
			}
		}
		return String{Value: t.Str, Eight: t.Eight}, nil
	}
	return String{}, errorf("expected mailbox pattern, got " + t.Kind.String())
}

// Number64 reads a number up to 2^63-1 (number64 / mod-sequence-value,
// RFC 9051 §9, RFC 7162 §7).
func (a *Args) Number64() (uint64, error) {
	t, err := a.Next()
	if err != nil {
		return 0, err
	}
	if t.Kind != KindNumber || t.Num > 1<<63-1 {
		return 0, errorf("expected number")
	}
	return t.Num, nil
}

// Number reads number = unsigned 32-bit integer.
func (a *Args) Number() (uint32, error) {
	t, err := a.Next()
	if err != nil {
		return 0, err
	}
	if t.Kind != KindNumber || t.Num > 1<<32-1 {
		return 0, errorf("expected 32-bit number")
	}
	return uint32(t.Num), nil
}

// NZNumber reads nz-number: a number other than 0.
func (a *Args) NZNumber() (uint32, error) {
	n, err := a.Number()
	if err == nil && n == 0 {
		err = errorf("expected non-zero number")
	}
	return n, err
}

// SeqSet reads sequence-set (or "$", RFC 5182).
func (a *Args) SeqSet() (SeqSet, error) {
	t, err := a.Next()
	if err != nil {
		return SeqSet{}, err
	}
	if t.Kind != KindAtom && t.Kind != KindNumber {
		return SeqSet{}, errorf("expected sequence set")
	}
	return ParseSeqSet(t.Str)
}

// List consumes a parenthesised list and returns a cursor over it.
func (a *Args) List() (*Args, error) {
	t, err := a.Next()
	if err != nil {
		return nil, err
	}
	if t.Kind != KindList {
		return nil, errorf("expected (")
	}
	return &Args{list: t.List}, nil
}

// PeekList reports whether the next token is a list.
func (a *Args) PeekList() bool {
	t := a.Peek()
	return t != nil && t.Kind == KindList
}

// Keywords reads a list of atoms, upper-cased.
func (a *Args) Keywords() ([]string, error) {
	l, err := a.List()
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, l.Len())
	for l.More() {
		k, err := l.Keyword()
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

var systemFlags = [...]string{`\Answered`, `\Flagged`, `\Deleted`, `\Seen`, `\Draft`, `\Recent`}

// CanonicalFlag returns the canonical spelling of a system flag (RFC 9051
// §2.3.2, case-insensitive) and any other flag as sent.
func CanonicalFlag(f string) string {
	if len(f) > 1 && f[0] == '\\' {
		for _, s := range systemFlags {
			if len(s) == len(f) && equalFold(f[1:], upperString(s[1:])) {
				return s
			}
		}
	}
	return f
}

var specialUse = [...]string{`\All`, `\Archive`, `\Drafts`, `\Flagged`, `\Junk`, `\Sent`, `\Trash`, `\Important`}

// CanonicalUse returns the canonical spelling of an RFC 6154 §2 (and RFC
// 8457) special-use attribute, any other as sent.
func CanonicalUse(f string) string {
	if len(f) > 1 && f[0] == '\\' {
		for _, s := range specialUse {
			if len(s) == len(f) && equalFold(f[1:], upperString(s[1:])) {
				return s
			}
		}
	}
	return f
}

// Flag reads flag = "\" atom / atom: system flags canonicalised,
// keywords kept as sent.
func (a *Args) Flag() (string, error) {
	t, err := a.Next()
	if err != nil {
		return "", err
	}
	if t.Kind != KindAtom && t.Kind != KindNil && t.Kind != KindNumber {
		return "", errorf("expected flag")
	}
	return checkFlag(t.Str)
}

func checkFlag(f string) (string, error) {
	s := f
	if len(s) > 0 && s[0] == '\\' {
		s = s[1:]
	}
	if s == "" {
		return "", errorf("invalid flag")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAtomChar(c) || c >= 0x80 {
			return "", errorf("invalid flag " + strconv.Quote(f))
		}
	}
	return CanonicalFlag(f), nil
}

// FlagList reads flag-list = "(" [flag *(SP flag)] ")".
func (a *Args) FlagList() ([]string, error) {
	l, err := a.List()
	if err != nil {
		return nil, err
	}
	flags := make([]string, 0, l.Len())
	for l.More() {
		f, err := l.Flag()
		if err != nil {
			return nil, err
		}
		flags = append(flags, f)
	}
	return flags, nil
}

var months = [...]string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}

// Date reads date = date-text / DQUOTE date-text DQUOTE, e.g. 1-Feb-1994,
// as midnight UTC of that day; the caller applies its time zone.
func (a *Args) Date() (time.Time, error) {
	t, err := a.Next()
	if err != nil {
		return time.Time{}, err
	}
	if t.Kind != KindAtom && t.Kind != KindQuoted {
		return time.Time{}, errorf("expected date")
	}
	return ParseDate(t.Str)
}

// ParseDate parses date-text = date-day "-" date-month "-" date-year.
func ParseDate(s string) (time.Time, error) {
	bad := errorf("invalid date " + strconv.Quote(s))
	d := 0
	i := 0
	for i < len(s) && i < 2 && s[i] >= '0' && s[i] <= '9' {
		d = d*10 + int(s[i]-'0')
		i++
	}
	if i == 0 || len(s) != i+9 || s[i] != '-' || s[i+4] != '-' {
		return time.Time{}, bad
	}
	m := month(s[i+1 : i+4])
	y, ok := digits(s[i+5:])
	if m == 0 || !ok {
		return time.Time{}, bad
	}
	return mkdate(y, m, d, 0, 0, 0, time.UTC, bad)
}

func month(s string) time.Month {
	for i, m := range months {
		if equalFold(s, m) {
			return time.Month(i + 1)
		}
	}
	return 0
}

func digits(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func mkdate(y int, m time.Month, d, hh, mm, ss int, loc *time.Location, bad error) (time.Time, error) {
	t := time.Date(y, m, d, hh, mm, ss, 0, loc)
	if t.Day() != d || t.Month() != m || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, bad
	}
	return t, nil
}

// DateTime reads date-time = DQUOTE date-day-fixed "-" date-month "-"
// date-year SP time SP zone DQUOTE (RFC 9051 §9), e.g.
// " 5-Mar-2024 10:00:00 +0100".
func (a *Args) DateTime() (time.Time, error) {
	t, err := a.Next()
	if err != nil {
		return time.Time{}, err
	}
	if t.Kind != KindQuoted {
		return time.Time{}, errorf("expected quoted date-time")
	}
	return ParseDateTime(t.Str)
}

// ParseDateTime parses the inside of a date-time.
func ParseDateTime(s string) (time.Time, error) {
	bad := errorf("invalid date-time " + strconv.Quote(s))
	if len(s) == 26 && s[0] == ' ' {
		s = "0" + s[1:]
	} else if len(s) == 25 {
		s = "0" + s // a one-digit day without its padding space
	}
	if len(s) != 26 || s[2] != '-' || s[6] != '-' || s[11] != ' ' || s[14] != ':' || s[17] != ':' || s[20] != ' ' {
		return time.Time{}, bad
	}
	d, ok1 := digits(s[0:2])
	m := month(s[3:6])
	y, ok2 := digits(s[7:11])
	hh, ok3 := digits(s[12:14])
	mi, ok4 := digits(s[15:17])
	ss, ok5 := digits(s[18:20])
	zh, ok6 := digits(s[22:24])
	zm, ok7 := digits(s[24:26])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 || m == 0 || zm > 59 || (s[21] != '+' && s[21] != '-') {
		return time.Time{}, bad
	}
	off := zh*3600 + zm*60
	if s[21] == '-' {
		off = -off
	}
	return mkdate(y, m, d, hh, mi, ss, time.FixedZone("", off), bad)
}
