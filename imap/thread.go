package imap

// THREAD (RFC 5256 §3) with ORDEREDSUBJECT and REFERENCES (§2.2, §2.3 of
// the algorithms; Dovecot's behaviour where the RFC leaves room), and
// REFS (draft-ietf-morg-inthread §4, as Dovecot implements it).
//
// Invariants:
//   - Subjects, dates and Message-IDs come from the index's cached
//     envelopes; REFERENCES also reads each message's header for its
//     References field (not cached), and nothing else of the file.
//   - A thread node with one child prints as a chain "(a b)", one with
//     several as "(a (b)(c))", as Dovecot prints them (RFC 5256 §4 allows
//     both); dummy nodes never print, their children stand in their place.
//   - Siblings, and threads, go by sent date (the Date header, else the
//     internal date), ties by sequence number; a dummy's date is its first
//     child's.
//   - REFS is REFERENCES without the subject steps: threads are linked
//     by Message-ID, References and In-Reply-To only (steps 1 to 4; no
//     step 5 merge by base subject), siblings go by sent date as above,
//     and threads by the sent date of their latest message, ties by the
//     root's number with a dummy root first (Dovecot's
//     sort_root_nodes_ref2), so the thread with the newest mail comes
//     last.

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/message"
	"github.com/storaged/storaged/store"
)

func registerThread(t *commands) {
	t.add("THREAD", stateSelected, usesSeqs, cmdThread)
	t.capability(afterAuth, "THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES", "THREAD=REFS")
}

// tnode is a thread tree node: a message (num > 0) or a dummy.
type tnode struct {
	num      uint32 // sequence number or UID as answered; 0: dummy
	seq      uint32
	date     time.Time
	subject  string // base subject, folded
	reply    bool   // the subject had a reply or forward marker
	parent   *tnode
	children []*tnode
	// root marks a node linkThreads put in the root set.
	root bool
}

// sortDate is a node's date for ordering: a dummy's is its first child's.
func (n *tnode) sortDate() (time.Time, uint32) {
	for n.num == 0 && len(n.children) > 0 {
		n = n.children[0]
	}
	return n.date, n.seq
}

func sortNodes(nodes []*tnode) {
	for _, n := range nodes {
		sortNodes(n.children)
	}
	slices.SortStableFunc(nodes, func(a, b *tnode) int {
		da, sa := a.sortDate()
		db, sb := b.sortDate()
		if c := da.Compare(db); c != 0 {
			return c
		}
		return int(sa) - int(sb)
	})
}

func cmdThread(ctx context.Context, c *conn, cmd *wire.Command) error {
	args := cmd.Args.(*wire.ThreadArgs)
	switch args.Algorithm {
	case "ORDEREDSUBJECT", "REFERENCES", "REFS":
	default:
		return bad("unknown THREAD algorithm " + args.Algorithm)
	}
	switch args.Charset {
	case "UTF-8", "US-ASCII":
	default:
		return errBadCharset
	}
	s, err := c.newSearch(&args.Key, time.Now())
	if err != nil {
		return err
	}
	hits, err := s.run(ctx)
	if err != nil {
		var r *response
		if errors.As(err, &r) {
			return r
		}
		return mapErr(c.log, "thread", err)
	}
	nodes, refs, err := c.threadNodes(ctx, hits, cmd.UID, args.Algorithm != "ORDEREDSUBJECT")
	if err != nil {
		return mapErr(c.log, "thread", err)
	}
	var roots []*tnode
	switch args.Algorithm {
	case "ORDEREDSUBJECT":
		roots = orderedSubject(nodes)
	case "REFERENCES":
		roots = references(nodes, refs)
	default:
		roots = refsThreads(nodes, refs)
	}
	w := c.w
	w.Raw("* THREAD")
	if len(roots) > 0 {
		w.SP()
	}
	for _, r := range roots {
		writeThreadNode(w, r, true)
	}
	w.CRLF()
	return nil
}

// threadRefs is what REFERENCES and REFS need of one message.
type threadRefs struct {
	messageID string
	refs      []string
}

// threadNodes makes a node per hit from the sort cache, and with
// withRefs (REFERENCES, REFS) reads the References fields not read
// before.
func (c *conn) threadNodes(ctx context.Context, hits []hit, uid, withRefs bool) ([]*tnode, []threadRefs, error) {
	entries, err := c.sortEntries(hits)
	if err != nil {
		return nil, nil, err
	}
	// One allocation for all the nodes, and one cache lock for all the
	// References: at 100,000 messages, per-node allocations and locks
	// were most of a THREAD's time.
	nodes := make([]*tnode, len(hits))
	block := make([]tnode, len(hits))
	var refs []threadRefs
	var cached [][]string
	var have []bool
	mb := c.view.Mailbox()
	info, err := mb.Info()
	if err != nil {
		return nil, nil, err
	}
	key := sortBoxKey{user: c.user, mailbox: mb.ID(), uidValidity: info.UIDValidity}
	if withRefs {
		refs = make([]threadRefs, len(hits))
		cached, have = c.srv.sortCache.referencesOf(key, hits)
	}
	for i, h := range hits {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
		e := entries[i]
		n := &block[i]
		*n = tnode{num: h.seq, seq: h.seq, date: e.date, subject: e.subject, reply: e.reply}
		if uid {
			n.num = h.uid
		}
		nodes[i] = n
		if !withRefs {
			continue
		}
		r := threadRefs{messageID: e.messageID}
		ids, ok := cached[i], have[i]
		if !ok {
			msg, found, err := mb.Message(h.uid)
			if err != nil {
				return nil, nil, err
			}
			if found {
				field, err := readReferences(mb, msg)
				if err != nil && !errors.Is(err, folder.ErrGone) {
					return nil, nil, err
				}
				ids = msgIDs(field)
				if err == nil {
					c.srv.sortCache.putReferences(key, h.uid, ids)
				}
			}
		}
		r.refs = ids
		if len(r.refs) == 0 && e.inReplyTo != "" {
			// §2.2 (1)(B): without References, the first message-id of
			// In-Reply-To.
			r.refs = []string{e.inReplyTo}
		}
		refs[i] = r
	}
	return nodes, refs, nil
}

// readReferences reads a message's References field from its header.
func readReferences(mb *store.Mailbox, m store.Message) (string, error) {
	r, err := mb.Open(m)
	if err != nil {
		return "", err
	}
	defer r.Close()
	block, err := readHeaderBlock(r)
	if err != nil {
		return "", err
	}
	v, _ := message.ParseHeaderBlock(block).Get("References")
	return v, nil
}

// msgIDs are the "<...>" message-ids in a field, in order.
func msgIDs(v string) []string {
	var out []string
	for {
		i := strings.IndexByte(v, '<')
		if i < 0 {
			return out
		}
		j := strings.IndexByte(v[i:], '>')
		if j < 0 {
			return out
		}
		if id := strings.Join(strings.Fields(v[i:i+j+1]), ""); len(id) > 2 {
			out = append(out, id)
		}
		v = v[i+j+1:]
	}
}

func firstMsgID(v string) string {
	if ids := msgIDs(v); len(ids) > 0 {
		return ids[0]
	}
	return ""
}

// orderedSubject is §2.1's ORDEREDSUBJECT: messages grouped by base
// subject, each group's first (by date) the parent of the others.
func orderedSubject(nodes []*tnode) []*tnode {
	sorted := slices.Clone(nodes)
	slices.SortStableFunc(sorted, func(a, b *tnode) int {
		if c := strings.Compare(a.subject, b.subject); c != 0 {
			return c
		}
		if c := a.date.Compare(b.date); c != 0 {
			return c
		}
		return int(a.seq) - int(b.seq)
	})
	var roots []*tnode
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && sorted[j].subject == sorted[i].subject {
			j++
		}
		root := sorted[i]
		root.children = append(root.children[:0], sorted[i+1:j]...)
		roots = append(roots, root)
		i = j
	}
	// Threads by the date of their first message; children are in date
	// order already.
	slices.SortStableFunc(roots, func(a, b *tnode) int {
		if c := a.date.Compare(b.date); c != 0 {
			return c
		}
		return int(a.seq) - int(b.seq)
	})
	return roots
}

// references is §2.2's REFERENCES algorithm.
func references(nodes []*tnode, refs []threadRefs) []*tnode {
	roots := linkThreads(nodes, refs, true)
	sortNodes(roots) // a stable order for the merge below
	return mergeBySubject(roots)
}

// refsThreads is REFS: the threads of linkThreads as they are, siblings
// by sent date and threads by their latest message's.
func refsThreads(nodes []*tnode, refs []threadRefs) []*tnode {
	// A root dummy with one child stays (it prints as that child) so
	// that its thread's tie key is 0, as in Dovecot.
	roots := linkThreads(nodes, refs, false)
	type keyed struct {
		n      *tnode
		latest time.Time
		// num is the root's sequence number, 0 for a dummy; first is
		// its first child's, which orders dummies among themselves.
		num, first uint32
	}
	ks := make([]keyed, len(roots))
	for i, r := range roots {
		sortNodes(r.children)
		ks[i] = keyed{n: r, latest: latestDate(r), num: r.seq}
		if r.num == 0 && len(r.children) > 0 {
			ks[i].first = r.children[0].seq
		}
	}
	slices.SortFunc(ks, func(a, b keyed) int {
		if c := a.latest.Compare(b.latest); c != 0 {
			return c
		}
		if a.num != b.num {
			return int(a.num) - int(b.num)
		}
		return int(a.first) - int(b.first)
	})
	for i := range ks {
		roots[i] = ks[i].n
	}
	return roots
}

// latestDate is the latest sent date of the messages in n's thread.
func latestDate(n *tnode) time.Time {
	var d time.Time
	if n.num != 0 {
		d = n.date
	}
	for _, ch := range n.children {
		if cd := latestDate(ch); cd.After(d) {
			d = cd
		}
	}
	return d
}

// linkThreads is §2.2 steps (1) to (4): containers linked by Message-ID
// along References, the root set, dummies pruned (a root dummy with a
// single child promoted when promote is set).
func linkThreads(nodes []*tnode, refs []threadRefs, promote bool) []*tnode {
	byID := make(map[string]*tnode, len(nodes))
	// conts are byID's containers in the order they were made, so that
	// the root set is built in an order that does not depend on map
	// iteration, and without iterating the map.
	conts := make([]*tnode, 0, len(nodes))
	// (1) Containers by Message-ID, linked along References.
	for i, n := range nodes {
		id := refs[i].messageID
		var cont *tnode
		if id != "" {
			cont = byID[id]
		}
		switch {
		case cont == nil:
			cont = n
			if id != "" {
				byID[id] = n
				conts = append(conts, n)
			}
		case cont.num == 0:
			// A dummy made for a reference: this message fills it.
			cont.num, cont.seq, cont.date, cont.subject, cont.reply = n.num, n.seq, n.date, n.subject, n.reply
			nodes[i] = cont
		default:
			// (A) A duplicate Message-ID: treated as having none.
			cont = n
		}
		var prev *tnode
		for _, r := range refs[i].refs {
			rc := byID[r]
			if rc == nil {
				rc = &tnode{}
				byID[r] = rc
				conts = append(conts, rc)
			}
			if prev != nil && rc.parent == nil && !isAncestor(rc, prev) && rc != prev {
				link(prev, rc)
			}
			prev = rc
		}
		// (C) The message's parent is its last reference.
		if prev != nil && (prev == cont || isAncestor(cont, prev)) {
			prev = nil
		}
		if cont.parent != prev {
			unlink(cont)
			if prev != nil {
				link(prev, cont)
			}
		}
	}
	// (2) The root set.
	var roots []*tnode
	for _, set := range [][]*tnode{conts, nodes} {
		for _, n := range set {
			for n.parent != nil {
				n = n.parent
			}
			if !n.root {
				n.root = true
				roots = append(roots, n)
			}
		}
	}
	// (4) Prune dummies.
	return pruneDummies(roots, true, promote)
}

// mergeBySubject is §2.2 steps (5) and (6): root threads with the same
// base subject merged, then siblings and threads by date.
func mergeBySubject(roots []*tnode) []*tnode {
	table := map[string]*tnode{}
	for _, r := range roots {
		subj, reply := rootSubject(r)
		if subj == "" {
			continue
		}
		old, ok := table[subj]
		if !ok || r.num == 0 && old.num != 0 || old.num != 0 && old.reply && !reply && r.num != 0 {
			table[subj] = r
		}
	}
	var out []*tnode
	for _, r := range roots {
		subj, reply := rootSubject(r)
		t := table[subj]
		if subj == "" || t == nil || t == r {
			out = append(out, r)
			continue
		}
		switch {
		case t.num == 0 && r.num == 0:
			for _, ch := range r.children {
				ch.parent = t
			}
			t.children = append(t.children, r.children...)
		case t.num == 0:
			link(t, r)
		case reply && !t.reply:
			link(t, r)
		default:
			d := &tnode{}
			// The new dummy takes the table entry's place among the
			// roots; both become its children.
			idx := slices.Index(out, t)
			link(d, t)
			link(d, r)
			table[subj] = d
			if idx >= 0 {
				out[idx] = d
			}
		}
	}
	// (6) Siblings and threads by date.
	sortNodes(out)
	return out
}

func rootSubject(r *tnode) (string, bool) {
	if r.num == 0 && len(r.children) > 0 {
		c := r.children[0]
		return c.subject, c.reply
	}
	return r.subject, r.reply
}

func isAncestor(a, n *tnode) bool {
	for p := n.parent; p != nil; p = p.parent {
		if p == a {
			return true
		}
	}
	return false
}

func link(parent, child *tnode) {
	unlink(child)
	child.parent = parent
	parent.children = append(parent.children, child)
}

func unlink(n *tnode) {
	p := n.parent
	if p == nil {
		return
	}
	if i := slices.Index(p.children, n); i >= 0 {
		p.children = slices.Delete(p.children, i, i+1)
	}
	n.parent = nil
}

// pruneDummies applies §2.2 (4): a dummy without children goes; one with
// children gives them to its parent, except at the root, where only a
// single child is promoted (with promote).
func pruneDummies(nodes []*tnode, root, promote bool) []*tnode {
	var out []*tnode
	for _, n := range nodes {
		n.children = pruneDummies(n.children, false, promote)
		for _, ch := range n.children {
			ch.parent = n
		}
		switch {
		case n.num != 0:
			out = append(out, n)
		case len(n.children) == 0:
		case !root || promote && len(n.children) == 1:
			for _, ch := range n.children {
				ch.parent = n.parent
			}
			out = append(out, n.children...)
		default:
			out = append(out, n)
		}
	}
	return out
}

// writeThreadNode writes one thread (top) or sub-thread.
func writeThreadNode(w *wire.Writer, n *tnode, top bool) {
	if top {
		w.Raw("(")
		defer w.Raw(")")
	}
	if n.num == 0 {
		if len(n.children) == 1 {
			// A REFS root dummy with one child prints as the child,
			// as Dovecot prints it.
			writeThreadNode(w, n.children[0], false)
			return
		}
		// A dummy: its children, each its own list.
		for _, ch := range n.children {
			w.Raw("(")
			writeThreadNode(w, ch, false)
			w.Raw(")")
		}
		return
	}
	w.Number32(n.num)
	switch len(n.children) {
	case 0:
	case 1:
		w.SP()
		writeThreadNode(w, n.children[0], false)
	default:
		w.SP()
		for _, ch := range n.children {
			w.Raw("(")
			writeThreadNode(w, ch, false)
			w.Raw(")")
		}
	}
}
