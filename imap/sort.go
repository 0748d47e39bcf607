package imap

// SORT (RFC 5256 §3), ESORT (RFC 5267 §3), SORT=DISPLAY (RFC 5957).
//
// Invariants:
//   - Sort keys come from the index (the cached ENVELOPE, INTERNALDATE,
//     RFC822.SIZE): SORT never reads a message file, except what its
//     search criteria need.
//   - Ties, under every key, go by ascending sequence number (§3); REVERSE
//     reverses a key's order, not the tie-break.
//   - Strings compare after RFC 2047 decoding as i;ascii-casemap does
//     (RFC 4790 §9.2: upper case, so "[" and "_" sort after letters),
//     extended to Unicode by SEARCH's folding; SUBJECT compares base
//     subjects (§2.1).

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/message"
	"github.com/storaged/storaged/store"
)

func registerSort(t *commands) {
	t.add("SORT", stateSelected, usesSeqs, cmdSort)
	t.capability(afterAuth, "SORT", "SORT=DISPLAY", "ESORT")
}

// sortItem is one message and the keys the criteria need.
type sortItem struct {
	hit
	arrival, date time.Time
	size          int64
	str           [4]string // the string keys, by sortStrIndex
}

// Which str slot a string key uses: at most four distinct string keys
// matter in one SORT (more repeat a key, and the first decides).
const (
	strFrom = iota
	strTo
	strCc
	strSubject
)

func cmdSort(ctx context.Context, c *conn, cmd *wire.Command) error {
	args := cmd.Args.(*wire.SortArgs)
	switch args.Charset {
	case "UTF-8", "US-ASCII":
	default:
		return errBadCharset
	}
	s, err := c.newSearch(&args.Key, time.Now())
	if err != nil {
		return err
	}
	hits, err := s.run(ctx)
	if err != nil {
		var r *response
		if errors.As(err, &r) {
			return r
		}
		return mapErr(c.log, "sort", err)
	}
	items, err := c.sortKeys(hits, args.Criteria)
	if err != nil {
		return mapErr(c.log, "sort", err)
	}
	slices.SortStableFunc(items, func(a, b sortItem) int {
		for _, k := range args.Criteria {
			if d := compareSortKey(&a, &b, k.Key); d != 0 {
				if k.Reverse {
					return -d
				}
				return d
			}
		}
		return int(a.seq) - int(b.seq)
	})
	sorted := make([]hit, len(items))
	for i := range items {
		sorted[i] = items[i].hit
	}
	if args.HasReturn {
		ret := searchReturn{esearch: true}
		for _, o := range args.Return {
			switch o {
			case "MIN":
				ret.min = true
			case "MAX":
				ret.max = true
			case "ALL":
				ret.all = true
			case "COUNT":
				ret.count = true
			}
		}
		if !ret.min && !ret.max && !ret.count {
			ret.all = true // RFC 5267 §3.1: RETURN () is RETURN (ALL)
		}
		// RFC 5267 §3.2: MIN and MAX are the first and last in sort
		// order, ALL keeps that order.
		c.writeSearch(cmd, ret, sorted, s.modseq)
	} else {
		w := c.w
		w.Raw("* SORT")
		for _, h := range sorted {
			w.SP()
			if cmd.UID {
				w.Number32(h.uid)
			} else {
				w.Number32(h.seq)
			}
		}
		w.CRLF()
	}
	if s.gone {
		return okCode("EXPUNGEISSUED", "SORT completed; some messages were removed by another program")
	}
	return nil
}

// sortKeys reads what the criteria need of every hit from the index.
func (c *conn) sortKeys(hits []hit, crit []wire.SortCriterion) ([]sortItem, error) {
	var want store.Fields
	for _, k := range crit {
		switch k.Key {
		case "CC", "DATE", "FROM", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO":
			want |= store.FieldEnvelope
		}
	}
	items := make([]sortItem, len(hits))
	uids := make([]uint32, 0, min(len(hits), fetchBatch))
	mb := c.view.Mailbox()
	for start := 0; start < len(hits); start += fetchBatch {
		end := min(start+fetchBatch, len(hits))
		uids = uids[:0]
		for _, h := range hits[start:end] {
			uids = append(uids, h.uid)
		}
		metas, err := mb.ReadBatch(uids, want)
		if err != nil {
			return nil, err
		}
		for i := range metas {
			it := &items[start+i]
			it.hit = hits[start+i]
			m := &metas[i]
			it.arrival, it.size = m.InternalDate, m.CRLFSize
			if want == 0 {
				continue
			}
			env := m.Envelope
			if env == nil {
				env = &message.Envelope{}
			}
			// RFC 5256 §3 DATE: the sent date, else the internal date.
			it.date = env.Time
			if it.date.IsZero() {
				it.date = m.InternalDate
			}
			for _, k := range crit {
				switch k.Key {
				case "FROM":
					it.str[strFrom] = sortFold(firstMailbox(env.From))
				case "DISPLAYFROM":
					it.str[strFrom] = sortFold(displayName(env.From))
				case "TO":
					it.str[strTo] = sortFold(firstMailbox(env.To))
				case "DISPLAYTO":
					it.str[strTo] = sortFold(displayName(env.To))
				case "CC":
					it.str[strCc] = sortFold(firstMailbox(env.Cc))
				case "SUBJECT":
					it.str[strSubject] = sortFold(baseSubject(decodeHeader(env.Subject)))
				}
			}
		}
	}
	return items, nil
}

// sortFold is the comparison form of a string key.
func sortFold(s string) string { return strings.ToUpper(fold(s)) }

func compareSortKey(a, b *sortItem, key string) int {
	switch key {
	case "ARRIVAL":
		return a.arrival.Compare(b.arrival)
	case "DATE":
		return a.date.Compare(b.date)
	case "SIZE":
		return cmpInt64(a.size, b.size)
	case "FROM", "DISPLAYFROM":
		return strings.Compare(a.str[strFrom], b.str[strFrom])
	case "TO", "DISPLAYTO":
		return strings.Compare(a.str[strTo], b.str[strTo])
	case "CC":
		return strings.Compare(a.str[strCc], b.str[strCc])
	case "SUBJECT":
		return strings.Compare(a.str[strSubject], b.str[strSubject])
	}
	return 0
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// firstMailbox is RFC 5256's FROM/TO/CC key: the addr-mailbox (local
// part) of the first address; a group counts by its name, as Dovecot
// and imaptest have it.
func firstMailbox(addrs []message.Address) string {
	for _, a := range addrs {
		if a.IsGroupEnd() {
			continue
		}
		return a.Mailbox
	}
	return ""
}

// displayName is RFC 5957's DISPLAYFROM/DISPLAYTO key: the first
// address's display name, decoded, else its addr-spec.
func displayName(addrs []message.Address) string {
	for _, a := range addrs {
		if a.IsGroupEnd() {
			continue
		}
		if a.IsGroupStart() {
			return decodeHeader(a.Mailbox)
		}
		if n := strings.TrimSpace(decodeHeader(a.Name)); n != "" {
			return n
		}
		if a.Host == "" {
			return a.Mailbox
		}
		return a.Mailbox + "@" + a.Host
	}
	return ""
}

// baseSubject extracts RFC 5256 §2.1's base subject from a decoded
// subject.
func baseSubject(s string) string {
	b, _ := baseSubjectReply(s)
	return b
}

// baseSubjectReply is baseSubject, and whether the subject was a reply
// or forward: a "re:"/"fw:"/"fwd:" leader, a "(fwd)" trailer or a
// "[fwd: ...]" wrapper was removed (what THREAD=REFERENCES asks).
func baseSubjectReply(s string) (string, bool) {
	reply := false
	// (1) White space runs become one space.
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' }), " ")
	for {
		// (2) Trailing "(fwd)" and white space.
		for {
			t := strings.TrimRight(s, " ")
			if len(t) >= 5 && strings.EqualFold(t[len(t)-5:], "(fwd)") {
				t, reply = t[:len(t)-5], true
			}
			if t == s {
				break
			}
			s = t
		}
		// (3)-(5) Leading "re:", "fw:", "fwd:" (each with optional
		// blobs) and blobs that leave something behind.
		for {
			t, refwd := trimLeader(s)
			reply = reply || refwd
			if t == s {
				if b := trimBlob(s); b != s && b != "" {
					t = b
				}
			}
			if t == s {
				break
			}
			s = t
		}
		// (6) "[fwd: ... ]" wrapping the whole subject.
		if len(s) >= 6 && strings.EqualFold(s[:5], "[fwd:") && s[len(s)-1] == ']' {
			s, reply = s[5:len(s)-1], true
			continue
		}
		return s, reply
	}
}

// trimLeader removes one subj-leader: (*subj-blob subj-refwd) / WSP;
// refwd tells it was a subj-refwd.
func trimLeader(s string) (rest string, refwd bool) {
	if strings.HasPrefix(s, " ") {
		return s[1:], false
	}
	t := s
	for {
		b := trimBlob(t)
		if b == t {
			break
		}
		t = b
	}
	// subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
	lower := strings.ToLower(t)
	var n int
	switch {
	case strings.HasPrefix(lower, "re"):
		n = 2
	case strings.HasPrefix(lower, "fwd"):
		n = 3
	case strings.HasPrefix(lower, "fw"):
		n = 2
	default:
		return s, false
	}
	r := strings.TrimLeft(t[n:], " ")
	r = trimBlob(r)
	if !strings.HasPrefix(r, ":") {
		return s, false
	}
	return r[1:], true
}

// trimBlob removes one subj-blob: "[" *BLOBCHAR "]" *WSP.
func trimBlob(s string) string {
	if !strings.HasPrefix(s, "[") {
		return s
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return s
	}
	return strings.TrimLeft(s[end+2:], " ")
}
