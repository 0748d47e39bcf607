package imap

import (
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
)

// RFC 5256 §2.1.
func TestBaseSubject(t *testing.T) {
	for in, want := range map[string]string{
		"":                                     "",
		"Hello":                                "Hello",
		"Re: Hello":                            "Hello",
		"RE:  re: Fwd: hello (fwd)":            "hello",
		"[list] Re: [other] fw: x":             "x",
		"[xyz]":                                "[xyz]",
		"Re: [FWD: c]":                         "c",
		"re: [fwd: [fwd: re: [fwd: babylon]]]": "babylon",
		"Ad: Re: Ad: x":                        "Ad: Re: Ad: x",
		"a\t  b":                               "a b",
		"Re [blob]: y":                         "y",
		"Fwd: (fwd)":                           "",
	} {
		if got := baseSubject(in); got != want {
			t.Errorf("baseSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

// SORT by each key, REVERSE keeping ties in sequence order, several
// criteria, search criteria, UID SORT and ESORT's RETURN.
func TestSort(t *testing.T) {
	e := newEnv(t)
	base := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, m := range []string{
		"From: Zed <zed@x.org>\r\nTo: bob@x.org\r\nDate: Mon, 4 Mar 2024 10:00:00 +0000\r\nSubject: Re: beta\r\n\r\nbody\r\n",
		"From: alice@x.org\r\nTo: Ann <zoe@x.org>\r\nCc: carl@x.org\r\nDate: Sat, 2 Mar 2024 10:00:00 +0000\r\nSubject: alpha\r\n\r\nlonger body here\r\n",
		"From: =?utf-8?q?B=C3=A9a?= <mike@x.org>\r\nTo: amy@x.org\r\nSubject: [list] Beta\r\n\r\nb\r\n",
		"From: zed@x.org\r\nTo: bob@x.org\r\nDate: Sun, 3 Mar 2024 10:00:00 +0000\r\nSubject: Gamma\r\n\r\nbody\r\n",
	} {
		fetchTestAppend(t, e, m, folder.Flags{}, base.Add(time.Duration(i)*time.Hour))
	}
	s := e.dial(t)
	s.login()
	s.selectInbox("s0")
	for _, c := range []struct{ cmd, want string }{
		{"SORT (ARRIVAL) UTF-8 ALL", "* SORT 1 2 3 4"},
		{"SORT (REVERSE ARRIVAL) UTF-8 ALL", "* SORT 4 3 2 1"},
		// Message 3 has no Date: its internal date stands in.
		{"SORT (DATE) UTF-8 ALL", "* SORT 3 2 4 1"},
		{"SORT (SIZE) US-ASCII ALL", "* SORT 3 4 1 2"},
		{"SORT (SUBJECT) UTF-8 ALL", "* SORT 2 1 3 4"},
		{"SORT (REVERSE SUBJECT) UTF-8 ALL", "* SORT 4 1 3 2"},
		{"SORT (FROM) UTF-8 ALL", "* SORT 2 3 1 4"},
		{"SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 2 3 1 4"},
		{"SORT (TO REVERSE ARRIVAL) UTF-8 ALL", "* SORT 3 4 1 2"},
		{"SORT (DISPLAYTO) UTF-8 ALL", "* SORT 3 2 1 4"},
		{"SORT (CC) UTF-8 ALL", "* SORT 1 3 4 2"},
		{"SORT (SUBJECT) UTF-8 FROM zed", "* SORT 1 4"},
		{"UID SORT (REVERSE DATE) UTF-8 2:4", "* SORT 4 2 3"},
		{"SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL", `* ESEARCH (TAG "x") MIN 2 MAX 4 COUNT 4`},
		{"SORT RETURN () (REVERSE ARRIVAL) UTF-8 ALL", `* ESEARCH (TAG "x") ALL 4,3,2,1`},
		{"SORT RETURN (ALL) (ARRIVAL) UTF-8 NOT ALL", `* ESEARCH (TAG "x")`},
	} {
		s.do("x "+c.cmd, c.want, "x OK SORT completed")
	}
	s.do("b1 SORT (ARRIVAL) ISO-2022-JP ALL", "b1 NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset")
	s.do("b2 SORT (COLOUR) UTF-8 ALL", "b2 BAD unknown sort key COLOUR")
	s.do("b3 SORT (REVERSE) UTF-8 ALL", "b3 BAD REVERSE without a sort key")
	s.do("b4 SORT (ARRIVAL) ALL", "b4 BAD missing search key")
}
