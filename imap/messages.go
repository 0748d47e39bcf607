package imap

import (
	"context"
	"errors"
	"strconv"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/message"
	"github.com/storaged/storaged/store"
)

// Commands that change messages: STORE (RFC 9051 §6.4.6), COPY (§6.4.7),
// MOVE (RFC 6851), EXPUNGE and UID EXPUNGE (§6.4.3, RFC 4315), APPEND
// (§6.3.12, RFC 4315 APPENDUID, RFC 7889 APPENDLIMIT).
func registerMessages(t *commands) {
	t.capability(afterAuth, "UIDPLUS", "MOVE", "MULTIAPPEND")
	t.add("STORE", stateSelected, usesSeqs, cmdStore)
	t.add("COPY", stateSelected, usesSeqs, cmdCopy)
	t.add("MOVE", stateSelected, usesSeqs, cmdMove)
	t.add("EXPUNGE", stateSelected, 0, cmdExpunge)
	t.add("APPEND", afterAuth, 0, cmdAppend)
}

var errReadOnly = no("READ-ONLY", "the mailbox is read-only (EXAMINE)")

func cmdStore(ctx context.Context, c *conn, cmd *wire.Command) error {
	args := cmd.Args.(*wire.StoreArgs)
	if c.view.ReadOnly() {
		return errReadOnly
	}
	var cond *uint64
	if args.HasUnchangedSince {
		c.enableCondstore() // RFC 7162 §3.1: an enabling command
		cond = &args.UnchangedSince
	}
	flags, err := parseFlags(args.Flags)
	if err != nil {
		return err
	}
	uids, err := c.resolve(args.Seq, cmd.UID)
	if err != nil {
		return err
	}
	op := store.FlagsReplace
	switch args.Op {
	case wire.StoreAdd:
		op = store.FlagsAdd
	case wire.StoreRemove:
		op = store.FlagsRemove
	}
	mb := c.view.Mailbox()
	changed, modified, err := mb.StoreFlagsIf(ctx, uids, op, flags, c.view.Sub(), cond)
	if err != nil {
		return mapErr(c.log, "store", err)
	}
	c.announceKeywords(flags)
	w := c.w
	switch {
	case args.Silent && c.condstore:
		// RFC 7162 §3.1.3: even .SILENT tells the new MODSEQ of what
		// changed.
		for i := range changed {
			m := &changed[i]
			seq := c.view.Seq(m.UID)
			if seq == 0 {
				continue
			}
			w.Untagged()
			w.Number(uint64(seq))
			w.Raw(" FETCH (")
			if cmd.UID || c.qresync {
				w.Raw("UID ")
				w.Number(uint64(m.UID))
				w.SP()
			}
			c.writeModSeq(m.ModSeq)
			w.Raw(")\r\n")
		}
	case !args.Silent:
		// RFC 9051 §6.4.6: the flags of every message in the set, as
		// they are now (other sessions may have changed them too), but
		// those UNCHANGEDSINCE left alone.
		metas, err := mb.ReadBatch(uids, 0)
		if err != nil {
			return mapErr(c.log, "store", err)
		}
		skip := make(map[uint32]bool, len(modified))
		for _, u := range modified {
			skip[u] = true
		}
		for i := range metas {
			m := &metas[i]
			seq := c.view.Seq(m.UID)
			if !m.Found || seq == 0 || skip[m.UID] {
				continue
			}
			c.announceKeywords(m.Flags)
			w.Untagged()
			w.Number(uint64(seq))
			w.Raw(" FETCH (")
			if cmd.UID || c.qresync {
				w.Raw("UID ")
				w.Number(uint64(m.UID))
				w.SP()
			}
			w.Raw("FLAGS ")
			writeFlags(w, m.Flags, c.recent(m.UID))
			if c.condstore {
				w.SP()
				c.writeModSeq(m.ModSeq)
			}
			w.Raw(")\r\n")
		}
	}
	if len(modified) > 0 {
		// RFC 7162 §3.1.3: UIDs for UID STORE, sequence numbers else.
		nums := modified
		if !cmd.UID {
			nums = make([]uint32, 0, len(modified))
			for _, u := range modified {
				if seq := c.view.Seq(u); seq > 0 {
					nums = append(nums, seq)
				}
			}
		}
		return okCode("MODIFIED "+string(appendSeqRanges(nil, nums)), "conditional STORE failed")
	}
	return nil
}

// announceKeywords sends FLAGS and PERMANENTFLAGS again when f holds a
// keyword this session's client has not been told of: RFC 3501 §7.2.6
// wants every flag a FETCH shows listed in FLAGS first.
func (c *conn) announceKeywords(f folder.Flags) {
	if c.view == nil {
		return
	}
	fresh := false
	for _, k := range f.Keywords {
		if !c.keywords.has(k) {
			c.keywords.add(k)
			fresh = true
		}
	}
	if fresh {
		c.writeFlagsResponses()
	}
}

// writeFlagsResponses writes "* FLAGS" and the PERMANENTFLAGS code for
// the selected mailbox (RFC 9051 §7.3.5, §7.1).
func (c *conn) writeFlagsResponses() {
	c.writeFlagsLine()
	c.writePermanentFlags()
}

func (c *conn) writeFlagsLine() {
	w := c.w
	w.Untagged()
	w.Raw(`FLAGS (\Answered \Flagged \Deleted \Seen \Draft`)
	for _, k := range c.keywords.list {
		w.SP()
		w.Atom(k)
	}
	w.Raw(")\r\n")
}

func (c *conn) writePermanentFlags() {
	w := c.w
	if c.view.ReadOnly() {
		w.Status("", "OK", "PERMANENTFLAGS ()", "read-only mailbox")
		return
	}
	w.Raw(`* OK [PERMANENTFLAGS (\Answered \Flagged \Deleted \Seen \Draft`)
	for _, k := range c.keywords.list {
		w.SP()
		w.Atom(k)
	}
	w.Raw(` \*)] flags permitted`)
	w.CRLF()
}

// keywordSet is the keywords announced to the client, in the order they
// were first seen; comparison ignores case (RFC 9051 §2.3.2).
type keywordSet struct {
	list []string
	seen map[string]bool
}

func (k *keywordSet) has(kw string) bool { return k.seen[lower(kw)] }

func (k *keywordSet) add(kw string) {
	if k.seen == nil {
		k.seen = map[string]bool{}
	}
	k.seen[lower(kw)] = true
	k.list = append(k.list, kw)
}

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// destination opens the mailbox a COPY, MOVE or APPEND names; a missing
// one answers NO [TRYCREATE] (RFC 9051 §6.4.7).
func (c *conn) destination(m wire.Mailbox) (*store.Mailbox, error) {
	name, err := c.mailboxName(m)
	if err != nil {
		return nil, err
	}
	mb, err := c.acct.Mailbox(name)
	if errors.Is(err, folder.ErrNotFound) {
		return nil, no("TRYCREATE", "no such mailbox")
	}
	if err != nil {
		return nil, mapErr(c.log, "mailbox", err)
	}
	return mb, nil
}

// copyMessages copies and returns the COPYUID response code (RFC 4315
// §3), or "" when nothing was copied (every message was expunged
// meanwhile: still OK, RFC 9051 §6.4.7 leaves it to the server).
func (c *conn) copyMessages(ctx context.Context, cmd *wire.Command, move bool) (code string, src []uint32, err error) {
	args := cmd.Args.(*wire.CopyArgs)
	dst, err := c.destination(args.Mailbox)
	if err != nil {
		return "", nil, err
	}
	uids, err := c.resolve(args.Seq, cmd.UID)
	if err != nil {
		return "", nil, err
	}
	if len(uids) == 0 {
		return "", nil, nil
	}
	var dest []uint32
	if move {
		src, dest, err = c.view.Mailbox().MoveTo(ctx, dst, uids, c.view.Sub())
	} else {
		src, dest, err = c.view.Mailbox().CopyTo(ctx, dst, uids)
	}
	if err != nil {
		return "", nil, mapErr(c.log, "copy", err)
	}
	if len(src) == 0 {
		return "", nil, nil
	}
	info, err := dst.Info()
	if err != nil {
		return "", nil, mapErr(c.log, "copy", err)
	}
	b := []byte("COPYUID ")
	b = strconv.AppendUint(b, uint64(info.UIDValidity), 10)
	b = append(b, ' ')
	b = appendSeqRanges(b, src)
	b = append(b, ' ')
	b = appendSeqRanges(b, dest)
	return string(b), src, nil
}

func cmdCopy(ctx context.Context, c *conn, cmd *wire.Command) error {
	code, _, err := c.copyMessages(ctx, cmd, false)
	if err != nil {
		return err
	}
	if code == "" {
		return nil
	}
	return okCode(code, "COPY completed")
}

// cmdMove copies, then expunges the originals; RFC 6851 §4.3 sends the
// COPYUID in an untagged OK before the EXPUNGEs.
func cmdMove(ctx context.Context, c *conn, cmd *wire.Command) error {
	if c.view.ReadOnly() {
		return errReadOnly
	}
	code, _, err := c.copyMessages(ctx, cmd, true)
	if err != nil || code == "" {
		return err
	}
	c.w.Status("", "OK", code, "moved")
	// MOVE is the one command with sequence numbers that must report
	// its own expunges (RFC 6851 §3.3); other owed updates wait.
	return c.writeExpunges()
}

func (c *conn) writeExpunges() error {
	ups, err := c.view.ExpungeUpdates()
	if err != nil {
		return mapErr(c.log, "expunge", err)
	}
	if c.qresync {
		c.writeVanished(ups)
		return nil
	}
	for _, u := range ups {
		c.w.Untagged()
		c.w.Number(uint64(u.Seq))
		c.w.Raw(" EXPUNGE\r\n")
	}
	return nil
}

func cmdExpunge(ctx context.Context, c *conn, cmd *wire.Command) error {
	if c.view.ReadOnly() {
		return errReadOnly
	}
	cands := c.view.UIDs()
	if cmd.UID {
		var err error
		if cands, err = c.resolve(cmd.Args.(*wire.ExpungeArgs).UIDs, true); err != nil {
			return err
		}
	}
	targets, err := deletedIn(c.view, cands)
	if err != nil {
		return mapErr(c.log, "expunge", err)
	}
	if len(targets) > 0 {
		if _, err := c.view.Mailbox().Expunge(ctx, targets, c.view.Sub()); err != nil {
			return mapErr(c.log, "expunge", err)
		}
	}
	return c.writeExpunges()
}

func cmdAppend(ctx context.Context, c *conn, cmd *wire.Command) error {
	args := cmd.Args.(*wire.AppendArgs)
	mb, err := c.destination(args.Mailbox)
	if err != nil {
		return err
	}
	// Every message is checked before any is stored: MULTIAPPEND (RFC
	// 3502 §6.3.11) stores all or none.
	msgs := make([][]byte, len(args.Messages))
	opts := make([]store.AppendOptions, len(args.Messages))
	var origin *store.Sub
	if c.view != nil && c.view.Mailbox() == mb {
		origin = c.view.Sub()
	}
	for i := range args.Messages {
		am := &args.Messages[i]
		if am.UTF8 && !c.enabled["UTF8=ACCEPT"] {
			return bad("APPEND UTF8 needs ENABLE UTF8=ACCEPT")
		}
		if len(am.Data) == 0 {
			return no("", "an empty message cannot be stored")
		}
		if int64(len(am.Data)) > c.srv.cfg.MaxMessageSize {
			return no("TOOBIG", "message exceeds the APPENDLIMIT")
		}
		flags, err := parseFlags(am.Flags)
		if err != nil {
			return err
		}
		// A literal8 is stored as sent: its bare LFs may be a binary
		// part's data, which BINARY must give back (RFC 3516 §4.4).
		msgs[i] = am.Data
		if !am.Binary {
			msgs[i] = message.Canonical(am.Data)
		}
		opts[i] = store.AppendOptions{Flags: flags, Date: am.Date, Origin: origin}
	}
	var added []store.Appended
	if len(msgs) == 1 {
		res, err := mb.Append(ctx, msgs[0], opts[0])
		if err != nil {
			return mapErr(c.log, "append", err)
		}
		added = []store.Appended{res}
	} else if added, err = mb.AppendMany(ctx, msgs, opts); err != nil {
		return mapErr(c.log, "append", err)
	}
	for _, m := range msgs {
		c.srv.cfg.Metrics.Stored("imap", len(m))
	}
	// RFC 4315 §3: APPENDUID with the set of UIDs for a MULTIAPPEND.
	uids := make([]uint32, len(added))
	for i, a := range added {
		uids[i] = a.UID
	}
	b := []byte("APPENDUID ")
	b = strconv.AppendUint(b, uint64(added[0].UIDValidity), 10)
	b = append(b, ' ')
	b = appendSeqRanges(b, uids)
	return okCode(string(b), "APPEND completed")
}
