package wire

import (
	"strconv"
	"strings"
)

// FetchKind is a FETCH data item (RFC 9051 §6.4.5, RFC 7162 §3.1.4 MODSEQ,
// RFC 8514 SAVEDATE, RFC 8474 EMAILID/THREADID, RFC 3516 BINARY).
type FetchKind uint8

const (
	FetchEnvelope FetchKind = iota + 1
	FetchFlags
	FetchInternalDate
	FetchRFC822Size
	FetchBodyStructure // BODYSTRUCTURE
	FetchBody          // BODY without a section: non-extensible BODYSTRUCTURE
	FetchBodySection   // BODY[...] and BODY.PEEK[...]
	FetchBinary        // BINARY[...] and BINARY.PEEK[...]
	FetchBinarySize    // BINARY.SIZE[...]
	FetchUID
	FetchRFC822       // = BODY[]
	FetchRFC822Header // = BODY.PEEK[HEADER], answered as RFC822.HEADER
	FetchRFC822Text   // = BODY[TEXT]
	FetchModSeq
	FetchSaveDate
	FetchEmailID
	FetchThreadID
	FetchPreview // RFC 8970; Lazy when (LAZY) followed
)

var simpleFetch = map[string]FetchKind{
	"ENVELOPE": FetchEnvelope, "FLAGS": FetchFlags, "INTERNALDATE": FetchInternalDate,
	"RFC822.SIZE": FetchRFC822Size, "BODYSTRUCTURE": FetchBodyStructure, "BODY": FetchBody,
	"UID": FetchUID, "RFC822": FetchRFC822, "RFC822.HEADER": FetchRFC822Header,
	"RFC822.TEXT": FetchRFC822Text, "MODSEQ": FetchModSeq, "SAVEDATE": FetchSaveDate,
	"EMAILID": FetchEmailID, "THREADID": FetchThreadID, "PREVIEW": FetchPreview,
}

var fetchNames = [...]string{
	FetchEnvelope: "ENVELOPE", FetchFlags: "FLAGS", FetchInternalDate: "INTERNALDATE",
	FetchRFC822Size: "RFC822.SIZE", FetchBodyStructure: "BODYSTRUCTURE", FetchBody: "BODY",
	FetchBodySection: "BODY", FetchBinary: "BINARY", FetchBinarySize: "BINARY.SIZE",
	FetchUID: "UID", FetchRFC822: "RFC822", FetchRFC822Header: "RFC822.HEADER",
	FetchRFC822Text: "RFC822.TEXT", FetchModSeq: "MODSEQ", FetchSaveDate: "SAVEDATE",
	FetchEmailID: "EMAILID", FetchThreadID: "THREADID", FetchPreview: "PREVIEW",
}

// Section is a body section (RFC 9051 §6.4.5 BODY[<section>]).
type Section struct {
	Part      []uint32 // 1.2.3; empty for the whole message
	Specifier string   // "", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"
	Fields    []string // HEADER.FIELDS[.NOT] names, as sent
}

// FetchItem is one data item of a FETCH.
type FetchItem struct {
	Kind       FetchKind
	Peek       bool // BODY.PEEK / BINARY.PEEK: do not set \Seen
	Section    Section
	HasPartial bool
	Offset     uint64 // <offset.count>
	Count      uint64
	Lazy       bool // PREVIEW (LAZY): the server may answer NIL (RFC 8970 §3)
}

// AppendName appends the item's name as the server answers it: without
// .PEEK and with only the origin octet of a partial (RFC 9051 §7.5.2).
func (it *FetchItem) AppendName(dst []byte) []byte {
	if int(it.Kind) >= len(fetchNames) || fetchNames[it.Kind] == "" {
		return dst
	}
	dst = append(dst, fetchNames[it.Kind]...)
	switch it.Kind {
	case FetchBodySection, FetchBinary, FetchBinarySize:
	default:
		return dst
	}
	dst = append(dst, '[')
	for i, p := range it.Section.Part {
		if i > 0 {
			dst = append(dst, '.')
		}
		dst = strconv.AppendUint(dst, uint64(p), 10)
	}
	if it.Section.Specifier != "" {
		if len(it.Section.Part) > 0 {
			dst = append(dst, '.')
		}
		dst = append(dst, it.Section.Specifier...)
		if it.Section.Fields != nil {
			dst = append(dst, " ("...)
			for i, f := range it.Section.Fields {
				if i > 0 {
					dst = append(dst, ' ')
				}
				dst = appendAString(dst, f)
			}
			dst = append(dst, ')')
		}
	}
	dst = append(dst, ']')
	if it.HasPartial {
		dst = append(dst, '<')
		dst = strconv.AppendUint(dst, it.Offset, 10)
		dst = append(dst, '>')
	}
	return dst
}

// appendAString appends s as an atom when it is one, else quoted.
func appendAString(dst []byte, s string) []byte {
	ok := s != ""
	for i := 0; i < len(s) && ok; i++ {
		ok = isAStringChar(s[i]) && s[i] < 0x80
	}
	if ok && !(len(s) == 3 && equalFold(s, "NIL")) {
		return append(dst, s...)
	}
	return appendQuoted(dst, []byte(s))
}

// FetchArgs: FETCH sequence-set (macro / att / (att ...)) [SP (modifiers)].
type FetchArgs struct {
	Seq   SeqSet
	Macro string // "ALL", "FAST", "FULL" when one was used; Items holds its expansion
	Items []FetchItem
	// RFC 7162 §3.1.4.1, §3.2.6.
	HasChangedSince bool
	ChangedSince    uint64
	Vanished        bool
}

var macros = map[string][]FetchKind{
	"ALL":  {FetchFlags, FetchInternalDate, FetchRFC822Size, FetchEnvelope},
	"FAST": {FetchFlags, FetchInternalDate, FetchRFC822Size},
	"FULL": {FetchFlags, FetchInternalDate, FetchRFC822Size, FetchEnvelope, FetchBody},
}

func parseFetch(c *Command, a *Args) (any, error) {
	s, err := a.SeqSet()
	if err != nil {
		return nil, err
	}
	out := &FetchArgs{Seq: s}
	t, err := a.Next()
	if err != nil {
		return nil, err
	}
	switch t.Kind {
	case KindList:
		if len(t.List) == 0 {
			return nil, errorf("empty FETCH item list")
		}
		out.Items = make([]FetchItem, 0, len(t.List))
		for i := 0; i < len(t.List); i++ {
			if t.List[i].Kind != KindAtom {
				return nil, errorf("invalid FETCH item")
			}
			it, err := ParseFetchItem(t.List[i].Str)
			if err != nil {
				return nil, err
			}
			if it.Kind == FetchPreview && i+1 < len(t.List) && isPreviewMods(&t.List[i+1]) {
				it.Lazy = true
				i++
			}
			out.Items = append(out.Items, it)
		}
	case KindAtom:
		if m, ok := macros[upperString(t.Str)]; ok {
			out.Macro = upperString(t.Str)
			for _, k := range m {
				out.Items = append(out.Items, FetchItem{Kind: k})
			}
			break
		}
		it, err := ParseFetchItem(t.Str)
		if err != nil {
			return nil, err
		}
		if it.Kind == FetchPreview && a.PeekList() && isPreviewMods(a.Peek()) {
			a.Next()
			it.Lazy = true
		}
		out.Items = []FetchItem{it}
	default:
		return nil, errorf("invalid FETCH item")
	}
	if a.PeekList() {
		l, _ := a.List()
		for l.More() {
			k, err := l.Keyword()
			if err != nil {
				return nil, err
			}
			switch {
			case k == "CHANGEDSINCE" && !out.HasChangedSince:
				if out.ChangedSince, err = l.Number64(); err != nil {
					return nil, err
				}
				out.HasChangedSince = true
			case k == "VANISHED" && !out.Vanished:
				out.Vanished = true
			default:
				return nil, errorf("unknown FETCH modifier " + k)
			}
		}
		// RFC 7162 §3.2.6: VANISHED only in UID FETCH with CHANGEDSINCE.
		if out.Vanished && (!c.UID || !out.HasChangedSince) {
			return nil, errorf("VANISHED needs UID FETCH and CHANGEDSINCE")
		}
	}
	return out, a.End()
}

// ParseFetchItem parses one fetch-att atom, e.g. "BODY.PEEK[1.2.HEADER]<0.100>".
func ParseFetchItem(s string) (FetchItem, error) {
	bad := errorf("invalid FETCH item " + strconv.Quote(s))
	br := strings.IndexByte(s, '[')
	if br < 0 {
		k, ok := simpleFetch[upperString(s)]
		if !ok {
			return FetchItem{}, bad
		}
		return FetchItem{Kind: k}, nil
	}
	var it FetchItem
	switch upperString(s[:br]) {
	case "BODY":
		it.Kind = FetchBodySection
	case "BODY.PEEK":
		it.Kind, it.Peek = FetchBodySection, true
	case "BINARY":
		it.Kind = FetchBinary
	case "BINARY.PEEK":
		it.Kind, it.Peek = FetchBinary, true
	case "BINARY.SIZE":
		it.Kind = FetchBinarySize
	default:
		return FetchItem{}, bad
	}
	end := closeBracket(s, br)
	if end < 0 {
		return FetchItem{}, bad
	}
	inner, rest := s[br+1:end], s[end+1:]
	var err error
	if it.Kind == FetchBodySection {
		err = parseSection(inner, &it.Section)
	} else {
		it.Section.Part, inner, err = parseParts(inner)
		if err == nil && inner != "" {
			err = bad
		}
	}
	if err != nil {
		return FetchItem{}, err
	}
	if rest != "" {
		if it.Kind == FetchBinarySize {
			return FetchItem{}, bad
		}
		if it.Offset, it.Count, err = parsePartial(rest); err != nil {
			return FetchItem{}, err
		}
		it.HasPartial = true
	}
	return it, nil
}

// closeBracket finds the "]" matching s[open], skipping quoted strings.
func closeBracket(s string, open int) int {
	for i := open + 1; i < len(s); i++ {
		switch s[i] {
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '[':
			return -1
		case ']':
			return i
		}
	}
	return -1
}

// parseParts reads section-part = nz-number *("." nz-number) and returns
// what follows the parts' final dot.
func parseParts(s string) ([]uint32, string, error) {
	var parts []uint32
	for len(s) > 0 && s[0] >= '0' && s[0] <= '9' {
		n, rest, ok := seqNumber(s)
		if !ok || len(parts) >= 100 {
			return nil, "", errorf("invalid section part")
		}
		parts = append(parts, n)
		s = rest
		if s == "" {
			break
		}
		if s[0] != '.' || len(s) == 1 {
			return nil, "", errorf("invalid section part")
		}
		s = s[1:]
	}
	return parts, s, nil
}

func parseSection(s string, sec *Section) error {
	var err error
	if sec.Part, s, err = parseParts(s); err != nil {
		return err
	}
	name, list, hasList := strings.Cut(s, " ")
	name = upperString(name)
	switch name {
	case "":
		if hasList {
			return errorf("invalid section")
		}
		return nil
	case "HEADER", "TEXT":
	case "MIME":
		// RFC 9051 §6.4.5: MIME only after a part number.
		if len(sec.Part) == 0 {
			return errorf("MIME needs a part number")
		}
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		if !hasList {
			return errorf(name + " needs a list")
		}
		fields, err := headerList(list)
		if err != nil {
			return err
		}
		sec.Fields = fields
	default:
		return errorf("invalid section " + strconv.Quote(name))
	}
	if hasList && sec.Fields == nil {
		return errorf("invalid section")
	}
	sec.Specifier = name
	return nil
}

// headerList parses header-list = "(" header-fld-name *(SP header-fld-name) ")".
func headerList(s string) ([]string, error) {
	r := &Reader{mem: true, line: []byte(s)}
	if len(s) == 0 || s[0] != '(' {
		return nil, errorf("invalid header list")
	}
	t, err := r.token(0, false, false)
	if err != nil {
		return nil, err
	}
	if r.pos != len(r.line) || t.Kind != KindList || len(t.List) == 0 {
		return nil, errorf("invalid header list")
	}
	a := NewArgs(t.List)
	fields := make([]string, 0, len(t.List))
	for a.More() {
		f, err := a.AString()
		if err != nil {
			return nil, err
		}
		// RFC 5322 §3.6.8: field names are printable ASCII but ":".
		for i := 0; i < len(f.Value); i++ {
			if c := f.Value[i]; c <= ' ' || c >= 0x7f || c == ':' {
				return nil, errorf("invalid header field name")
			}
		}
		if f.Value == "" {
			return nil, errorf("empty header field name")
		}
		fields = append(fields, f.Value)
	}
	return fields, nil
}

// parsePartial parses "<" number "." nz-number ">".
func parsePartial(s string) (off, count uint64, err error) {
	bad := errorf("invalid partial " + strconv.Quote(s))
	if len(s) < 5 || s[0] != '<' || s[len(s)-1] != '>' {
		return 0, 0, bad
	}
	a, b, ok := strings.Cut(s[1:len(s)-1], ".")
	if !ok {
		return 0, 0, bad
	}
	off, ok1 := number64(a)
	count, ok2 := number64(b)
	if !ok1 || !ok2 || count == 0 {
		return 0, 0, bad
	}
	return off, count, nil
}

func number64(s string) (uint64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return n, n <= 1<<63-1
}

// isPreviewMods reports whether t is RFC 8970's "(" preview-mod ... ")":
// LAZY is the only one defined.
func isPreviewMods(t *Arg) bool {
	if t.Kind != KindList || len(t.List) == 0 {
		return false
	}
	for i := range t.List {
		if t.List[i].Kind != KindAtom || upperString(t.List[i].Str) != "LAZY" {
			return false
		}
	}
	return true
}
