package legacy

import (
	"reflect"
	"sort"
	"strings"

	imapv2 "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/store"
)

// isLSUB tells LSUB from LIST (SUBSCRIBED): imapserver gives both the
// same options, but they differ for unsubscribed parents (RFC 3501
// §6.3.9 wants them as \Noselect in LSUB; RFC 5258 omits them).
func isLSUB(w *imapserver.ListWriter) bool {
	f := reflect.ValueOf(w).Elem().FieldByName("lsub")
	return f.IsValid() && f.Kind() == reflect.Bool && f.Bool()
}

type listEntry struct {
	name       string
	exists     bool
	info       store.MailboxInfo
	subscribed bool
	children   bool
	subChild   bool // a descendant is subscribed
}

func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, opts *imapv2.ListOptions) error {
	if len(patterns) == 0 {
		// RFC 9051 §6.3.9: an empty pattern asks for the delimiter.
		return w.WriteList(&imapv2.ListData{Attrs: []imapv2.MailboxAttr{imapv2.MailboxAttrNoSelect}, Delim: '/'})
	}
	mbs, err := s.acct.Mailboxes()
	if err != nil {
		return mapErr(s.log, "list", err)
	}
	subs, err := s.acct.Subscriptions()
	if err != nil {
		return mapErr(s.log, "list", err)
	}
	entries := map[string]*listEntry{}
	get := func(name string) *listEntry {
		e, ok := entries[name]
		if !ok {
			e = &listEntry{name: name}
			entries[name] = e
		}
		return e
	}
	for _, mb := range mbs {
		e := get(mb.Name)
		e.exists, e.info = true, mb
	}
	for _, n := range subs {
		get(n).subscribed = true
	}
	// Every level above a name exists in the hierarchy, as a mailbox or
	// as a \Noselect / \NonExistent placeholder.
	for name, e := range entries {
		for p, ok := folder.Parent(name); ok; p, ok = folder.Parent(p) {
			pe := get(p)
			if e.exists {
				pe.children = true
			}
			if e.subscribed {
				pe.subChild = true
			}
		}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	lsub := isLSUB(w)
	for _, name := range names {
		e := entries[name]
		matched := false
		for _, p := range patterns {
			if imapserver.MatchList(name, '/', ref, p) {
				matched = true
				break
			}
		}
		if !matched {
			continue
		}
		data := &imapv2.ListData{Delim: '/', Mailbox: name}
		switch {
		case lsub:
			if !e.subscribed && !e.subChild {
				continue
			}
			if !e.subscribed || !e.exists {
				data.Attrs = append(data.Attrs, imapv2.MailboxAttrNoSelect)
			}
		case opts.SelectSubscribed:
			if !e.subscribed {
				if opts.SelectRecursiveMatch && e.subChild {
					data.ChildInfo = &imapv2.ListDataChildInfo{Subscribed: true}
				} else {
					continue
				}
			}
		default:
			if !e.exists && !e.children {
				continue
			}
		}
		if !lsub {
			if !e.exists {
				if opts.SelectSubscribed && e.subscribed || !e.children {
					data.Attrs = append(data.Attrs, imapv2.MailboxAttrNonExistent)
				} else {
					data.Attrs = append(data.Attrs, imapv2.MailboxAttrNoSelect)
				}
			}
			if e.subscribed && (opts.ReturnSubscribed || opts.SelectSubscribed) {
				data.Attrs = append(data.Attrs, imapv2.MailboxAttrSubscribed)
			}
			// CHILDREN (RFC 3348) is always returned; it is cheap here.
			if e.children {
				data.Attrs = append(data.Attrs, imapv2.MailboxAttrHasChildren)
			} else if e.exists {
				data.Attrs = append(data.Attrs, imapv2.MailboxAttrHasNoChildren)
			}
		}
		if e.exists && e.info.SpecialUse != "" && !lsub {
			data.Attrs = append(data.Attrs, imapv2.MailboxAttr(e.info.SpecialUse))
		}
		if opts.SelectSpecialUse && e.info.SpecialUse == "" {
			continue
		}
		if opts.ReturnStatus != nil && e.exists {
			data.Status = statusData(e.info, opts.ReturnStatus, s.AppendLimit())
		}
		if strings.EqualFold(name, folder.Inbox) {
			data.Mailbox = folder.Inbox
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}
