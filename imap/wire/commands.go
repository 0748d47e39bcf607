package wire

import (
	"encoding/base64"
	"time"
)

// Command is one parsed command.
type Command struct {
	Tag  string
	Name string // upper case, "UID" prefix removed (see UID)
	UID  bool
	// Args is what the command's ParseFunc returned: a pointer to one of
	// the *Args types below for the default commands, nil for commands
	// without arguments.
	Args any
	// Raw is the token tree Args was parsed from.
	Raw []Arg
}

// ParseFunc turns a command's tokens into its typed arguments. It must
// consume every token (a.End) and report errors as *SyntaxError (any
// other error is wrapped into one).
type ParseFunc func(c *Command, a *Args) (any, error)

// Spec describes one command to the reader.
type Spec struct {
	Parse ParseFunc
	// UID: the command may be prefixed with "UID" (RFC 9051 §6.4.9).
	UID bool
	// Append: literals after the first argument, and inside a list that
	// follows the atom UTF8, are messages bounded by MaxAppend (RFC 9051
	// §6.3.12, RFC 3502, RFC 6855 §4).
	Append bool
}

// Parser holds the limits and the command table. Configure it before
// serving; it is then read-only and shared by all Readers.
type Parser struct {
	limits Limits
	cmds   map[string]Spec
}

// NewParser returns a parser with DefaultCommands registered.
func NewParser(l Limits) *Parser {
	return &Parser{limits: l.withDefaults(), cmds: DefaultCommands()}
}

// Limits returns the effective limits (defaults filled in).
func (p *Parser) Limits() Limits { return p.limits }

// Register adds or replaces the command name (any case).
func (p *Parser) Register(name string, s Spec) { p.cmds[upperString(name)] = s }

// Unregister removes a command: it then fails as unknown, before any of
// its literals is accepted.
func (p *Parser) Unregister(name string) { delete(p.cmds, upperString(name)) }

// DefaultCommands returns a new table of the commands this package
// parses.
func DefaultCommands() map[string]Spec {
	none := Spec{Parse: parseNone}
	return map[string]Spec{
		"CAPABILITY":     none,
		"NOOP":           none,
		"LOGOUT":         none,
		"STARTTLS":       none,
		"UNAUTHENTICATE": none,
		"NAMESPACE":      none,
		"IDLE":           none,
		"CHECK":          none,
		"CLOSE":          none,
		"UNSELECT":       none,
		"AUTHENTICATE":   {Parse: parseAuthenticate},
		"LOGIN":          {Parse: parseLogin},
		"ENABLE":         {Parse: parseEnable},
		"ID":             {Parse: parseID},
		"SELECT":         {Parse: parseSelect},
		"EXAMINE":        {Parse: parseSelect},
		"CREATE":         {Parse: parseCreate},
		"DELETE":         {Parse: parseMailboxOnly},
		"SUBSCRIBE":      {Parse: parseMailboxOnly},
		"UNSUBSCRIBE":    {Parse: parseMailboxOnly},
		"RENAME":         {Parse: parseRename},
		"LIST":           {Parse: parseList},
		"LSUB":           {Parse: parseList},
		"STATUS":         {Parse: parseStatus},
		"APPEND":         {Parse: parseAppend, Append: true},
		"EXPUNGE":        {Parse: parseExpunge, UID: true},
		"SEARCH":         {Parse: parseSearch, UID: true},
		"FETCH":          {Parse: parseFetch, UID: true},
		"STORE":          {Parse: parseStore, UID: true},
		"COPY":           {Parse: parseCopy, UID: true},
		"MOVE":           {Parse: parseCopy, UID: true},
		"GETQUOTA":       {Parse: parseGetQuota},
		"GETQUOTAROOT":   {Parse: parseMailboxOnly},
		"SETQUOTA":       {Parse: parseSetQuota},
		"SORT":           {Parse: parseSort, UID: true},
		"THREAD":         {Parse: parseThread, UID: true},
		"GETMETADATA":    {Parse: parseGetMetadata},
		"SETMETADATA":    {Parse: parseSetMetadata},
		"NOTIFY":         {Parse: parseNotify},
	}
}

func parseNone(_ *Command, a *Args) (any, error) { return nil, a.End() }

// AuthenticateArgs: AUTHENTICATE mech [SP initial-response] (RFC 9051
// §6.2.2, RFC 4959 §3).
type AuthenticateArgs struct {
	Mechanism  string // upper case
	HasInitial bool   // an initial response was sent; "=" means empty
	Initial    []byte // decoded
}

func parseAuthenticate(_ *Command, a *Args) (any, error) {
	mech, err := a.Keyword()
	if err != nil {
		return nil, err
	}
	out := &AuthenticateArgs{Mechanism: mech}
	if a.More() {
		t, _ := a.Next()
		if t.Kind != KindAtom && t.Kind != KindNumber {
			return nil, errorf("invalid initial response")
		}
		out.HasInitial = true
		if t.Str != "=" {
			if out.Initial, err = base64.StdEncoding.DecodeString(t.Str); err != nil {
				return nil, errorf("invalid base64 in initial response")
			}
		} else {
			out.Initial = []byte{}
		}
	}
	return out, a.End()
}

// LoginArgs: LOGIN userid password, both astrings.
type LoginArgs struct {
	Username, Password String
}

func parseLogin(_ *Command, a *Args) (any, error) {
	u, err := a.AString()
	if err != nil {
		return nil, err
	}
	p, err := a.AString()
	if err != nil {
		return nil, err
	}
	return &LoginArgs{Username: u, Password: p}, a.End()
}

// EnableArgs: ENABLE 1*(SP capability) (RFC 5161), upper-cased.
type EnableArgs struct {
	Caps []string
}

func parseEnable(_ *Command, a *Args) (any, error) {
	if !a.More() {
		return nil, errorf("ENABLE needs a capability")
	}
	out := &EnableArgs{}
	for a.More() {
		k, err := a.Keyword()
		if err != nil {
			return nil, err
		}
		out.Caps = append(out.Caps, k)
	}
	return out, nil
}

// IDArgs: ID ("field" nstring ...) / NIL (RFC 2971 §3.1).
type IDArgs struct {
	Nil    bool
	Fields []IDField
}

// IDField is one field of ID; Nil marks a NIL value.
type IDField struct {
	Key   string
	Value string
	Nil   bool
}

func parseID(_ *Command, a *Args) (any, error) {
	if t := a.Peek(); t != nil && t.Kind == KindNil {
		a.Next()
		return &IDArgs{Nil: true}, a.End()
	}
	l, err := a.List()
	if err != nil {
		return nil, err
	}
	out := &IDArgs{}
	for l.More() {
		k, err := l.StringArg()
		if err != nil {
			return nil, err
		}
		v, isNil, err := l.NString()
		if err != nil {
			return nil, err
		}
		out.Fields = append(out.Fields, IDField{Key: k.Value, Value: v.Value, Nil: isNil})
	}
	return out, a.End()
}

// Param is one parameter of a SELECT/EXAMINE (RFC 4466 §2.2) or CREATE
// (RFC 4466 §2.3) parameter list: a name and an optional value (a number
// or a list), left for the caller to interpret (see ParseQResync).
type Param struct {
	Name  string // upper case
	Value *Arg
}

func parseParams(a *Args) ([]Param, error) {
	l, err := a.List()
	if err != nil {
		return nil, err
	}
	var out []Param
	for l.More() {
		name, err := l.Keyword()
		if err != nil {
			return nil, err
		}
		p := Param{Name: name}
		if t := l.Peek(); t != nil && (t.Kind == KindList || t.Kind == KindNumber) {
			p.Value, _ = l.Next()
		}
		out = append(out, p)
	}
	return out, nil
}

// SelectArgs: SELECT/EXAMINE mailbox [SP (params)].
type SelectArgs struct {
	Mailbox  Mailbox
	ReadOnly bool // EXAMINE
	Params   []Param
}

func parseSelect(c *Command, a *Args) (any, error) {
	m, err := a.Mailbox()
	if err != nil {
		return nil, err
	}
	out := &SelectArgs{Mailbox: m, ReadOnly: c.Name == "EXAMINE"}
	if a.More() {
		if out.Params, err = parseParams(a); err != nil {
			return nil, err
		}
	}
	return out, a.End()
}

// QResync is the value of SELECT's QRESYNC parameter (RFC 7162 §3.2.5).
type QResync struct {
	UIDValidity  uint32
	ModSeq       uint64
	KnownUIDs    *SeqSet
	KnownSeqs    *SeqSet // seq-match-data: known-sequence-set
	KnownSeqUIDs *SeqSet // seq-match-data: known-uid-set
}

// ParseQResync interprets a QRESYNC parameter value:
// "(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")".
func ParseQResync(p Param) (*QResync, error) {
	if p.Value == nil || p.Value.Kind != KindList {
		return nil, errorf("QRESYNC needs a list")
	}
	l := NewArgs(p.Value.List)
	var q QResync
	var err error
	if q.UIDValidity, err = l.NZNumber(); err != nil {
		return nil, err
	}
	if q.ModSeq, err = l.Number64(); err != nil {
		return nil, err
	}
	if l.More() && !l.PeekList() {
		s, err := l.SeqSet()
		if err != nil {
			return nil, err
		}
		q.KnownUIDs = &s
	}
	if l.More() {
		m, err := l.List()
		if err != nil {
			return nil, err
		}
		seqs, err := m.SeqSet()
		if err != nil {
			return nil, err
		}
		uids, err := m.SeqSet()
		if err != nil {
			return nil, err
		}
		if err := m.End(); err != nil {
			return nil, err
		}
		q.KnownSeqs, q.KnownSeqUIDs = &seqs, &uids
	}
	return &q, l.End()
}

// CreateArgs: CREATE mailbox [SP (params)]; USE holds RFC 6154 §3's
// special-use attributes, canonicalised like flags.
type CreateArgs struct {
	Mailbox Mailbox
	Params  []Param
	Use     []string
}

func parseCreate(_ *Command, a *Args) (any, error) {
	m, err := a.Mailbox()
	if err != nil {
		return nil, err
	}
	out := &CreateArgs{Mailbox: m}
	if a.More() {
		if out.Params, err = parseParams(a); err != nil {
			return nil, err
		}
		for _, p := range out.Params {
			if p.Name != "USE" {
				continue
			}
			if p.Value == nil || p.Value.Kind != KindList {
				return nil, errorf("USE needs a list")
			}
			l := NewArgs(p.Value.List)
			for l.More() {
				f, err := l.Flag()
				if err != nil {
					return nil, err
				}
				out.Use = append(out.Use, CanonicalUse(f))
			}
		}
	}
	return out, a.End()
}

// MailboxArgs: DELETE, SUBSCRIBE, UNSUBSCRIBE mailbox.
type MailboxArgs struct {
	Mailbox Mailbox
}

func parseMailboxOnly(_ *Command, a *Args) (any, error) {
	m, err := a.Mailbox()
	if err != nil {
		return nil, err
	}
	return &MailboxArgs{Mailbox: m}, a.End()
}

// RenameArgs: RENAME existing new.
type RenameArgs struct {
	From, To Mailbox
}

func parseRename(_ *Command, a *Args) (any, error) {
	f, err := a.Mailbox()
	if err != nil {
		return nil, err
	}
	t, err := a.Mailbox()
	if err != nil {
		return nil, err
	}
	return &RenameArgs{From: f, To: t}, a.End()
}

// ListArgs: LIST [SP (select-opts)] SP reference SP (pattern / (patterns))
// [SP RETURN (return-opts)] (RFC 9051 §6.3.9, RFC 5258 §6), and LSUB
// reference pattern. Reference and patterns are kept as sent (no INBOX
// canonicalisation: matching is the caller's).
type ListArgs struct {
	Select    []string // upper case
	Reference String
	Patterns  []String
	// Return options, upper case; STATUS's items are in StatusItems.
	Return      []string
	StatusItems []string
	// Extended is true when any RFC 5258 syntax was used.
	Extended bool
}

func parseList(c *Command, a *Args) (any, error) {
	out := &ListArgs{}
	var err error
	if c.Name == "LIST" && a.PeekList() {
		out.Extended = true
		if out.Select, err = a.Keywords(); err != nil {
			return nil, err
		}
	}
	if out.Reference, err = a.AString(); err != nil {
		return nil, err
	}
	if c.Name == "LIST" && a.PeekList() {
		out.Extended = true
		l, _ := a.List()
		if !l.More() {
			return nil, errorf("empty pattern list")
		}
		for l.More() {
			p, err := l.ListMailbox()
			if err != nil {
				return nil, err
			}
			out.Patterns = append(out.Patterns, p)
		}
	} else {
		p, err := a.ListMailbox()
		if err != nil {
			return nil, err
		}
		out.Patterns = []String{p}
	}
	if c.Name == "LIST" && a.TryKeyword("RETURN") {
		out.Extended = true
		l, err := a.List()
		if err != nil {
			return nil, err
		}
		out.Return = []string{}
		for l.More() {
			k, err := l.Keyword()
			if err != nil {
				return nil, err
			}
			out.Return = append(out.Return, k)
			if k == "STATUS" {
				if out.StatusItems, err = statusItems(l); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, a.End()
}

// StatusArgs: STATUS mailbox (status-att ...) (RFC 9051 §6.3.11).
type StatusArgs struct {
	Mailbox Mailbox
	Items   []string // upper case
}

var knownStatus = map[string]bool{
	"MESSAGES": true, "UIDNEXT": true, "UIDVALIDITY": true, "UNSEEN": true,
	"DELETED": true, "SIZE": true, "RECENT": true, // RECENT: IMAP4rev1
	"HIGHESTMODSEQ":   true, // RFC 7162 §3.1.6
	"APPENDLIMIT":     true, // RFC 7889
	"MAILBOXID":       true, // RFC 8474
	"DELETED-STORAGE": true, // RFC 9208 §4.2
}

func statusItems(a *Args) ([]string, error) {
	items, err := a.Keywords()
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, errorf("empty status item list")
	}
	for _, it := range items {
		if !knownStatus[it] {
			return nil, errorf("unknown status item " + it)
		}
	}
	return items, nil
}

func parseStatus(_ *Command, a *Args) (any, error) {
	m, err := a.Mailbox()
	if err != nil {
		return nil, err
	}
	items, err := statusItems(a)
	if err != nil {
		return nil, err
	}
	return &StatusArgs{Mailbox: m, Items: items}, a.End()
}

// AppendArgs: APPEND mailbox 1*([SP flag-list] [SP date-time] SP message)
// (RFC 9051 §6.3.12; several messages: RFC 3502 MULTIAPPEND).
type AppendArgs struct {
	Mailbox  Mailbox
	Messages []AppendMessage
}

// AppendMessage is one message of an APPEND.
type AppendMessage struct {
	Flags   []string
	Date    time.Time // zero if not given
	HasDate bool
	Data    []byte
	Binary  bool // literal8 (RFC 3516 §4.4)
	UTF8    bool // "UTF8 (literal8)" (RFC 6855 §4)
}

func parseAppend(_ *Command, a *Args) (any, error) {
	m, err := a.Mailbox()
	if err != nil {
		return nil, err
	}
	out := &AppendArgs{Mailbox: m}
	for a.More() || len(out.Messages) == 0 {
		var msg AppendMessage
		if a.PeekList() {
			if msg.Flags, err = a.FlagList(); err != nil {
				return nil, err
			}
		}
		if t := a.Peek(); t != nil && t.Kind == KindQuoted {
			if msg.Date, err = a.DateTime(); err != nil {
				return nil, err
			}
			msg.HasDate = true
		}
		if a.TryKeyword("UTF8") {
			l, err := a.List()
			if err != nil {
				return nil, err
			}
			t, err := l.Next()
			if err != nil || t.Kind != KindLiteral {
				return nil, errorf("UTF8 needs a literal")
			}
			if err := l.End(); err != nil {
				return nil, err
			}
			msg.Data, msg.Binary, msg.UTF8 = t.Lit, t.Binary, true
		} else {
			t, err := a.Next()
			if err != nil {
				return nil, errorf("APPEND needs a message literal")
			}
			if t.Kind != KindLiteral {
				return nil, errorf("APPEND message must be a literal")
			}
			msg.Data, msg.Binary = t.Lit, t.Binary
		}
		out.Messages = append(out.Messages, msg)
	}
	return out, nil
}

// ExpungeArgs: UID EXPUNGE sequence-set (RFC 9051 §6.4.9); nil for
// EXPUNGE.
type ExpungeArgs struct {
	UIDs SeqSet
}

func parseExpunge(c *Command, a *Args) (any, error) {
	if !c.UID {
		return nil, a.End()
	}
	s, err := a.SeqSet()
	if err != nil {
		return nil, err
	}
	return &ExpungeArgs{UIDs: s}, a.End()
}

// CopyArgs: COPY and MOVE sequence-set mailbox (RFC 9051 §6.4.7-8).
type CopyArgs struct {
	Seq     SeqSet
	Mailbox Mailbox
}

func parseCopy(_ *Command, a *Args) (any, error) {
	s, err := a.SeqSet()
	if err != nil {
		return nil, err
	}
	m, err := a.Mailbox()
	if err != nil {
		return nil, err
	}
	return &CopyArgs{Seq: s, Mailbox: m}, a.End()
}

// StoreOp is the kind of a STORE.
type StoreOp uint8

const (
	StoreReplace StoreOp = iota // FLAGS
	StoreAdd                    // +FLAGS
	StoreRemove                 // -FLAGS
)

// StoreArgs: STORE sequence-set [SP (UNCHANGEDSINCE n)] SP
// [+|-]FLAGS[.SILENT] SP (flag-list / flag *(SP flag)) (RFC 9051 §6.4.6,
// RFC 7162 §3.1.3).
type StoreArgs struct {
	Seq               SeqSet
	HasUnchangedSince bool
	UnchangedSince    uint64
	Op                StoreOp
	Silent            bool
	Flags             []string
}

func parseStore(_ *Command, a *Args) (any, error) {
	s, err := a.SeqSet()
	if err != nil {
		return nil, err
	}
	out := &StoreArgs{Seq: s}
	if a.PeekList() {
		l, _ := a.List()
		for l.More() {
			k, err := l.Keyword()
			if err != nil {
				return nil, err
			}
			if k != "UNCHANGEDSINCE" || out.HasUnchangedSince {
				return nil, errorf("unknown STORE modifier " + k)
			}
			if out.UnchangedSince, err = l.Number64(); err != nil {
				return nil, err
			}
			out.HasUnchangedSince = true
		}
	}
	k, err := a.Keyword()
	if err != nil {
		return nil, err
	}
	switch k {
	case "FLAGS", "FLAGS.SILENT":
	case "+FLAGS", "+FLAGS.SILENT":
		out.Op = StoreAdd
	case "-FLAGS", "-FLAGS.SILENT":
		out.Op = StoreRemove
	default:
		return nil, errorf("unknown STORE item " + k)
	}
	out.Silent = len(k) > 7 && k[len(k)-7:] == ".SILENT"
	if a.PeekList() {
		if out.Flags, err = a.FlagList(); err != nil {
			return nil, err
		}
		return out, a.End()
	}
	if !a.More() {
		return nil, errorf("STORE needs flags")
	}
	for a.More() {
		f, err := a.Flag()
		if err != nil {
			return nil, err
		}
		out.Flags = append(out.Flags, f)
	}
	return out, nil
}
