package imap

import (
	"context"
	"sort"
	"strings"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/store"
)

// LIST and LSUB (RFC 9051 §6.3.9, RFC 3501 §6.3.9), LIST-EXTENDED (RFC
// 5258), LIST-STATUS (RFC 5819), SPECIAL-USE (RFC 6154).
func registerList(t *commands) {
	t.capability(afterAuth, "LIST-EXTENDED", "LIST-STATUS")
	t.add("LIST", afterAuth, 0, cmdList)
	t.add("LSUB", afterAuth, 0, cmdList)
}

type listEntry struct {
	name       string
	exists     bool
	info       store.MailboxInfo
	subscribed bool
	children   bool     // an existing descendant
	subKids    []string // subscribed descendants
}

type listOpts struct {
	lsub                                  bool
	selSubscribed, selRecursive, selSpUse bool
	retSubscribed, retSpUse               bool
	status                                []string
}

func parseListOpts(c *conn, cmd *wire.Command, args *wire.ListArgs) (listOpts, error) {
	o := listOpts{lsub: cmd.Name == "LSUB"}
	for _, s := range args.Select {
		switch s {
		case "SUBSCRIBED":
			o.selSubscribed = true
		case "RECURSIVEMATCH":
			o.selRecursive = true
		case "SPECIAL-USE":
			o.selSpUse = true
		case "REMOTE":
			// RFC 5258 §3: no remote mailboxes here; nothing to add.
		default:
			return o, bad("unknown LIST selection option " + s)
		}
	}
	// RFC 5258 §3: RECURSIVEMATCH alone is meaningless.
	if o.selRecursive && !o.selSubscribed && !o.selSpUse {
		return o, bad("RECURSIVEMATCH needs another selection option")
	}
	for _, r := range args.Return {
		switch r {
		case "SUBSCRIBED":
			o.retSubscribed = true
		case "CHILDREN":
			// Always returned (RFC 3348 attributes are cheap here).
		case "SPECIAL-USE":
			o.retSpUse = true
		case "STATUS":
			for _, it := range args.StatusItems {
				if !c.statusItemKnown(it) {
					return o, bad("unsupported STATUS item " + it)
				}
			}
			o.status = args.StatusItems
		default:
			return o, bad("unknown LIST return option " + r)
		}
	}
	return o, nil
}

func cmdList(_ context.Context, c *conn, cmd *wire.Command) error {
	args := cmd.Args.(*wire.ListArgs)
	o, err := parseListOpts(c, cmd, args)
	if err != nil {
		return err
	}
	ref, err := c.listPattern(args.Reference.Value)
	if err != nil {
		return err
	}
	var pats []pattern
	for _, p := range args.Patterns {
		if p.Value == "" {
			continue
		}
		dp, err := c.listPattern(p.Value)
		if err != nil {
			return err
		}
		pats = append(pats, compilePattern(ref, dp))
	}
	if len(pats) == 0 {
		// RFC 9051 §6.3.9: an empty pattern asks for the separator.
		c.w.Untagged()
		c.w.Raw(cmd.Name)
		c.w.Raw(` (\Noselect) "/" ""`)
		c.w.CRLF()
		return nil
	}
	entries, err := c.listEntries()
	if err != nil {
		return mapErr(c.log, "list", err)
	}
	matches := func(name string) bool {
		for i := range pats {
			if pats[i].match(name) {
				return true
			}
		}
		return false
	}
	// An unsubscribed parent stands for subscribed descendants the
	// pattern hides (RFC 3501 §6.3.9 LSUB \Noselect, RFC 5258 §3.5
	// CHILDINFO).
	hidden := func(e *listEntry) bool {
		for _, k := range e.subKids {
			if !matches(k) {
				return true
			}
		}
		return false
	}
	for _, e := range entries {
		if !matches(e.name) {
			continue
		}
		var attrs []string
		childInfo := false
		switch {
		case o.lsub:
			if !e.subscribed && !hidden(e) {
				continue
			}
			if !e.subscribed || !e.exists {
				attrs = append(attrs, `\Noselect`)
			}
		case o.selSubscribed:
			if !e.subscribed && !(o.selRecursive && hidden(e)) {
				continue
			}
			childInfo = o.selRecursive && hidden(e)
		default:
			if !e.exists && !e.children {
				continue
			}
		}
		spUse := e.exists && e.info.SpecialUse != ""
		if o.selSpUse && !spUse {
			continue
		}
		if !o.lsub {
			if !e.exists {
				if e.children && !(o.selSubscribed && e.subscribed) {
					attrs = append(attrs, `\Noselect`)
				} else {
					attrs = append(attrs, `\NonExistent`)
				}
			}
			if e.subscribed && (o.retSubscribed || o.selSubscribed) {
				attrs = append(attrs, `\Subscribed`)
			}
			if e.children {
				attrs = append(attrs, `\HasChildren`)
			} else if e.exists {
				attrs = append(attrs, `\HasNoChildren`)
			}
			// SPECIAL-USE attributes are always sent (RFC 6154 §2 allows
			// it; clients that did not ask ignore them).
			if spUse {
				attrs = append(attrs, e.info.SpecialUse)
			}
		}
		var delStorage int64
		if o.status != nil && e.exists {
			mb, err := c.acct.Mailbox(e.name)
			if err == nil {
				delStorage, err = deletedStorage(mb, o.status)
			}
			if err != nil {
				return mapErr(c.log, "list", err)
			}
		}
		c.writeList(cmd.Name, e, attrs, childInfo)
		if o.status != nil && e.exists {
			c.w.Untagged()
			c.w.Raw("STATUS ")
			c.w.AString(c.wireName(e.name))
			c.w.SP()
			c.writeStatusItems(e.info, o.status, delStorage)
			c.w.CRLF()
		}
	}
	return nil
}

func (c *conn) writeList(name string, e *listEntry, attrs []string, childInfo bool) {
	w := c.w
	w.Untagged()
	w.Raw(name)
	w.Raw(" (")
	w.Raw(strings.Join(attrs, " "))
	w.Raw(`) "/" `)
	w.AString(c.wireName(e.name))
	if childInfo {
		w.Raw(` ("CHILDINFO" ("SUBSCRIBED"))`)
	}
	w.CRLF()
}

// listPattern decodes a reference or pattern like a mailbox name (the
// wildcards are ASCII and survive modified UTF-7 decoding). A pattern
// that is not valid modified UTF-7 is matched as it is: it then matches
// no name, which is an answer, not an error (imaptest's atoms group).
func (c *conn) listPattern(p string) (string, error) {
	name, err := c.mailboxName(wire.Mailbox{Name: p, Eight: !isASCII(p)})
	if err != nil && isASCII(p) && !c.w.UTF8() {
		return folder.CanonicalName(p), nil
	}
	return name, err
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// listEntries is every name in the hierarchy, sorted: mailboxes,
// subscriptions and the levels above them.
func (c *conn) listEntries() ([]*listEntry, error) {
	mbs, err := c.acct.Mailboxes()
	if err != nil {
		return nil, err
	}
	subs, err := c.acct.Subscriptions()
	if err != nil {
		return nil, err
	}
	byName := map[string]*listEntry{}
	get := func(name string) *listEntry {
		e, ok := byName[name]
		if !ok {
			e = &listEntry{name: name}
			byName[name] = e
		}
		return e
	}
	for _, mb := range mbs {
		e := get(mb.Name)
		e.exists, e.info = true, mb
	}
	for _, n := range subs {
		get(folder.CanonicalName(n)).subscribed = true
	}
	// Every level above a name exists in the hierarchy, as a mailbox or
	// as a \Noselect / \NonExistent placeholder.
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	for _, name := range names {
		e := byName[name]
		for p, ok := folder.Parent(name); ok; p, ok = folder.Parent(p) {
			pe := get(p)
			if e.exists {
				pe.children = true
			}
			if e.subscribed {
				pe.subKids = append(pe.subKids, name)
			}
		}
	}
	out := make([]*listEntry, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// pattern is a compiled LIST pattern (RFC 9051 §6.3.9): "*" matches
// anything, "%" anything but the separator. Matching simulates the
// pattern as an automaton, one pass over the name with a set of
// positions: linear in the name for a given pattern, whatever the
// wildcards (a backtracking matcher is exponential in the number of
// "*").
type pattern struct {
	p   string
	cur []bool
	nxt []bool
}

func compilePattern(ref, pat string) pattern {
	full := pat
	if ref != "" && !strings.HasPrefix(pat, folder.Separator) {
		full = ref + pat
	}
	full = folder.CanonicalName(full)
	// Runs of wildcards collapse: "**" and "%*" are "*", "%%" is "%".
	var b strings.Builder
	for i := 0; i < len(full); i++ {
		ch := full[i]
		if ch == '*' || ch == '%' {
			j := i
			star := false
			for j < len(full) && (full[j] == '*' || full[j] == '%') {
				star = star || full[j] == '*'
				j++
			}
			if star {
				b.WriteByte('*')
			} else {
				b.WriteByte('%')
			}
			i = j - 1
			continue
		}
		b.WriteByte(ch)
	}
	p := b.String()
	return pattern{p: p, cur: make([]bool, len(p)+1), nxt: make([]bool, len(p)+1)}
}

// closure marks the positions reachable by wildcards matching nothing.
func (pt *pattern) closure(set []bool) {
	for i := 0; i < len(pt.p); i++ {
		if set[i] && (pt.p[i] == '*' || pt.p[i] == '%') {
			set[i+1] = true
		}
	}
}

func (pt *pattern) match(name string) bool {
	cur, nxt := pt.cur, pt.nxt
	clear(cur)
	cur[0] = true
	pt.closure(cur)
	for k := 0; k < len(name); k++ {
		ch := name[k]
		clear(nxt)
		any := false
		for i := 0; i < len(pt.p); i++ {
			if !cur[i] {
				continue
			}
			switch pt.p[i] {
			case '*':
				nxt[i], any = true, true
			case '%':
				if ch != '/' {
					nxt[i], any = true, true
				}
			default:
				if pt.p[i] == ch {
					nxt[i+1], any = true, true
				}
			}
		}
		if !any {
			return false
		}
		pt.closure(nxt)
		cur, nxt = nxt, cur
	}
	return cur[len(pt.p)]
}
