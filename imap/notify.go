package imap

// NOTIFY (RFC 5465): the client names mailboxes and the events it wants
// to hear of, and is told of them as they happen, outside any command as
// well as during one: for the selected mailbox as the usual EXISTS,
// EXPUNGE (or VANISHED) and FETCH, with the FETCH items MessageNew asked
// for; for other mailboxes as STATUS; for mailboxes created, deleted,
// renamed and (un)subscribed as LIST; for METADATA changes as METADATA.
//
// Invariants:
//   - Notifications come from the account's change hub only
//     (store.Hub.SubscribeAccount for other mailboxes and the account, the
//     view for the selected mailbox), so they follow index commits; one
//     batch of changes to a mailbox becomes one STATUS.
//   - Outside a command the connection waits for the client's next octet
//     and for changes at once (waitInput); nothing is read while a
//     notification is written, and nothing is written while a command is
//     read.
//   - Without a SELECTED filter the selected mailbox behaves as without
//     NOTIFY: its changes are reported after commands and during IDLE
//     only. With SELECTED they are pushed as they happen, EXPUNGEs
//     included; with SELECTED-DELAYED everything but EXPUNGEs is, and
//     EXPUNGEs wait for a command that may report them.
//   - A message event of the selected mailbox is never reported as
//     STATUS (the selected filters own it), whatever the other filters
//     say.
//   - A NOTIFY that fails leaves the previous one in effect; NOTIFY NONE,
//     UNAUTHENTICATE and LOGOUT end it. When the hub drops changes (the
//     queue overflowed) the client is told NOTIFICATIONOVERFLOW and
//     NOTIFY ends.
//   - Where RFC 5465 leaves room, storaged does what Dovecot does:
//     INBOXES is PERSONAL (every mailbox of the user), MessageNew and
//     MessageExpunge must come together and FlagChange needs them only
//     for the selected filters (imaptest's notify group asks for
//     (MessageExpunge) alone on other mailboxes), the initial STATUS
//     carries MESSAGES UIDNEXT UIDVALIDITY UNSEEN and HIGHESTMODSEQ with
//     FlagChange, later ones what changed.
//   - Changes other programs make to the files of a mailbox that is not
//     selected are found by a sync of the watched mailboxes every
//     notifySyncEvery while the client waits or IDLEs.

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/store"
)

func registerNotify(t *commands) {
	t.add("NOTIFY", afterAuth, 0, cmdNotify)
	t.capability(afterAuth, "NOTIFY")
}

// notifySyncEvery is how often the mailboxes NOTIFY watches (other than
// the selected one, which IDLE's idleSync covers) are synced with their
// files while the connection waits.
const notifySyncEvery = 30 * time.Second

// notifyEvents is a set of RFC 5465 §5 events.
type notifyEvents uint16

const (
	evMessageNew notifyEvents = 1 << iota
	evMessageExpunge
	evFlagChange
	evAnnotationChange
	evMailboxName
	evSubscriptionChange
	evMailboxMetadataChange
	evServerMetadataChange

	messageEvents   = evMessageNew | evMessageExpunge | evFlagChange | evAnnotationChange
	supportedEvents = evMessageNew | evMessageExpunge | evFlagChange | evMailboxName |
		evSubscriptionChange | evMailboxMetadataChange | evServerMetadataChange
)

// notifyEventNames in RFC 5465's order and spelling, for BADEVENT.
var notifyEventNames = []struct {
	name string
	ev   notifyEvents
}{
	{"MessageNew", evMessageNew}, {"MessageExpunge", evMessageExpunge}, {"FlagChange", evFlagChange},
	{"AnnotationChange", evAnnotationChange}, {"MailboxName", evMailboxName},
	{"SubscriptionChange", evSubscriptionChange}, {"MailboxMetadataChange", evMailboxMetadataChange},
	{"ServerMetadataChange", evServerMetadataChange},
}

func notifyEvent(name string) (notifyEvents, bool) {
	for _, e := range notifyEventNames {
		if strings.EqualFold(e.name, name) {
			return e.ev, true
		}
	}
	return 0, false
}

// notifyGroup is one event group for mailboxes other than the selected
// one.
type notifyGroup struct {
	filter string   // INBOXES, PERSONAL, SUBSCRIBED, SUBTREE, MAILBOXES
	names  []string // SUBTREE, MAILBOXES: decoded, canonical
	events notifyEvents
}

// matches reports whether the group covers mailbox name.
func (g *notifyGroup) matches(name string, subscribed map[string]bool) bool {
	switch g.filter {
	case "INBOXES", "PERSONAL":
		// RFC 5465 lets a server that cannot tell where mail is
		// delivered treat INBOXES as PERSONAL; Sieve may file mail
		// anywhere.
		return true
	case "SUBSCRIBED":
		return subscribed[name]
	case "SUBTREE":
		for _, n := range g.names {
			if name == n || strings.HasPrefix(name, n+folder.Separator) {
				return true
			}
		}
	case "MAILBOXES":
		for _, n := range g.names {
			if name == n {
				return true
			}
		}
	}
	return false
}

// notifyState is a connection's NOTIFY.
type notifyState struct {
	acct *store.Account
	// sub queues the account's changes when a group wants any; nil
	// otherwise.
	sub    *store.Sub
	groups []notifyGroup
	// selected are the events of the SELECTED or SELECTED-DELAYED
	// filter (0: none, or no such filter); delayed: SELECTED-DELAYED.
	selected notifyEvents
	delayed  bool
	// fetch is MessageNew's FETCH for the selected mailbox (nil: none);
	// fetchView and fetchAfter: the view it was last run for and the
	// highest UID the client has been told of there.
	fetch      *fetchPlan
	fetchView  *store.View
	fetchAfter uint32
	// needSubs: a SUBSCRIBED group, so matching reads the subscriptions.
	needSubs bool
	lastSync time.Time
}

// eventsFor is the union of the events the groups covering name want.
func (st *notifyState) eventsFor(name string, subscribed map[string]bool) notifyEvents {
	var ev notifyEvents
	for i := range st.groups {
		if st.groups[i].matches(name, subscribed) {
			ev |= st.groups[i].events
		}
	}
	return ev
}

// pushSelected: changes of the selected mailbox go out as they happen.
func (st *notifyState) pushSelected() bool { return st.selected&messageEvents != 0 }

func cmdNotify(ctx context.Context, c *conn, cmd *wire.Command) error {
	args := cmd.Args.(*wire.NotifyArgs)
	if args.None {
		c.stopNotify()
		return nil
	}
	st, err := c.newNotify(args)
	if err != nil {
		return err
	}
	c.stopNotify()
	var want notifyEvents
	for _, g := range st.groups {
		want |= g.events
	}
	if want != 0 {
		// Before the initial STATUS, so that no change falls between.
		st.sub = c.acct.Hub().SubscribeAccount()
	}
	c.notify = st
	if args.Status {
		if err := c.notifyStatus(ctx); err != nil {
			return mapErr(c.log, "notify status", err)
		}
	}
	return nil
}

// newNotify checks a NOTIFY SET and turns it into a state: BAD for what
// RFC 5465 forbids, NO [BADEVENT] listing the events storaged offers for
// the others (AnnotationChange needs ANNOTATE, which storaged lacks).
func (c *conn) newNotify(args *wire.NotifyArgs) (*notifyState, error) {
	st := &notifyState{acct: c.acct}
	var unsupported bool
	selectedSeen := false
	for _, g := range args.Groups {
		sel := g.Filter == "SELECTED" || g.Filter == "SELECTED-DELAYED"
		if sel {
			if selectedSeen {
				return nil, bad("NOTIFY names the selected mailbox twice")
			}
			selectedSeen, st.delayed = true, g.Filter == "SELECTED-DELAYED"
		}
		var evs notifyEvents
		var fetch []wire.FetchItem
		for _, e := range g.Events {
			ev, ok := notifyEvent(e.Name)
			if !ok {
				unsupported = true // an event-ext this server does not know
				continue
			}
			if ev&supportedEvents == 0 {
				unsupported = true
			}
			if sel && ev&messageEvents == 0 {
				return nil, bad("only message events go with " + g.Filter)
			}
			if len(e.Fetch) > 0 {
				if !sel {
					return nil, bad("MessageNew fetch attributes go with SELECTED and SELECTED-DELAYED only")
				}
				fetch = e.Fetch
			}
			evs |= ev
		}
		if sel {
			// RFC 5465 §5: MessageNew and MessageExpunge together;
			// FlagChange and AnnotationChange only with both.
			both := evs & (evMessageNew | evMessageExpunge)
			if both != 0 && both != evMessageNew|evMessageExpunge {
				return nil, bad("MessageNew and MessageExpunge go together")
			}
			if evs&(evFlagChange|evAnnotationChange) != 0 && both == 0 {
				return nil, bad("FlagChange needs MessageNew and MessageExpunge")
			}
			st.selected = evs & supportedEvents
			if fetch != nil {
				plan, err := newFetchPlan(&wire.FetchArgs{Items: fetch}, true)
				if err != nil {
					return nil, err
				}
				st.fetch = plan
			}
			continue
		}
		ng := notifyGroup{filter: g.Filter, events: evs & supportedEvents}
		for _, m := range g.Mailboxes {
			name, err := c.mailboxName(m)
			if err != nil {
				return nil, err
			}
			ng.names = append(ng.names, name)
		}
		st.needSubs = st.needSubs || g.Filter == "SUBSCRIBED"
		st.groups = append(st.groups, ng)
	}
	if unsupported {
		var names []string
		for _, e := range notifyEventNames {
			if e.ev&supportedEvents != 0 {
				names = append(names, e.name)
			}
		}
		return nil, no("BADEVENT ("+strings.Join(names, " ")+")", "unsupported NOTIFY event")
	}
	return st, nil
}

// stopNotify ends the connection's NOTIFY, if any.
func (c *conn) stopNotify() {
	if c.notify == nil {
		return
	}
	if c.notify.sub != nil {
		c.notify.sub.Close()
	}
	c.notify = nil
}

// selectedID is the selected mailbox's id, 0 when none.
func (c *conn) selectedID() uint64 {
	if c.view == nil {
		return 0
	}
	return c.view.Mailbox().ID()
}

func (c *conn) subscribedSet() (map[string]bool, error) {
	if !c.notify.needSubs {
		return nil, nil
	}
	subs, err := c.acct.Subscriptions()
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(subs))
	for _, s := range subs {
		out[folder.CanonicalName(s)] = true
	}
	return out, nil
}

// notifyStatus is NOTIFY SET STATUS: a STATUS for every mailbox but the
// selected one that a group watches for message events.
func (c *conn) notifyStatus(ctx context.Context) error {
	mbs, err := c.acct.Mailboxes()
	if err != nil {
		return err
	}
	subs, err := c.subscribedSet()
	if err != nil {
		return err
	}
	sel := c.selectedID()
	for _, info := range mbs {
		ev := c.notify.eventsFor(info.Name, subs)
		if ev&messageEvents == 0 || info.ID == sel {
			continue
		}
		mb, err := c.acct.Mailbox(info.Name)
		if err != nil {
			if errors.Is(err, folder.ErrNotFound) {
				continue
			}
			return err
		}
		if err := mb.Sync(ctx); err != nil {
			return err
		}
		items := []string{"MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"}
		if ev&evFlagChange != 0 || c.condstore {
			items = append(items, "HIGHESTMODSEQ")
		}
		if err := c.writeNotifyStatus(mb, items); err != nil {
			return err
		}
	}
	return nil
}

func (c *conn) writeNotifyStatus(mb *store.Mailbox, items []string) error {
	info, err := mb.Info()
	if err != nil {
		return err
	}
	c.w.Untagged()
	c.w.Raw("STATUS ")
	c.w.AString(c.wireName(info.Name))
	c.w.SP()
	c.writeStatusItems(info, items, 0)
	c.w.CRLF()
	return nil
}

// statusNeed is what one mailbox's STATUS notification reports.
type statusNeed struct {
	id           uint64
	counts, seen bool
}

// notifyAccount writes what the account's changes since the last call
// owe the client: LIST, METADATA and STATUS notifications.
func (c *conn) notifyAccount(ctx context.Context) {
	st := c.notify
	if st == nil || st.sub == nil {
		return
	}
	events, overflow := st.sub.Take()
	if overflow {
		// The hub dropped changes: NOTIFY is off now.
		c.stopNotify()
		c.w.Status("", "OK", "NOTIFICATIONOVERFLOW", "too many changes at once; NOTIFY is off")
		return
	}
	if len(events) == 0 {
		return
	}
	if err := c.writeNotifications(events); err != nil {
		c.log.Warn("notify", "err", err)
		c.w.Status("", "NO", "", "NOTIFY error: some notifications were lost")
	}
}

func (c *conn) writeNotifications(events []store.Event) error {
	st := c.notify
	mbs, err := c.acct.Mailboxes()
	if err != nil {
		return err
	}
	names := make(map[uint64]string, len(mbs))
	for _, mb := range mbs {
		names[mb.ID] = mb.Name
	}
	subs, err := c.subscribedSet()
	if err != nil {
		return err
	}
	var entries map[string]*listEntry // for LIST attributes, read once when needed
	listAttrs := func(name string, extra ...string) ([]string, error) {
		if entries == nil {
			all, err := c.listEntries()
			if err != nil {
				return nil, err
			}
			entries = make(map[string]*listEntry, len(all))
			for _, e := range all {
				entries[e.name] = e
			}
		}
		attrs := append([]string(nil), extra...)
		if e := entries[name]; e != nil && e.exists {
			if e.children {
				attrs = append(attrs, `\HasChildren`)
			} else {
				attrs = append(attrs, `\HasNoChildren`)
			}
			if e.info.SpecialUse != "" {
				attrs = append(attrs, e.info.SpecialUse)
			}
		}
		return attrs, nil
	}
	sel := c.selectedID()
	var status []*statusNeed
	byID := map[uint64]*statusNeed{}
	for _, e := range events {
		switch e.Kind {
		case store.Added, store.Expunged, store.FlagsSet:
			name, ok := names[e.Mailbox]
			if !ok || e.Mailbox == sel {
				continue // deleted since, or the selected filters' to tell
			}
			want := map[store.EventKind]notifyEvents{store.Added: evMessageNew, store.Expunged: evMessageExpunge, store.FlagsSet: evFlagChange}[e.Kind]
			if st.eventsFor(name, subs)&want == 0 {
				continue
			}
			n := byID[e.Mailbox]
			if n == nil {
				n = &statusNeed{id: e.Mailbox}
				byID[e.Mailbox] = n
				status = append(status, n)
			}
			if e.Kind == store.FlagsSet {
				n.seen = true
			} else {
				n.counts = true
			}
		case store.Created, store.Renamed, store.Removed:
			if st.eventsFor(e.Name, subs)&evMailboxName == 0 && (e.OldName == "" || st.eventsFor(e.OldName, subs)&evMailboxName == 0) {
				continue
			}
			attrs := []string{`\NonExistent`}
			if e.Kind != store.Removed {
				if attrs, err = listAttrs(e.Name); err != nil {
					return err
				}
			}
			c.writeNotifyList(e.Name, e.OldName, attrs)
		case store.Subscribed, store.Unsubscribed:
			if st.eventsFor(e.Name, subs)&evSubscriptionChange == 0 {
				continue
			}
			var extra []string
			if e.Kind == store.Subscribed {
				extra = []string{`\Subscribed`}
			}
			attrs, err := listAttrs(e.Name, extra...)
			if err != nil {
				return err
			}
			if le := entries[e.Name]; le == nil || !le.exists {
				attrs = append(attrs, `\NonExistent`)
			}
			c.writeNotifyList(e.Name, "", attrs)
		case store.MetadataChanged:
			if e.Name == "" {
				var all notifyEvents
				for _, g := range st.groups {
					all |= g.events
				}
				if all&evServerMetadataChange == 0 {
					continue
				}
			} else if st.eventsFor(e.Name, subs)&evMailboxMetadataChange == 0 {
				continue
			}
			c.writeNotifyMetadata(e.Name, e.Entries)
		}
	}
	for _, n := range status {
		name, ok := names[n.id]
		if !ok || n.id == c.selectedID() {
			continue
		}
		mb, err := c.acct.Mailbox(name)
		if errors.Is(err, folder.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		var items []string
		if n.counts {
			items = append(items, "MESSAGES", "UIDNEXT")
		}
		if n.counts || n.seen {
			items = append(items, "UNSEEN")
		}
		if c.condstore {
			items = append(items, "HIGHESTMODSEQ")
		}
		if err := c.writeNotifyStatus(mb, items); err != nil {
			return err
		}
	}
	return nil
}

// writeNotifyList is the LIST of MailboxName and SubscriptionChange: the
// name, and for a rename the old one as OLDNAME.
func (c *conn) writeNotifyList(name, oldName string, attrs []string) {
	w := c.w
	w.Untagged()
	w.Raw("LIST (")
	w.Raw(strings.Join(attrs, " "))
	w.Raw(`) "/" `)
	w.AString(c.wireName(name))
	if oldName != "" {
		w.Raw(` ("OLDNAME" (`)
		w.AString(c.wireName(oldName))
		w.Raw("))")
	}
	w.CRLF()
}

// writeNotifyMetadata is the unsolicited METADATA of RFC 5464 §4.4.2:
// the mailbox ("" for the server's) and the entries that changed.
func (c *conn) writeNotifyMetadata(mailbox string, entries []string) {
	w := c.w
	w.Untagged()
	w.Raw("METADATA ")
	if mailbox == "" {
		w.Raw(`""`)
	} else {
		w.AString(c.wireName(mailbox))
	}
	sorted := append([]string(nil), entries...)
	sort.Strings(sorted)
	for _, e := range sorted {
		w.SP()
		w.AString(e)
	}
	w.CRLF()
}

// notifyNewMessages is MessageNew's FETCH (RFC 5465 §5.2): after EXISTS
// told the client of new messages in the selected mailbox, the items it
// asked for, with their UIDs. sendUpdates calls it.
func (c *conn) notifyNewMessages(ctx context.Context) {
	st := c.notify
	if st == nil || st.fetch == nil || c.view == nil {
		return
	}
	uids := c.view.UIDs()
	var fresh []uint32
	for i := len(uids) - 1; i >= 0 && uids[i] > st.fetchAfter; i-- {
		fresh = append(fresh, uids[i])
	}
	if len(fresh) == 0 {
		return
	}
	st.fetchAfter = uids[len(uids)-1]
	sort.Slice(fresh, func(i, j int) bool { return fresh[i] < fresh[j] })
	f := newFetcher(c, st.fetch)
	if st.fetch.markSeen && !c.view.ReadOnly() {
		changed, err := c.view.Mailbox().StoreFlags(ctx, fresh, store.FlagsAdd, folder.Flags{Sys: folder.Seen}, c.view.Sub())
		if err != nil {
			c.log.Warn("notify fetch: set \\Seen", "err", err)
		}
		for _, m := range changed {
			f.seenSet = append(f.seenSet, m.UID)
		}
	}
	if err := f.run(ctx, fresh); err != nil {
		var r *response
		if !errors.As(err, &r) {
			c.log.Warn("notify fetch", "err", err)
		}
	}
}

// notifyFetchMark notes, before a view's updates are applied, the UIDs
// the client already knows of there, so that only later arrivals get
// MessageNew's FETCH.
func (c *conn) notifyFetchMark() {
	st := c.notify
	if st == nil || st.fetch == nil || c.view == nil || st.fetchView == c.view {
		return
	}
	st.fetchView, st.fetchAfter = c.view, 0
	if uids := c.view.UIDs(); len(uids) > 0 {
		st.fetchAfter = uids[len(uids)-1]
	}
}

// notifySync syncs the watched mailboxes other than the selected one with
// their files, at most every notifySyncEvery; what it finds reaches the
// client through the hub.
func (c *conn) notifySync(ctx context.Context) {
	st := c.notify
	if st == nil || st.sub == nil || time.Since(st.lastSync) < notifySyncEvery {
		return
	}
	st.lastSync = time.Now()
	mbs, err := c.acct.Mailboxes()
	if err != nil {
		c.log.Warn("notify sync", "err", err)
		return
	}
	subs, err := c.subscribedSet()
	if err != nil {
		c.log.Warn("notify sync", "err", err)
		return
	}
	sel := c.selectedID()
	for _, info := range mbs {
		if info.ID == sel || st.eventsFor(info.Name, subs)&messageEvents == 0 {
			continue
		}
		mb, err := c.acct.Mailbox(info.Name)
		if err == nil {
			err = mb.Sync(ctx)
		}
		if err != nil && !errors.Is(err, folder.ErrNotFound) {
			c.log.Warn("notify sync", "mailbox", info.Name, "err", err)
		}
	}
}

// notifyWake writes what NOTIFY owes the client now, outside a command:
// the selected mailbox's changes if its filter pushes them (allowExpunge
// unless SELECTED-DELAYED), then the account's.
func (c *conn) notifyWake(ctx context.Context) {
	st := c.notify
	if st == nil {
		return
	}
	if c.state == stateSelected && st.pushSelected() {
		messages, flags := c.view.Owes()
		if messages && st.selected&(evMessageNew|evMessageExpunge) != 0 || flags && st.selected&evFlagChange != 0 {
			c.sendUpdates(ctx, !st.delayed)
			c.guardHighestModSeq() // SELECTED-DELAYED withholds expunges
		}
	}
	if c.state != stateLogout {
		c.notifyAccount(ctx)
	}
}

// waitInput waits, outside a command, for the client's next octet while
// writing the notifications that come meanwhile. It reports whether the
// connection goes on; when it does not, what the client had to be told
// (BYE) was said.
func (c *conn) waitInput(ctx context.Context) bool {
	ready := make(chan error, 1)
	go func() {
		_, err := c.br.Peek(1)
		ready <- err
	}()
	stop := func() {
		c.nc.SetReadDeadline(time.Now())
		<-ready
	}
	tick := time.NewTicker(idleSync)
	defer tick.Stop()
	for {
		var changed, account <-chan struct{}
		if st := c.notify; st != nil {
			if c.view != nil && st.pushSelected() {
				changed = c.view.Changed()
			}
			if st.sub != nil {
				account = st.sub.C
			}
		}
		select {
		case err := <-ready:
			if err != nil {
				c.acquire()
				c.readFailed(err)
				return false
			}
			return true
		case <-changed:
		case <-account:
		case <-tick.C:
			if c.view != nil && c.notify != nil && c.notify.pushSelected() {
				if err := c.view.Mailbox().Sync(ctx); err != nil {
					c.log.Warn("sync", "err", err)
				}
			}
			c.notifySync(ctx)
			continue // what the syncs found comes through the hub
		}
		c.acquire()
		c.notifyWake(ctx)
		if c.state == stateLogout {
			// The selected mailbox was deleted: sendUpdates said BYE.
			c.w.Flush()
			stop()
			return false
		}
		if err := c.w.Flush(); err != nil {
			stop()
			return false
		}
		c.release()
		c.compressIdle()
	}
}
