package wire

// NOTIFY (RFC 5465 §8):
//
//	notify           = "NOTIFY" SP (notify-set / notify-none)
//	notify-none      = "NONE"
//	notify-set       = "SET" [status-indicator] SP event-groups
//	event-group      = "(" filter-mailboxes SP events ")"
//	filter-mailboxes = "selected" / "selected-delayed" / "inboxes" /
//	                   "personal" / "subscribed" /
//	                   ("subtree" SP one-or-more-mailbox) /
//	                   ("mailboxes" SP one-or-more-mailbox)
//	events           = ("(" event *(SP event) ")") / "NONE"
//	event            = ("MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"]) /
//	                   "MessageExpunge" / "FlagChange" / "AnnotationChange" /
//	                   "MailboxName" / "SubscriptionChange" /
//	                   "MailboxMetadataChange" / "ServerMetadataChange" / atom
//
// Which events go with which filters, and which ones the server knows,
// is the handler's to judge; this is the grammar only.

// NotifyArgs: NOTIFY NONE, or NOTIFY SET [STATUS] event-groups.
type NotifyArgs struct {
	None   bool
	Status bool
	Groups []NotifyGroup
}

// NotifyGroup is one event group.
type NotifyGroup struct {
	Filter    string    // upper case: SELECTED, SELECTED-DELAYED, INBOXES, PERSONAL, SUBSCRIBED, SUBTREE, MAILBOXES
	Mailboxes []Mailbox // SUBTREE and MAILBOXES
	None      bool      // events NONE
	Events    []NotifyEvent
}

// NotifyEvent is one event: Name upper case; Fetch the fetch-atts of a
// MessageNew that has them.
type NotifyEvent struct {
	Name  string
	Fetch []FetchItem
}

var notifyFilters = map[string]bool{
	"SELECTED": true, "SELECTED-DELAYED": true, "INBOXES": true, "PERSONAL": true,
	"SUBSCRIBED": true, "SUBTREE": true, "MAILBOXES": true,
}

func parseNotify(_ *Command, a *Args) (any, error) {
	k, err := a.Keyword()
	if err != nil {
		return nil, err
	}
	out := &NotifyArgs{}
	switch k {
	case "NONE":
		out.None = true
		return out, a.End()
	case "SET":
	default:
		return nil, errorf("NOTIFY takes SET or NONE")
	}
	out.Status = a.TryKeyword("STATUS")
	if !a.More() {
		return nil, errorf("NOTIFY SET needs an event group")
	}
	for a.More() {
		if !a.PeekList() {
			return nil, errorf("expected an event group")
		}
		l, _ := a.List()
		g, err := parseNotifyGroup(l)
		if err != nil {
			return nil, err
		}
		out.Groups = append(out.Groups, g)
	}
	return out, nil
}

func parseNotifyGroup(a *Args) (NotifyGroup, error) {
	var g NotifyGroup
	f, err := a.Keyword()
	if err != nil {
		return g, err
	}
	if !notifyFilters[f] {
		return g, errorf("unknown NOTIFY filter " + f)
	}
	g.Filter = f
	if f == "SUBTREE" || f == "MAILBOXES" {
		if a.PeekList() {
			l, _ := a.List()
			if !l.More() {
				return g, errorf("empty mailbox list")
			}
			for l.More() {
				m, err := l.Mailbox()
				if err != nil {
					return g, err
				}
				g.Mailboxes = append(g.Mailboxes, m)
			}
		} else {
			m, err := a.Mailbox()
			if err != nil {
				return g, err
			}
			g.Mailboxes = []Mailbox{m}
		}
	}
	if a.TryKeyword("NONE") {
		g.None = true
		return g, a.End()
	}
	if !a.PeekList() {
		return g, errorf("expected NOTIFY events or NONE")
	}
	l, _ := a.List()
	if !l.More() {
		return g, errorf("empty NOTIFY event list")
	}
	for l.More() {
		t, err := l.Next()
		if err != nil {
			return g, err
		}
		if t.Kind != KindAtom {
			return g, errorf("expected NOTIFY event, got " + t.Kind.String())
		}
		ev := NotifyEvent{Name: upperString(t.Str)}
		if ev.Name == "MESSAGENEW" && l.PeekList() {
			fl, _ := l.List()
			if !fl.More() {
				return g, errorf("empty MessageNew fetch attribute list")
			}
			for fl.More() {
				ft, _ := fl.Next()
				if ft.Kind != KindAtom {
					return g, errorf("invalid FETCH item")
				}
				it, err := ParseFetchItem(ft.Str)
				if err != nil {
					return g, err
				}
				if it.Kind == FetchPreview && fl.PeekList() && isPreviewMods(fl.Peek()) {
					fl.Next()
					it.Lazy = true
				}
				ev.Fetch = append(ev.Fetch, it)
			}
		}
		g.Events = append(g.Events, ev)
	}
	return g, a.End()
}
