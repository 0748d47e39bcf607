package imap

import (
	"context"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/store"
)

// Mailbox commands (RFC 9051 §6.3, §6.4.1, §6.4.2) and the updates a
// selected mailbox owes its client (§7.5.1).
func registerMailbox(t *commands) {
	t.capability(afterAuth, "NAMESPACE", "UNSELECT", "CHILDREN", "SPECIAL-USE", "CREATE-SPECIAL-USE", "STATUS=SIZE")
	t.add("SELECT", afterAuth, selects, cmdSelect)
	t.add("EXAMINE", afterAuth, selects, cmdSelect)
	t.add("CREATE", afterAuth, 0, cmdCreate)
	t.add("DELETE", afterAuth, 0, cmdDelete)
	t.add("RENAME", afterAuth, 0, cmdRename)
	t.add("SUBSCRIBE", afterAuth, 0, cmdSubscribe)
	t.add("UNSUBSCRIBE", afterAuth, 0, cmdSubscribe)
	t.add("STATUS", afterAuth, 0, cmdStatus)
	t.add("NAMESPACE", afterAuth, 0, cmdNamespace)
	t.add("CHECK", stateSelected, 0, cmdCheck)
	t.add("CLOSE", stateSelected, 0, cmdClose)
	t.add("UNSELECT", stateSelected, 0, cmdUnselect)
}

// mailboxName decodes a mailbox name from the wire: modified UTF-7 (RFC
// 3501 §5.1.3), or UTF-8 once UTF8=ACCEPT is enabled (RFC 6855 §3).
func (c *conn) mailboxName(m wire.Mailbox) (string, error) {
	if c.w.UTF8() {
		if !utf8.ValidString(m.Name) {
			return "", bad("mailbox name is not valid UTF-8")
		}
		return folder.CanonicalName(m.Name), nil
	}
	if m.Eight {
		return "", bad("8-bit mailbox names need ENABLE UTF8=ACCEPT; use modified UTF-7")
	}
	name, err := folder.DecodeMUTF7(m.Name)
	if err != nil {
		// No mailbox can have this name: NO, as for any other name that
		// does not exist or cannot be created (imaptest's atoms).
		return "", no(codeCannot, "mailbox name is not valid modified UTF-7")
	}
	return folder.CanonicalName(name), nil
}

// wireName is a stored name as the client must see it.
func (c *conn) wireName(name string) string {
	if c.w.UTF8() {
		return name
	}
	return folder.EncodeMUTF7(name)
}

func (c *conn) mailbox(name string) (*store.Mailbox, error) {
	mb, err := c.acct.Mailbox(name)
	if err != nil {
		return nil, mapErr(c.log, "mailbox", err)
	}
	return mb, nil
}

func cmdSelect(ctx context.Context, c *conn, cmd *wire.Command) error {
	args := cmd.Args.(*wire.SelectArgs)
	// RFC 9051 §6.3.2: a SELECT, even a failing one, first deselects;
	// QRESYNC and IMAP4rev2 clients are told (RFC 7162 §3.2.11).
	if c.view != nil && (c.qresync || c.rev2) {
		c.w.Status("", "OK", "CLOSED", "previous mailbox closed")
	}
	c.closeView()
	c.state = stateAuth
	var q *wire.QResync
	for _, p := range args.Params {
		switch p.Name {
		case "CONDSTORE":
			// RFC 7162 §3.1.8: a CONDSTORE enabling command.
			c.enableCondstore()
		case "QRESYNC":
			if !c.qresync {
				return bad("QRESYNC needs ENABLE QRESYNC first")
			}
			var err error
			if q, err = wire.ParseQResync(p); err != nil {
				return bad("QRESYNC: " + err.Error())
			}
		default:
			return bad("unknown SELECT parameter " + p.Name)
		}
	}
	name, err := c.mailboxName(args.Mailbox)
	if err != nil {
		return err
	}
	mb, err := c.mailbox(name)
	if err != nil {
		return err
	}
	v, err := mb.OpenView(ctx, args.ReadOnly)
	if err != nil {
		return mapErr(c.log, "select", err)
	}
	info, err := mb.Info()
	if err != nil {
		v.Close()
		return mapErr(c.log, "select", err)
	}
	unseen, kws, err := scanMailbox(v)
	if err != nil {
		v.Close()
		return mapErr(c.log, "select", err)
	}
	// Nothing about the mailbox reaches the client before this point: the
	// view is complete, so the counts below and later updates agree.
	c.view, c.keywords = v, kws
	c.who.set(func(i *SessionInfo) { i.Mailbox = info.Name })
	c.writeFlagsLine()
	w := c.w
	w.Untagged()
	w.Number(uint64(v.Len()))
	w.Raw(" EXISTS\r\n")
	// \Recent and RECENT are IMAP4rev1's, and EXAMINE reports them as
	// SELECT does (RFC 3501 §6.3.2).
	if !c.rev2 {
		w.Untagged()
		w.Number(uint64(v.NumRecent()))
		w.Raw(" RECENT\r\n")
	}
	if unseen > 0 {
		w.Status("", "OK", "UNSEEN "+strconv.FormatUint(uint64(unseen), 10), "first unseen")
	}
	w.Status("", "OK", "UIDVALIDITY "+strconv.FormatUint(uint64(info.UIDValidity), 10), "UIDs valid")
	w.Status("", "OK", "UIDNEXT "+strconv.FormatUint(uint64(info.UIDNext), 10), "predicted next UID")
	if c.condstore {
		c.writeHighestModSeqCode(max(info.HighestModSeq, 1))
	}
	c.writePermanentFlags()
	c.state, c.lastSync, c.saved = stateSelected, time.Now(), nil
	if q != nil {
		if err := c.resync(q, info); err != nil {
			return mapErr(c.log, "select qresync", err)
		}
	}
	if args.ReadOnly {
		return okCode("READ-ONLY", "EXAMINE completed")
	}
	return okCode("READ-WRITE", "SELECT completed")
}

// scanMailbox reads, in one pass over the index records, the UNSEEN
// response code IMAP4rev1 clients expect (the sequence number of the
// first message without \Seen) and the keywords in use, which FLAGS
// must list (RFC 3501 §7.2.6).
func scanMailbox(v *store.View) (unseen uint32, kws keywordSet, err error) {
	err = v.Mailbox().ForEach(func(m *store.Message) error {
		if unseen == 0 && !m.Flags.Sys.Has(folder.Seen) {
			unseen = v.Seq(m.UID)
		}
		for _, k := range m.Flags.Keywords {
			if !kws.has(k) {
				kws.add(k)
			}
		}
		return nil
	})
	return unseen, kws, err
}

// specialUses are the RFC 6154 §2 attributes CREATE accepts.
var specialUses = map[string]bool{
	`\All`: true, `\Archive`: true, `\Drafts`: true, `\Flagged`: true, `\Junk`: true, `\Sent`: true, `\Trash`: true,
}

func cmdCreate(_ context.Context, c *conn, cmd *wire.Command) error {
	args := cmd.Args.(*wire.CreateArgs)
	for _, p := range args.Params {
		if p.Name != "USE" {
			return bad("unknown CREATE parameter " + p.Name)
		}
	}
	use := ""
	switch {
	case len(args.Use) > 1:
		return no("USEATTR", "one special-use attribute per mailbox")
	case len(args.Use) == 1:
		if use = args.Use[0]; !specialUses[use] {
			return no("USEATTR", "unknown special-use attribute "+use)
		}
	}
	name, err := c.mailboxName(args.Mailbox)
	if err != nil {
		return err
	}
	// RFC 9051 §6.3.4: a trailing separator only says a hierarchy is meant.
	for len(name) > 1 && strings.HasSuffix(name, folder.Separator) {
		name = name[:len(name)-1]
	}
	if name == folder.Inbox {
		return no(codeExists, "INBOX always exists")
	}
	if err := c.checkCreate(name); err != nil {
		return err
	}
	return mapErr(c.log, "create", c.acct.CreateMailbox(name, use))
}

func cmdDelete(_ context.Context, c *conn, cmd *wire.Command) error {
	name, err := c.mailboxName(cmd.Args.(*wire.MailboxArgs).Mailbox)
	if err != nil {
		return err
	}
	if c.view != nil {
		if info, err := c.view.Mailbox().Info(); err == nil && info.Name == name {
			c.closeView()
			c.state = stateAuth
		}
	}
	return mapErr(c.log, "delete", c.acct.DeleteMailbox(name))
}

func cmdRename(ctx context.Context, c *conn, cmd *wire.Command) error {
	args := cmd.Args.(*wire.RenameArgs)
	from, err := c.mailboxName(args.From)
	if err != nil {
		return err
	}
	to, err := c.mailboxName(args.To)
	if err != nil {
		return err
	}
	if err := c.checkRename(from, to); err != nil {
		return err
	}
	return mapErr(c.log, "rename", c.acct.RenameMailbox(ctx, from, to))
}

func cmdSubscribe(_ context.Context, c *conn, cmd *wire.Command) error {
	name, err := c.mailboxName(cmd.Args.(*wire.MailboxArgs).Mailbox)
	if err != nil {
		return err
	}
	return mapErr(c.log, strings.ToLower(cmd.Name), c.acct.Subscribe(name, cmd.Name == "SUBSCRIBE"))
}

func cmdStatus(ctx context.Context, c *conn, cmd *wire.Command) error {
	args := cmd.Args.(*wire.StatusArgs)
	name, err := c.mailboxName(args.Mailbox)
	if err != nil {
		return err
	}
	mb, err := c.mailbox(name)
	if err != nil {
		return err
	}
	if err := mb.Sync(ctx); err != nil {
		return mapErr(c.log, "status", err)
	}
	info, err := mb.Info()
	if err != nil {
		return mapErr(c.log, "status", err)
	}
	for _, it := range args.Items {
		if !c.statusItemKnown(it) {
			return bad("unsupported STATUS item " + it)
		}
		if it == "HIGHESTMODSEQ" {
			c.enableCondstore()
		}
	}
	delStorage, err := deletedStorage(mb, args.Items)
	if err != nil {
		return mapErr(c.log, "status", err)
	}
	c.w.Untagged()
	c.w.Raw("STATUS ")
	c.w.AString(c.wireName(info.Name))
	c.w.SP()
	c.writeStatusItems(info, args.Items, delStorage)
	c.w.CRLF()
	return nil
}

// deletedStorage is STATUS DELETED-STORAGE (RFC 9208 §4.2): the octets
// an EXPUNGE would free, counted only when asked for (it reads every
// message's record).
func deletedStorage(mb *store.Mailbox, items []string) (int64, error) {
	for _, it := range items {
		if it == "DELETED-STORAGE" {
			return mb.DeletedSize()
		}
	}
	return 0, nil
}

// statusItemKnown: wire parses every item some RFC defines; these are the
// ones storaged implements.
func (c *conn) statusItemKnown(it string) bool {
	switch it {
	case "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "APPENDLIMIT", "DELETED-STORAGE", "HIGHESTMODSEQ":
		return true
	}
	return false
}

// writeStatusItems writes "(ITEM n ...)" for STATUS and LIST-STATUS.
func (c *conn) writeStatusItems(info store.MailboxInfo, items []string, delStorage int64) {
	w := c.w
	w.Open()
	for i, it := range items {
		if i > 0 {
			w.SP()
		}
		w.Atom(it)
		w.SP()
		switch it {
		case "MESSAGES":
			w.Number(uint64(info.Messages))
		case "UIDNEXT":
			w.Number(uint64(info.UIDNext))
		case "UIDVALIDITY":
			w.Number(uint64(info.UIDValidity))
		case "UNSEEN":
			w.Number(uint64(info.Unseen))
		case "DELETED":
			w.Number(uint64(info.Deleted))
		case "SIZE":
			w.Number(uint64(info.Size))
		case "DELETED-STORAGE":
			w.Number(uint64(delStorage))
		case "HIGHESTMODSEQ":
			w.Number(max(info.HighestModSeq, 1))
		case "APPENDLIMIT":
			w.Number(uint64(c.srv.cfg.MaxMessageSize))
		case "RECENT":
			// Messages nobody has seen yet: the UIDs still in the index
			// from RecentUID up. Expunged ones cannot be told apart
			// without a scan, and they are rare among unseen arrivals.
			var n uint32
			if info.UIDNext > info.RecentUID {
				n = min(info.UIDNext-info.RecentUID, info.Messages)
			}
			w.Number(uint64(n))
		}
	}
	w.Close()
}

func cmdNamespace(_ context.Context, c *conn, _ *wire.Command) error {
	// RFC 2342: one personal namespace, no prefix, "/" as separator.
	c.w.Untagged()
	c.w.Raw(`NAMESPACE (("" "/")) NIL NIL`)
	c.w.CRLF()
	return nil
}

func cmdCheck(ctx context.Context, c *conn, _ *wire.Command) error {
	if err := c.view.Mailbox().Sync(ctx); err != nil {
		return mapErr(c.log, "check", err)
	}
	return nil
}

// cmdClose expunges silently (no EXPUNGE responses, RFC 9051 §6.4.1) in
// a read-write mailbox, and nothing in an EXAMINEd one.
func cmdClose(ctx context.Context, c *conn, _ *wire.Command) error {
	v := c.view
	defer func() { c.closeView(); c.state = stateAuth }()
	if v.ReadOnly() {
		return nil
	}
	targets, err := deletedIn(v, v.UIDs())
	if err != nil {
		return mapErr(c.log, "close", err)
	}
	if len(targets) > 0 {
		if _, err := v.Mailbox().Expunge(ctx, targets, v.Sub()); err != nil {
			return mapErr(c.log, "close", err)
		}
	}
	return nil
}

func cmdUnselect(_ context.Context, c *conn, _ *wire.Command) error {
	c.closeView()
	c.state = stateAuth
	return nil
}

// deletedIn returns the UIDs among uids that have \Deleted.
func deletedIn(v *store.View, uids []uint32) ([]uint32, error) {
	msgs, err := v.Mailbox().ReadBatch(uids, 0)
	if err != nil {
		return nil, err
	}
	var out []uint32
	for _, m := range msgs {
		if m.Found && m.Flags.Sys.Has(folder.Deleted) {
			out = append(out, m.UID)
		}
	}
	return out, nil
}
