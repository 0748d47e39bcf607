package imap

import (
	"strings"
	"testing"
)

func TestPatternMatch(t *testing.T) {
	for _, c := range []struct {
		ref, pat, name string
		want           bool
	}{
		{"", "*", "a/b/c", true},
		{"", "%", "a", true},
		{"", "%", "a/b", false},
		{"", "a/%", "a/b", true},
		{"", "a/%", "a/b/c", false},
		{"", "a*c", "a/b/c", true},
		{"", "a%c", "a/b/c", false},
		{"", "inbox", "INBOX", true},
		{"", "Inbox/%", "INBOX/x", true},
		{"a/", "%", "a/b", true},
		{"a/", "%", "b", false},
		{"", "*******b", strings.Repeat("a", 48), false},
		{"", "%*%*%b", strings.Repeat("a", 47) + "b", true},
		{"", "", "", true},
		{"", "x", "", false},
	} {
		p := compilePattern(c.ref, c.pat)
		if got := p.match(c.name); got != c.want {
			t.Errorf("match(%q+%q, %q) = %v, want %v", c.ref, c.pat, c.name, got, c.want)
		}
	}
}

func TestList(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.login()
	s.do(`a1 LIST "" ""`, `* LIST (\Noselect) "/" ""`, "a1 OK LIST completed")
	s.do("a2 CREATE Work/2024/Q1", "a2 OK CREATE completed")
	s.do(`a3 LIST "" %`,
		`* LIST (\HasNoChildren \Archive) "/" Archive`,
		`* LIST (\HasNoChildren \Drafts) "/" Drafts`,
		`* LIST (\HasNoChildren) "/" INBOX`,
		`* LIST (\HasNoChildren \Junk) "/" Junk`,
		`* LIST (\HasNoChildren \Sent) "/" Sent`,
		`* LIST (\HasNoChildren \Trash) "/" Trash`,
		`* LIST (\HasChildren) "/" Work`,
		"a3 OK LIST completed")
	s.do(`a4 LIST Work/ *`,
		`* LIST (\HasChildren) "/" Work/2024`,
		`* LIST (\HasNoChildren) "/" Work/2024/Q1`,
		"a4 OK LIST completed")
	s.do(`a5 DELETE Work`, "a5 OK DELETE completed")
	// Work is gone but has a child: \Noselect keeps the hierarchy.
	s.do(`a6 LIST "" Work*`,
		`* LIST (\Noselect \HasChildren) "/" Work`,
		`* LIST (\HasChildren) "/" Work/2024`,
		`* LIST (\HasNoChildren) "/" Work/2024/Q1`,
		"a6 OK LIST completed")
	s.do("a7 SUBSCRIBE Work/2024/Q1", "a7 OK SUBSCRIBE completed")
	s.do("a8 SUBSCRIBE Gone", "a8 OK SUBSCRIBE completed")
	// LSUB: an unsubscribed parent of a hidden subscribed child is
	// \Noselect (RFC 3501 §6.3.9).
	s.do(`a9 LSUB "" %`, `* LSUB () "/" Archive`, `* LSUB () "/" Drafts`, `* LSUB (\Noselect) "/" Gone`, `* LSUB () "/" INBOX`,
		`* LSUB () "/" Junk`, `* LSUB () "/" Sent`, `* LSUB () "/" Trash`,
		`* LSUB (\Noselect) "/" Work`, "a9 OK LSUB completed")
	s.do(`b1 LSUB "" *`, `* LSUB () "/" Archive`, `* LSUB () "/" Drafts`, `* LSUB (\Noselect) "/" Gone`, `* LSUB () "/" INBOX`,
		`* LSUB () "/" Junk`, `* LSUB () "/" Sent`, `* LSUB () "/" Trash`,
		`* LSUB () "/" Work/2024/Q1`, "b1 OK LSUB completed")
	// RFC 5258: subscribed names, accurate attributes, CHILDINFO.
	s.do(`b2 LIST (SUBSCRIBED) "" *`,
		`* LIST (\Subscribed \HasNoChildren \Archive) "/" Archive`,
		`* LIST (\Subscribed \HasNoChildren \Drafts) "/" Drafts`,
		`* LIST (\NonExistent \Subscribed) "/" Gone`,
		`* LIST (\Subscribed \HasNoChildren) "/" INBOX`,
		`* LIST (\Subscribed \HasNoChildren \Junk) "/" Junk`,
		`* LIST (\Subscribed \HasNoChildren \Sent) "/" Sent`,
		`* LIST (\Subscribed \HasNoChildren \Trash) "/" Trash`,
		`* LIST (\Subscribed \HasNoChildren) "/" Work/2024/Q1`,
		"b2 OK LIST completed")
	s.do(`b3 LIST (SUBSCRIBED RECURSIVEMATCH) "" %`,
		`* LIST (\Subscribed \HasNoChildren \Archive) "/" Archive`,
		`* LIST (\Subscribed \HasNoChildren \Drafts) "/" Drafts`,
		`* LIST (\NonExistent \Subscribed) "/" Gone`,
		`* LIST (\Subscribed \HasNoChildren) "/" INBOX`,
		`* LIST (\Subscribed \HasNoChildren \Junk) "/" Junk`,
		`* LIST (\Subscribed \HasNoChildren \Sent) "/" Sent`,
		`* LIST (\Subscribed \HasNoChildren \Trash) "/" Trash`,
		`* LIST (\Noselect \HasChildren) "/" Work ("CHILDINFO" ("SUBSCRIBED"))`,
		"b3 OK LIST completed")
	s.do(`b4 LIST (RECURSIVEMATCH) "" %`, "b4 BAD RECURSIVEMATCH needs another selection option")
	s.do(`b5 LIST (SPECIAL-USE) "" * RETURN (STATUS (MESSAGES UIDNEXT))`,
		`* LIST (\HasNoChildren \Archive) "/" Archive`, `* STATUS Archive (MESSAGES 0 UIDNEXT 1)`,
		`* LIST (\HasNoChildren \Drafts) "/" Drafts`, `* STATUS Drafts (MESSAGES 0 UIDNEXT 1)`,
		`* LIST (\HasNoChildren \Junk) "/" Junk`, `* STATUS Junk (MESSAGES 0 UIDNEXT 1)`,
		`* LIST (\HasNoChildren \Sent) "/" Sent`, `* STATUS Sent (MESSAGES 0 UIDNEXT 1)`,
		`* LIST (\HasNoChildren \Trash) "/" Trash`, `* STATUS Trash (MESSAGES 0 UIDNEXT 1)`,
		"b5 OK LIST completed")
	s.do(`b6 LIST "" (INBOX Sent) RETURN (SUBSCRIBED)`,
		`* LIST (\Subscribed \HasNoChildren) "/" INBOX`, `* LIST (\Subscribed \HasNoChildren \Sent) "/" Sent`, "b6 OK LIST completed")
}

// Every atom-special in a pattern is fine, and a pattern of many "*"
// answers at once (it used to be exponential: the session's read
// deadline would end the test).
func TestListHostilePatterns(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.login()
	s.do("a1 CREATE "+strings.Repeat("a", 48), "a1 OK CREATE completed")
	s.do(`a2 LIST "" "`+strings.Repeat("*", 200)+`b"`, "a2 OK LIST completed")
	s.do(`a3 LIST "" "(){ %*\"\\]"`, "a3 OK LIST completed")
	// Not valid modified UTF-7: matched as it is (imaptest's atoms).
	s.do("a4 LIST \"\" !#$&'+,-.0123456789:;<=>?@^_`|[}%*", "a4 OK LIST completed")
}
