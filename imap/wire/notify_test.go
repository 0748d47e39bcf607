package wire

import (
	"reflect"
	"strings"
	"testing"
)

// RFC 5465 §8: the forms of NOTIFY, and what is not one.
func TestParseNotify(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want *NotifyArgs
	}{
		{"a NOTIFY NONE\r\n", &NotifyArgs{None: true}},
		{"a notify set (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS (From Subject)]) MessageExpunge)) (personal (MailboxName SubscriptionChange))\r\n",
			&NotifyArgs{Groups: []NotifyGroup{
				{Filter: "SELECTED", Events: []NotifyEvent{
					{Name: "MESSAGENEW", Fetch: []FetchItem{{Kind: FetchUID},
						{Kind: FetchBodySection, Peek: true, Section: Section{Specifier: "HEADER.FIELDS", Fields: []string{"From", "Subject"}}}}},
					{Name: "MESSAGEEXPUNGE"}}},
				{Filter: "PERSONAL", Events: []NotifyEvent{{Name: "MAILBOXNAME"}, {Name: "SUBSCRIPTIONCHANGE"}}},
			}}},
		{"a NOTIFY SET STATUS (mailboxes INBOX (MessageNew MessageExpunge)) (subtree (Lists \"Other\") NONE)\r\n",
			&NotifyArgs{Status: true, Groups: []NotifyGroup{
				{Filter: "MAILBOXES", Mailboxes: []Mailbox{mbox("INBOX")}, Events: []NotifyEvent{{Name: "MESSAGENEW"}, {Name: "MESSAGEEXPUNGE"}}},
				{Filter: "SUBTREE", Mailboxes: []Mailbox{mbox("Lists"), mbox("Other")}, None: true},
			}}},
		{"a NOTIFY SET (selected-delayed (FlagChange X-Future))\r\n",
			&NotifyArgs{Groups: []NotifyGroup{{Filter: "SELECTED-DELAYED", Events: []NotifyEvent{{Name: "FLAGCHANGE"}, {Name: "X-FUTURE"}}}}}},
	} {
		c := readOne(t, tc.in)
		if c.Name != "NOTIFY" || !reflect.DeepEqual(c.Args, tc.want) {
			t.Errorf("%q:\n got  %+v\n want %+v", tc.in, c.Args, tc.want)
		}
	}
	for _, in := range []string{
		"a NOTIFY\r\n",
		"a NOTIFY NONE STATUS\r\n",
		"a NOTIFY SET\r\n",
		"a NOTIFY SET STATUS\r\n",
		"a NOTIFY OFF\r\n",
		"a NOTIFY SET selected (MessageNew)\r\n",
		"a NOTIFY SET (everything (MessageNew))\r\n",
		"a NOTIFY SET (selected)\r\n",
		"a NOTIFY SET (selected ())\r\n",
		"a NOTIFY SET (mailboxes (MessageNew MessageExpunge))\r\n",
		"a NOTIFY SET (mailboxes () (MessageNew MessageExpunge))\r\n",
		"a NOTIFY SET (subtree (MessageNew))\r\n",
		"a NOTIFY SET (personal NONE extra)\r\n",
		"a NOTIFY SET (selected (MessageNew ()))\r\n",
		"a NOTIFY SET (selected (MessageNew (BOGUS)))\r\n",
		"a NOTIFY SET (selected (\"MessageNew\"))\r\n",
	} {
		if _, err := newTestReader(in, Limits{}, nil).ReadCommand(); err == nil {
			t.Errorf("%q parsed", strings.TrimSpace(in))
		}
	}
}
