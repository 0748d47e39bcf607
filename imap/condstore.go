package imap

// CONDSTORE (RFC 7162 §3.1): per-message MODSEQ, HIGHESTMODSEQ, FETCH
// CHANGEDSINCE, STORE UNCHANGEDSINCE and SEARCH MODSEQ.
//
// Invariants:
//   - MODSEQs are the index's: per mailbox they grow strictly on every
//     append, flag change and expunge, and no message has 0. An empty
//     mailbox's HIGHESTMODSEQ is sent as 1, never 0 (§3.1.1).
//   - A session turns CONDSTORE on with its first enabling command
//     (§3.1): ENABLE CONDSTORE, SELECT/EXAMINE (CONDSTORE), FETCH MODSEQ
//     or CHANGEDSINCE, STORE UNCHANGEDSINCE, SEARCH MODSEQ, STATUS
//     HIGHESTMODSEQ. If a mailbox is selected then, OK [HIGHESTMODSEQ]
//     tells its value at once (§3.1.2.1).
//   - Once on: SELECT/EXAMINE report HIGHESTMODSEQ; every FETCH response
//     that carries FLAGS carries MODSEQ, unsolicited ones UID as well; a
//     STORE, even .SILENT, reports the MODSEQ of what it changed (§3.1.3).
//   - UNCHANGEDSINCE is tested and applied in one step in store
//     (Mailbox.StoreFlagsIf): a message changed in between cannot slip
//     through.
//   - A client never holds a HIGHESTMODSEQ at or above an expunge it has
//     not been told of (RFC 7162 §3.2: "if the server sends MODSEQ FETCH
//     data items while EXPUNGE (or VANISHED) replies with lower
//     mod-sequences being delayed, the server MUST send the
//     HIGHESTMODSEQ response code with a lower value than the EXPUNGE's
//     mod-sequence"). Every MODSEQ the session shows goes through
//     showModSeq; when a command ends (before its tagged reply) or a
//     NOTIFY push is written while the view withholds expunges (RFC 9051
//     §7.5.1) and a MODSEQ shown since is at or above the lowest of
//     them, guardHighestModSeq sends OK [HIGHESTMODSEQ] just below it.
//     Clients take the highest MODSEQ a command showed as their
//     HIGHESTMODSEQ unless an OK [HIGHESTMODSEQ] follows; a CONDSTORE
//     client resynchronises by it as a QRESYNC one does.

import "strconv"

func registerCondstore(t *commands) {
	t.capability(afterAuth, "CONDSTORE")
	t.enableable("CONDSTORE", func(c *conn) { c.enableCondstore() })
}

// enableCondstore turns CONDSTORE on for the session.
func (c *conn) enableCondstore() {
	if c.condstore {
		return
	}
	c.condstore = true
	c.enabled["CONDSTORE"] = true
	if c.view != nil {
		c.writeHighestModSeq()
	}
}

// writeHighestModSeq sends "* OK [HIGHESTMODSEQ n]" for the selected
// mailbox.
func (c *conn) writeHighestModSeq() {
	info, err := c.view.Mailbox().Info()
	if err != nil {
		c.log.Error("highestmodseq", "err", err)
		return
	}
	c.writeHighestModSeqCode(max(info.HighestModSeq, 1))
}

// writeHighestModSeqCode sends "* OK [HIGHESTMODSEQ n]": the mailbox's
// (SELECT, ENABLE CONDSTORE), which may be above an expunge the view
// withholds, so it counts as shown.
func (c *conn) writeHighestModSeqCode(n uint64) {
	c.showModSeq(n)
	c.w.Status("", "OK", "HIGHESTMODSEQ "+strconv.FormatUint(n, 10), "highest")
}

// writeModSeq writes the FETCH item "MODSEQ (n)" to c.w.
func (c *conn) writeModSeq(n uint64) {
	n = max(n, 1)
	c.showModSeq(n)
	w := c.w
	w.Raw("MODSEQ (")
	w.Number(n)
	w.Raw(")")
}

// showModSeq notes a MODSEQ the client is shown, for guardHighestModSeq.
func (c *conn) showModSeq(n uint64) { c.shownModSeq = max(c.shownModSeq, n) }

// guardHighestModSeq runs where the client may take the MODSEQs shown
// since it last ran as its HIGHESTMODSEQ: when a command ends, before
// the tagged reply, and after a NOTIFY push. If the view still withholds
// an expunge at or below one of them, the client is told a HIGHESTMODSEQ
// just below that expunge's (RFC 7162 §3.2), so that a resynchronisation
// from it (SELECT QRESYNC, FETCH CHANGEDSINCE) still reports the
// expunge. The value is below every MODSEQ the client was shown for this
// reason, so it never makes it skip a change it would not have skipped
// anyway; everything else the view owed was written before (sendUpdates).
func (c *conn) guardHighestModSeq() {
	shown := c.shownModSeq
	c.shownModSeq = 0
	if shown == 0 || !c.condstore || c.view == nil {
		return
	}
	// An expunge's MODSEQ is at least 2: it is above that of the message
	// it removed, and no message has 0.
	low := c.view.WithheldExpungeModSeq()
	if low < 2 || shown < low {
		return
	}
	c.w.Status("", "OK", "HIGHESTMODSEQ "+strconv.FormatUint(low-1, 10), "expunges pending")
}
