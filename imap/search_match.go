package imap

import (
	"context"
	"errors"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/store"
)

// cost is what deciding a key needs; keys are tried cheapest first.
type cost uint8

const (
	costIndex    cost = iota // the message record: flags, dates, sizes, numbers
	costEnvelope             // the cached envelope: Subject, Date
	costHeader               // the message's header block
	costBody                 // the whole message
)

// skey is a search key prepared for matching: strings folded, "$"
// resolved, children ordered by cost.
type skey struct {
	op   wire.SearchOp
	kids []*skey
	cost cost

	seq   wire.SeqSet // SearchSeq, SearchUID
	saved []uint32    // "$" as UIDs, ascending, when seq.Saved
	sys   folder.SysFlags
	kw    string // keyword, when sys is 0
	field string // HEADER field name
	str   string // folded needle
	date  time.Time
	num   uint64
}

// search is one SEARCH over the selected mailbox. It holds the view and
// two hooks rather than the session, so that the admin verb runs the
// same code outside any session (SearchMailbox).
type search struct {
	view *store.View
	// savedUIDs is "$" (RFC 5182); enableModSeq turns CONDSTORE on for
	// the session when the key holds MODSEQ (RFC 7162 §3.1).
	savedUIDs    func() []uint32
	enableModSeq func()
	mb           *store.Mailbox
	key          *skey
	now          time.Time
	uids         []uint32
	// open reads a message; tests count the calls.
	open func(store.Message) (io.ReadCloser, error)
	// gone: some message files had been removed by another program.
	gone bool
	// modseq: the key holds MODSEQ, so results tell the MODSEQs.
	modseq bool
}

// searchBatch bounds one ReadBatch snapshot.
const searchBatch = 1024

func (c *conn) newSearch(k *wire.SearchKey, now time.Time) (*search, error) {
	s := &search{view: c.view, savedUIDs: c.savedUIDs, enableModSeq: c.enableCondstore,
		mb: c.view.Mailbox(), now: now, uids: c.view.UIDs()}
	s.open = func(m store.Message) (io.ReadCloser, error) { return s.mb.Open(m) }
	key, err := s.prepare(k)
	if err != nil {
		return nil, err
	}
	s.key = key
	return s, nil
}

// prepare checks and converts a key: keys of extensions this server does
// not offer are BAD (RFC 9051 §6.4.4: a search key it does not know).
func (s *search) prepare(k *wire.SearchKey) (*skey, error) {
	out := &skey{op: k.Op, date: k.Date, num: k.Num}
	switch k.Op {
	case wire.SearchAnd, wire.SearchOr, wire.SearchNot:
		for i := range k.Children {
			kid, err := s.prepare(&k.Children[i])
			if err != nil {
				return nil, err
			}
			out.kids = append(out.kids, kid)
			out.cost = max(out.cost, kid.cost)
		}
		// AND and OR commute: try the cheap keys first, so that a flag
		// that decides the message spares reading its file.
		slices.SortStableFunc(out.kids, func(a, b *skey) int { return int(a.cost) - int(b.cost) })
	case wire.SearchSeq, wire.SearchUID:
		out.seq = k.Seq
		if k.Seq.Saved {
			// RFC 5182 §2.1: "$" before any SAVE is empty.
			out.saved = slices.Clone(s.savedUIDs())
			slices.Sort(out.saved)
		}
	case wire.SearchFlag, wire.SearchNoFlag:
		if strings.EqualFold(k.Flag, `\Recent`) {
			// "KEYWORD \Recent" (go-imap's client): RECENT, or OLD.
			out.op = wire.SearchRecent
			if k.Op == wire.SearchNoFlag {
				out.op = wire.SearchOld
			}
			break
		}
		f, err := parseFlags([]string{k.Flag})
		if err != nil {
			return nil, err
		}
		out.sys = f.Sys
		if f.Sys == 0 {
			out.kw = k.Flag
		}
	case wire.SearchAll, wire.SearchNew, wire.SearchOld, wire.SearchRecent,
		wire.SearchBefore, wire.SearchOn, wire.SearchSince,
		wire.SearchLarger, wire.SearchSmaller, wire.SearchYounger, wire.SearchOlder:
	case wire.SearchSentBefore, wire.SearchSentOn, wire.SearchSentSince:
		out.cost = costEnvelope
	case wire.SearchSubject:
		out.cost, out.str = costEnvelope, fold(k.Value.Value)
	case wire.SearchFrom, wire.SearchTo, wire.SearchCc, wire.SearchBcc:
		out.cost, out.field, out.str = costHeader, addressFields[k.Op], fold(k.Value.Value)
	case wire.SearchHeader:
		out.cost, out.field, out.str = costHeader, k.Field, fold(k.Value.Value)
	case wire.SearchBody, wire.SearchText:
		out.cost, out.str = costBody, fold(k.Value.Value)
	case wire.SearchModSeq:
		// RFC 7162 §3.1.5: an enabling command. The index keeps one
		// MODSEQ per message, which stands for every entry (§3.1.5
		// allows it), so the entry name and type are not looked at.
		s.enableModSeq()
		s.modseq = true
		out.cost = costIndex
	case wire.SearchSavedBefore, wire.SearchSavedOn, wire.SearchSavedSince:
		// RFC 8514 §4.3; the save date is in the record (savedate.go).
	case wire.SearchSaveDateSupported:
		// RFC 8514 §4.3: every mailbox here keeps save dates.
		out.op = wire.SearchAll
	case wire.SearchEmailID, wire.SearchThreadID:
		return nil, bad("OBJECTID is not supported")
	default:
		return nil, bad("unsupported search key")
	}
	return out, nil
}

// errMessageGone ends the evaluation of a message whose file is gone: it
// matches nothing, whatever the keys.
var errMessageGone = errors.New("message file is gone")

// run returns the matches in sequence order.
func (s *search) run(ctx context.Context) ([]hit, error) {
	var want store.Fields
	if s.key.cost >= costEnvelope {
		want = store.FieldEnvelope
	}
	var hits []hit
	if s.key.op == wire.SearchAll {
		// ALL (SORT and THREAD send it most): every message the client
		// knows, without reading a record.
		s.view.Refresh()
		hits = make([]hit, 0, len(s.uids))
		for i, uid := range s.uids {
			if !s.view.Expunged(uid) {
				hits = append(hits, hit{seq: uint32(i + 1), uid: uid})
			}
		}
		return hits, nil
	}
	m := &candidate{s: s}
	for start := 0; start < len(s.uids); start += searchBatch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch := s.uids[start:min(start+searchBatch, len(s.uids))]
		metas, err := s.mb.ReadBatch(batch, want)
		if err != nil {
			return nil, err
		}
		for i := range metas {
			meta := &metas[i]
			// RFC 9051 §7.5.1: expunged by another session and not yet
			// reported: it still has its number but matches nothing.
			if !meta.Found || s.view.Expunged(meta.UID) {
				continue
			}
			m.reset(meta, uint32(start+i+1))
			ok, err := s.match(s.key, m)
			if errors.Is(err, errMessageGone) {
				s.gone = true
				continue
			}
			if err != nil {
				return nil, err
			}
			if ok {
				hits = append(hits, hit{seq: m.seq, uid: meta.UID, modseq: meta.ModSeq})
			}
		}
	}
	return hits, nil
}

// day is the calendar day of t in its own zone: RFC 9051 §6.4.4 compares
// dates "disregarding time and timezone".
func day(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}

func compareDay(op wire.SearchOp, t, d time.Time) bool {
	t = day(t)
	switch op {
	case wire.SearchBefore, wire.SearchSentBefore:
		return t.Before(d)
	case wire.SearchOn, wire.SearchSentOn:
		return t.Equal(d)
	}
	return !t.Before(d) // SINCE: on or after
}

func (s *search) match(k *skey, m *candidate) (bool, error) {
	meta := m.meta
	switch k.op {
	case wire.SearchAll:
		return true, nil
	case wire.SearchAnd:
		for _, kid := range k.kids {
			if ok, err := s.match(kid, m); !ok || err != nil {
				return false, err
			}
		}
		return true, nil
	case wire.SearchOr:
		for _, kid := range k.kids {
			if ok, err := s.match(kid, m); ok || err != nil {
				return ok, err
			}
		}
		return false, nil
	case wire.SearchNot:
		ok, err := s.match(k.kids[0], m)
		return !ok && err == nil, err
	case wire.SearchSeq:
		if k.seq.Saved {
			return containsUID(k.saved, meta.UID), nil
		}
		// A number past EXISTS matches nothing (as Dovecot does).
		return k.seq.Contains(m.seq, uint32(len(s.uids))), nil
	case wire.SearchUID:
		if k.seq.Saved {
			return containsUID(k.saved, meta.UID), nil
		}
		// RFC 9051 §6.4.8: "*" is the highest UID in the mailbox.
		return k.seq.Contains(meta.UID, s.uids[len(s.uids)-1]), nil
	case wire.SearchFlag:
		return hasFlag(k, meta.Flags), nil
	case wire.SearchNoFlag:
		return !hasFlag(k, meta.Flags), nil
	case wire.SearchRecent:
		return s.view.IsRecent(meta.UID), nil
	case wire.SearchNew:
		return s.view.IsRecent(meta.UID) && !meta.Flags.Sys.Has(folder.Seen), nil
	case wire.SearchOld:
		return !s.view.IsRecent(meta.UID), nil
	case wire.SearchBefore, wire.SearchOn, wire.SearchSince:
		return compareDay(k.op, meta.InternalDate, k.date), nil
	case wire.SearchSavedBefore, wire.SearchSavedOn, wire.SearchSavedSince:
		return compareDay(savedOp[k.op], saveDateOf(meta), k.date), nil
	case wire.SearchSentBefore, wire.SearchSentOn, wire.SearchSentSince:
		sent := meta.InternalDate
		if meta.Envelope != nil && !meta.Envelope.Time.IsZero() {
			sent = meta.Envelope.Time
		}
		// Without a usable Date: header, INTERNALDATE stands in.
		return compareDay(k.op, sent, k.date), nil
	case wire.SearchModSeq:
		return meta.ModSeq >= k.num, nil
	case wire.SearchLarger:
		return uint64(meta.CRLFSize) > k.num, nil
	case wire.SearchSmaller:
		return uint64(meta.CRLFSize) < k.num, nil
	case wire.SearchYounger:
		// RFC 5032 §3: within the last num seconds.
		return !meta.InternalDate.Before(s.now.Add(-time.Duration(k.num) * time.Second)), nil
	case wire.SearchOlder:
		return !meta.InternalDate.After(s.now.Add(-time.Duration(k.num) * time.Second)), nil
	case wire.SearchSubject:
		if meta.Envelope == nil || meta.Envelope.Subject == "" {
			return false, nil
		}
		return strings.Contains(fold(decodeHeader(meta.Envelope.Subject)), k.str), nil
	case wire.SearchFrom, wire.SearchTo, wire.SearchCc, wire.SearchBcc:
		return m.addressHas(k.field, k.str)
	case wire.SearchHeader:
		if ok, decided := cachedHeaderHas(meta.Envelope, k.field, k.str); decided {
			return ok, nil
		}
		return m.headerHas(k.field, k.str)
	case wire.SearchBody:
		return m.bodyHas(k.str)
	case wire.SearchText:
		// The body is read anyway unless the header matches: one read.
		if _, err := m.message(); err != nil {
			return false, err
		}
		if ok, err := m.headerTextHas(k.str); ok || err != nil {
			return ok, err
		}
		return m.bodyHas(k.str)
	}
	return false, nil
}

func hasFlag(k *skey, f folder.Flags) bool {
	if k.sys != 0 {
		return f.Sys.Has(k.sys)
	}
	for _, kw := range f.Keywords {
		if strings.EqualFold(kw, k.kw) {
			return true
		}
	}
	return false
}

func containsUID(set []uint32, uid uint32) bool {
	i := sort.Search(len(set), func(i int) bool { return set[i] >= uid })
	return i < len(set) && set[i] == uid
}
