package imap

// SAVEDATE (RFC 8514): when a message was saved into the mailbox it is
// in, as FETCH SAVEDATE and as the SEARCH keys SAVEDBEFORE, SAVEDON,
// SAVEDSINCE and SAVEDATESUPPORTED.
//
// Invariants:
//   - The save date is the index's (index.Message.SaveDate), set by
//     store when the message is indexed into this mailbox: APPEND,
//     delivery, COPY and MOVE (the time of the copy: the new message is
//     a new save, §3), an import, or a file another program dropped in
//     (the sync that found it). It never changes while the message stays
//     (§3: "MUST NOT change").
//   - Every mailbox supports it, so SAVEDATESUPPORTED matches every
//     message (§4.3).
//   - A message whose record has no save date (written before index
//     record version 2, or adopted in place from another server's store,
//     whose save date we cannot read) answers FETCH SAVEDATE NIL, which
//     the grammar allows (§5: "SAVEDATE" SP (date-time / nil)), rather
//     than a date we would invent; SAVEDBEFORE/ON/SINCE compare its
//     internal date instead, the fallback §4.3 prescribes for a save date
//     the storage does not have.
//   - Like BEFORE/ON/SINCE, the SAVED* keys compare the calendar day in
//     the date's own zone, "disregarding time and timezone" (§4.3).

import (
	"time"

	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/store"
)

func registerSaveDate(t *commands) {
	t.capability(afterAuth, "SAVEDATE")
}

// writeSaveDate writes the SAVEDATE item of m (RFC 8514 §4.2).
func (f *fetcher) writeSaveDate(m *store.Meta) {
	f.w.Raw("SAVEDATE ")
	if m.SaveDate.IsZero() {
		f.w.Raw("NIL")
		return
	}
	f.w.Raw(`"`)
	f.date = m.SaveDate.AppendFormat(f.date[:0], internalDateLayout)
	f.w.RawBytes(f.date)
	f.w.Raw(`"`)
}

// saveDateOf is the date SAVEDBEFORE/ON/SINCE compare: the save date, or
// the internal date when the record has none (RFC 8514 §4.3).
func saveDateOf(m *store.Meta) time.Time {
	if m.SaveDate.IsZero() {
		return m.InternalDate
	}
	return m.SaveDate
}

// savedOp is the BEFORE/ON/SINCE comparison a SAVED* key makes.
var savedOp = map[wire.SearchOp]wire.SearchOp{
	wire.SearchSavedBefore: wire.SearchBefore,
	wire.SearchSavedOn:     wire.SearchOn,
	wire.SearchSavedSince:  wire.SearchSince,
}
