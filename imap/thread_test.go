package imap

import (
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
)

// THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256): a reply chain
// by References, one by In-Reply-To alone, a missing parent (a dummy that
// prunes away), a thread joined by subject, UID THREAD, search criteria.
func TestThread(t *testing.T) {
	e := newEnv(t)
	base := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	for i, m := range []string{
		"Message-ID: <a@x>\r\nDate: Fri, 1 Mar 2024 10:00:00 +0000\r\nSubject: plans\r\n\r\nb\r\n",
		"Message-ID: <b@x>\r\nReferences: <a@x>\r\nDate: Fri, 1 Mar 2024 11:00:00 +0000\r\nSubject: Re: plans\r\n\r\nb\r\n",
		"Message-ID: <c@x>\r\nDate: Fri, 1 Mar 2024 09:00:00 +0000\r\nSubject: other\r\n\r\nb\r\n",
		"Message-ID: <d@x>\r\nIn-Reply-To: <a@x>\r\nDate: Fri, 1 Mar 2024 12:00:00 +0000\r\nSubject: Re: plans\r\n\r\nb\r\n",
		"Message-ID: <e@x>\r\nReferences: <gone@x> <b@x>\r\nDate: Fri, 1 Mar 2024 13:00:00 +0000\r\nSubject: Re: plans\r\n\r\nb\r\n",
		"Message-ID: <f@x>\r\nReferences: <never@x>\r\nDate: Fri, 1 Mar 2024 14:00:00 +0000\r\nSubject: Re: other\r\n\r\nb\r\n",
	} {
		fetchTestAppend(t, e, m, folder.Flags{}, base.Add(time.Duration(i)*time.Hour))
	}
	s := e.dial(t)
	s.login()
	s.selectInbox("s0")
	s.do("a1 THREAD REFERENCES UTF-8 ALL", "* THREAD (3 6)(1 (2 5)(4))", "a1 OK THREAD completed")
	s.do("a2 UID THREAD REFERENCES UTF-8 ALL", "* THREAD (3 6)(1 (2 5)(4))", "a2 OK THREAD completed")
	s.do("a3 THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (3 6)(1 (2)(4)(5))", "a3 OK THREAD completed")
	s.do("a4 THREAD REFERENCES US-ASCII SUBJECT other", "* THREAD (3 6)", "a4 OK THREAD completed")
	s.do("a5 THREAD REFERENCES UTF-8 NOT ALL", "* THREAD", "a5 OK THREAD completed")
	// REFS: no merge by subject (6 stays apart from 3), threads by their
	// latest message.
	s.do("a6 THREAD REFS UTF-8 ALL", "* THREAD (3)(1 (2 5)(4))(6)", "a6 OK THREAD completed")
	s.do("a6b THREAD REFX UTF-8 ALL", "a6b BAD unknown THREAD algorithm REFX")
	s.do("a7 THREAD REFERENCES KOI8-R ALL", "a7 NO [BADCHARSET (UTF-8 US-ASCII)] unsupported charset")
	// After an expunge, sequence numbers move and the chain closes up.
	s.do(`b1 STORE 2 +FLAGS.SILENT (\Deleted)`, "b1 OK STORE completed")
	s.do("b2 EXPUNGE", "* 2 EXPUNGE", "b2 OK EXPUNGE completed")
	s.do("b3 THREAD REFERENCES UTF-8 ALL", "* THREAD (2 5)(1 (3)(4))", "b3 OK THREAD completed")
	s.do("b4 UID THREAD REFERENCES UTF-8 ALL", "* THREAD (3 6)(1 (4)(5))", "b4 OK THREAD completed")
}

// THREAD=REFS (draft-ietf-morg-inthread, as Dovecot does it): threads by
// References/In-Reply-To only, ordered by their latest message's sent
// date; a missing parent with two replies is a dummy root, one with one
// reply prints as the reply; a message without Date goes by its
// internal date; search criteria, UID THREAD, and after an expunge the
// root's replies under a dummy.
func TestThreadRefs(t *testing.T) {
	e := newEnv(t)
	base := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, m := range []string{
		"Message-ID: <a@x>\r\nDate: Fri, 1 Mar 2024 10:00:00 +0000\r\nSubject: alpha\r\n\r\nb\r\n",
		"Message-ID: <b@x>\r\nReferences: <a@x>\r\nDate: Fri, 1 Mar 2024 15:00:00 +0000\r\nSubject: Re: alpha\r\n\r\nb\r\n",
		"Message-ID: <c@x>\r\nDate: Fri, 1 Mar 2024 11:00:00 +0000\r\nSubject: beta\r\n\r\nb\r\n",
		"Message-ID: <d@x>\r\nReferences: <zz@x>\r\nDate: Fri, 1 Mar 2024 12:00:00 +0000\r\nSubject: Re: gamma\r\n\r\nb\r\n",
		"Message-ID: <e@x>\r\nReferences: <zz@x>\r\nDate: Fri, 1 Mar 2024 09:00:00 +0000\r\nSubject: Re: gamma\r\n\r\nb\r\n",
		"Message-ID: <f@x>\r\nDate: Fri, 1 Mar 2024 13:00:00 +0000\r\nSubject: alpha\r\n\r\nb\r\n",
		"Message-ID: <g@x>\r\nReferences: <y@x>\r\nDate: Fri, 1 Mar 2024 14:00:00 +0000\r\nSubject: delta\r\n\r\nb\r\n",
		"Message-ID: <h@x>\r\nIn-Reply-To: <c@x>\r\nDate: Fri, 1 Mar 2024 08:00:00 +0000\r\nSubject: Re: beta\r\n\r\nb\r\n",
		"Message-ID: <i@x>\r\nIn-Reply-To: <a@x>\r\nSubject: Re: alpha\r\n\r\nb\r\n",
	} {
		date := base.Add(time.Duration(i) * time.Minute)
		if i == 8 {
			date = base.Add(16 * time.Hour) // no Date: this stands in
		}
		fetchTestAppend(t, e, m, folder.Flags{}, date)
	}
	s := e.dial(t)
	s.login()
	s.selectInbox("s0")
	s.do("a1 THREAD REFS UTF-8 ALL", "* THREAD (3 8)((5)(4))(6)(7)(1 (2)(9))", "a1 OK THREAD completed")
	s.do("a2 UID THREAD REFS US-ASCII ALL", "* THREAD (3 8)((5)(4))(6)(7)(1 (2)(9))", "a2 OK THREAD completed")
	// REFERENCES merges 6 into 1's thread by subject and orders by the
	// first message: a check that the two really differ here.
	s.do("a3 THREAD REFERENCES UTF-8 ALL", "* THREAD ((5)(4))((1 (2)(9))(6))(3 8)(7)", "a3 OK THREAD completed")
	s.do("a4 THREAD REFS UTF-8 SUBJECT alpha", "* THREAD (6)(1 (2)(9))", "a4 OK THREAD completed")
	s.do("a5 THREAD REFS UTF-8 SUBJECT nothing", "* THREAD", "a5 OK THREAD completed")
	s.do(`b1 STORE 1 +FLAGS.SILENT (\Deleted)`, "b1 OK STORE completed")
	s.do("b2 EXPUNGE", "* 1 EXPUNGE", "b2 OK EXPUNGE completed")
	s.do("b3 THREAD REFS UTF-8 ALL", "* THREAD (2 7)((4)(3))(5)(6)((1)(8))", "b3 OK THREAD completed")
	s.do("b4 UID THREAD REFS UTF-8 ALL", "* THREAD (3 8)((5)(4))(6)(7)((2)(9))", "b4 OK THREAD completed")
}
