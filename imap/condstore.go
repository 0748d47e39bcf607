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

import (
	"strconv"

	"github.com/storaged/storaged/imap/wire"
)

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
	c.w.Status("", "OK", "HIGHESTMODSEQ "+strconv.FormatUint(max(info.HighestModSeq, 1), 10), "highest")
}

// writeModSeq writes the FETCH item "MODSEQ (n)".
func writeModSeq(w *wire.Writer, n uint64) {
	w.Raw("MODSEQ (")
	w.Number(max(n, 1))
	w.Raw(")")
}
