package wire

import "time"

// SearchOp is the kind of a search key (RFC 9051 §6.4.4, RFC 5032
// YOUNGER/OLDER, RFC 7162 §3.1.5 MODSEQ, RFC 8514 SAVED*, RFC 8474
// EMAILID/THREADID).
type SearchOp uint8

const (
	SearchAll    SearchOp = iota + 1
	SearchAnd             // Children, all must match; also a parenthesised group
	SearchOr              // Children[0] or Children[1]
	SearchNot             // not Children[0]
	SearchSeq             // Seq: message sequence numbers (or "$")
	SearchUID             // Seq: UIDs
	SearchFlag            // Flag is set (ANSWERED ... SEEN, KEYWORD)
	SearchNoFlag          // Flag is not set (UNANSWERED ... UNSEEN, UNKEYWORD)
	SearchNew             // RECENT and not SEEN (IMAP4rev1)
	SearchOld             // not RECENT (IMAP4rev1)
	SearchRecent          // IMAP4rev1
	SearchBcc             // Value
	SearchCc
	SearchFrom
	SearchSubject
	SearchTo
	SearchHeader // Field, Value
	SearchBody   // Value
	SearchText   // Value
	SearchBefore // Date
	SearchOn
	SearchSince
	SearchSentBefore
	SearchSentOn
	SearchSentSince
	SearchSavedBefore
	SearchSavedOn
	SearchSavedSince
	SearchSaveDateSupported
	SearchLarger  // Num
	SearchSmaller // Num
	SearchYounger // Num seconds
	SearchOlder   // Num seconds
	SearchModSeq  // Num; ModSeqEntry and ModSeqType when given
	SearchEmailID // Value
	SearchThreadID
)

// SearchKey is a node of the search tree.
type SearchKey struct {
	Op          SearchOp
	Children    []SearchKey
	Seq         SeqSet
	Flag        string
	Field       string
	Value       String
	Date        time.Time // midnight UTC of the day given
	Num         uint64
	ModSeqEntry string // e.g. "/flags/\Seen"
	ModSeqType  string // "PRIV", "SHARED", "ALL"
}

// maxSearchDepth bounds NOT/OR chains, which are flat tokens and would
// otherwise recurse once per token.
const maxSearchDepth = 100

var flagKeys = map[string]struct {
	op   SearchOp
	flag string
}{
	"ANSWERED": {SearchFlag, `\Answered`}, "DELETED": {SearchFlag, `\Deleted`},
	"DRAFT": {SearchFlag, `\Draft`}, "FLAGGED": {SearchFlag, `\Flagged`},
	"SEEN": {SearchFlag, `\Seen`}, "UNANSWERED": {SearchNoFlag, `\Answered`},
	"UNDELETED": {SearchNoFlag, `\Deleted`}, "UNDRAFT": {SearchNoFlag, `\Draft`},
	"UNFLAGGED": {SearchNoFlag, `\Flagged`}, "UNSEEN": {SearchNoFlag, `\Seen`},
}

var simpleKeys = map[string]SearchOp{
	"ALL": SearchAll, "NEW": SearchNew, "OLD": SearchOld, "RECENT": SearchRecent,
	"SAVEDATESUPPORTED": SearchSaveDateSupported,
}

var stringKeys = map[string]SearchOp{
	"BCC": SearchBcc, "CC": SearchCc, "FROM": SearchFrom, "SUBJECT": SearchSubject,
	"TO": SearchTo, "BODY": SearchBody, "TEXT": SearchText,
	"EMAILID": SearchEmailID, "THREADID": SearchThreadID,
}

var dateKeys = map[string]SearchOp{
	"BEFORE": SearchBefore, "ON": SearchOn, "SINCE": SearchSince,
	"SENTBEFORE": SearchSentBefore, "SENTON": SearchSentOn, "SENTSINCE": SearchSentSince,
	"SAVEDBEFORE": SearchSavedBefore, "SAVEDON": SearchSavedOn, "SAVEDSINCE": SearchSavedSince,
}

var numberKeys = map[string]SearchOp{
	"LARGER": SearchLarger, "SMALLER": SearchSmaller,
	"YOUNGER": SearchYounger, "OLDER": SearchOlder,
}

// SearchKeys reads the remaining tokens as search keys, all of which
// must match (RFC 9051 §6.4.4); a single key is returned as itself.
func (a *Args) SearchKeys() (SearchKey, error) {
	if !a.More() {
		return SearchKey{}, errorf("missing search key")
	}
	var keys []SearchKey
	for a.More() {
		k, err := a.SearchKey(0)
		if err != nil {
			return SearchKey{}, err
		}
		keys = append(keys, k)
	}
	if len(keys) == 1 {
		return keys[0], nil
	}
	return SearchKey{Op: SearchAnd, Children: keys}, nil
}

// SearchKey reads one search-key; depth is the nesting so far.
func (a *Args) SearchKey(depth int) (SearchKey, error) {
	if depth > maxSearchDepth {
		return SearchKey{}, errorf("search keys nested too deep")
	}
	t, err := a.Next()
	if err != nil {
		return SearchKey{}, err
	}
	if t.Kind == KindList {
		l := NewArgs(t.List)
		if !l.More() {
			return SearchKey{}, errorf("empty search group")
		}
		var keys []SearchKey
		for l.More() {
			k, err := l.SearchKey(depth + 1)
			if err != nil {
				return SearchKey{}, err
			}
			keys = append(keys, k)
		}
		return SearchKey{Op: SearchAnd, Children: keys}, nil
	}
	if t.Kind != KindAtom && t.Kind != KindNumber {
		return SearchKey{}, errorf("expected search key, got " + t.Kind.String())
	}
	if c := t.Str[0]; c >= '0' && c <= '9' || c == '*' || c == '$' {
		s, err := ParseSeqSet(t.Str)
		return SearchKey{Op: SearchSeq, Seq: s}, err
	}
	name := upperString(t.Str)
	if f, ok := flagKeys[name]; ok {
		return SearchKey{Op: f.op, Flag: f.flag}, nil
	}
	if op, ok := simpleKeys[name]; ok {
		return SearchKey{Op: op}, nil
	}
	if op, ok := stringKeys[name]; ok {
		v, err := a.AString()
		return SearchKey{Op: op, Value: v}, err
	}
	if op, ok := dateKeys[name]; ok {
		d, err := a.Date()
		return SearchKey{Op: op, Date: d}, err
	}
	if op, ok := numberKeys[name]; ok {
		var n uint64
		if op == SearchLarger || op == SearchSmaller {
			var n32 uint32
			n32, err = a.Number()
			n = uint64(n32)
		} else {
			var n32 uint32
			n32, err = a.NZNumber()
			n = uint64(n32)
		}
		return SearchKey{Op: op, Num: n}, err
	}
	switch name {
	case "NOT":
		k, err := a.SearchKey(depth + 1)
		if err != nil {
			return SearchKey{}, err
		}
		return SearchKey{Op: SearchNot, Children: []SearchKey{k}}, nil
	case "OR":
		k1, err := a.SearchKey(depth + 1)
		if err != nil {
			return SearchKey{}, err
		}
		k2, err := a.SearchKey(depth + 1)
		if err != nil {
			return SearchKey{}, err
		}
		return SearchKey{Op: SearchOr, Children: []SearchKey{k1, k2}}, nil
	case "UID":
		s, err := a.SeqSet()
		return SearchKey{Op: SearchUID, Seq: s}, err
	case "KEYWORD", "UNKEYWORD":
		// "KEYWORD \\Seen" is not in the grammar (flag-keyword is an atom),
		// but clients send it (go-imap's client does, for flags it has no
		// key for): it means the flag, as Dovecot reads it.
		f, err := a.Flag()
		op := SearchFlag
		if name == "UNKEYWORD" {
			op = SearchNoFlag
		}
		return SearchKey{Op: op, Flag: f}, err
	case "HEADER":
		f, err := a.AString()
		if err != nil {
			return SearchKey{}, err
		}
		v, err := a.AString()
		return SearchKey{Op: SearchHeader, Field: f.Value, Value: v}, err
	case "MODSEQ":
		k := SearchKey{Op: SearchModSeq}
		if t := a.Peek(); t != nil && t.Kind == KindQuoted {
			a.Next()
			k.ModSeqEntry = t.Str
			typ, err := a.Keyword()
			if err != nil {
				return SearchKey{}, err
			}
			if typ != "PRIV" && typ != "SHARED" && typ != "ALL" {
				return SearchKey{}, errorf("invalid MODSEQ entry type " + typ)
			}
			k.ModSeqType = typ
		}
		k.Num, err = a.Number64()
		return k, err
	}
	return SearchKey{}, errorf("unknown search key " + name)
}

// SearchArgs: SEARCH [RETURN (opts)] [CHARSET charset] keys (RFC 9051
// §6.4.4, RFC 4731 ESEARCH, RFC 5182 SAVE).
type SearchArgs struct {
	HasReturn bool
	Return    []string // upper case: MIN, MAX, ALL, COUNT, SAVE
	Charset   string   // upper case; "" if not given
	Key       SearchKey
}

var searchReturn = map[string]bool{"MIN": true, "MAX": true, "ALL": true, "COUNT": true, "SAVE": true}

func parseSearch(_ *Command, a *Args) (any, error) {
	out := &SearchArgs{}
	if a.TryKeyword("RETURN") {
		opts, err := a.Keywords()
		if err != nil {
			return nil, err
		}
		for _, o := range opts {
			if !searchReturn[o] {
				return nil, errorf("unknown SEARCH return option " + o)
			}
		}
		out.HasReturn, out.Return = true, opts
	}
	if a.TryKeyword("CHARSET") {
		cs, err := a.AString()
		if err != nil {
			return nil, err
		}
		out.Charset = upperString(cs.Value)
	}
	k, err := a.SearchKeys()
	if err != nil {
		return nil, err
	}
	out.Key = k
	return out, nil
}
