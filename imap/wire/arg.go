package wire

// ArgKind is the kind of one token of the generic parse tree.
type ArgKind uint8

const (
	KindAtom    ArgKind = iota + 1 // atom, flag (\Seen), seq-set, FETCH item with [section]<partial>
	KindNumber                     // atom of digits only that fits in a uint64
	KindQuoted                     // quoted string, escapes removed
	KindLiteral                    // literal or literal8; octets in Lit
	KindNil                        // the atom NIL, any case
	KindList                       // parenthesised list
)

func (k ArgKind) String() string {
	switch k {
	case KindAtom:
		return "atom"
	case KindNumber:
		return "number"
	case KindQuoted:
		return "quoted"
	case KindLiteral:
		return "literal"
	case KindNil:
		return "NIL"
	case KindList:
		return "list"
	}
	return "invalid"
}

// Arg is one token of a command. Atoms keep a "[...]" section (spaces,
// parentheses and quoted strings included) inside the atom, as Dovecot's
// imap-parser does, so "BODY[HEADER.FIELDS (A B)]<0.10>" is one atom; a
// literal met inside the brackets is folded into the atom as a quoted
// string so that later parsing needs no stream.
type Arg struct {
	Kind   ArgKind
	Str    string // text of atom, number, NIL (as sent) and quoted string
	Num    uint64 // KindNumber
	Lit    []byte // KindLiteral
	List   []Arg  // KindList
	Eight  bool   // contains octets >= 0x80
	Binary bool   // literal8 "~{n}" (RFC 3516 §4.4)
	Sync   bool   // synchronising literal
}

// IsString reports whether a is a string (quoted or literal).
func (a *Arg) IsString() bool { return a.Kind == KindQuoted || a.Kind == KindLiteral }

// Text is the text of any non-list token: literal octets as a string.
func (a *Arg) Text() string {
	if a.Kind == KindLiteral {
		return string(a.Lit)
	}
	return a.Str
}
