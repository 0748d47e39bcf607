package imap

// SEARCH and UID SEARCH (RFC 9051 §6.4.4), with ESEARCH results (RFC
// 4731, RFC 9051 §7.3.4), SEARCHRES (RFC 5182) and WITHIN (RFC 5032).
//
// Rules (check every change against them):
//   - Keys are decided from the index first: a message file is opened
//     only when a key still undecided needs its header or body (AND and OR
//     try cheap children first, see search_match.go). A SEARCH by flags,
//     dates, sizes, sequence numbers or UIDs opens no file, nor does a
//     HEADER on an envelope field that the envelope's header facts
//     decide exactly as the header would (cachedHeaderHas): the field
//     absent, "" asked of a present one, or the one Subject, Date,
//     In-Reply-To or Message-ID field searched.
//   - A message the client still sees but that is gone from the index, or
//     whose file another program removed, matches nothing, not even NOT.
//   - "$" is the SEARCHRES result as UIDs; a SEARCH with SAVE replaces it
//     only when it succeeds, empties it when it fails with NO and leaves
//     it alone when it fails with BAD (RFC 5182 §2.1).
//   - Nothing is written until every message was tried: a failed search
//     sends no partial result.

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/storaged/storaged/imap/wire"
)

func registerSearch(t *commands) {
	t.add("SEARCH", stateSelected, usesSeqs, cmdSearch)
	t.capability(afterAuth, "ESEARCH", "SEARCHRES", "WITHIN")
	registerSort(t)
	registerThread(t)
	registerMetadata(t)
}

// errBadCharset is RFC 9051 §6.4.4: an unsupported CHARSET is NO with
// the BADCHARSET code listing the supported ones.
var errBadCharset = no("BADCHARSET (UTF-8 US-ASCII)", "unsupported charset")

// searchReturn is what RETURN asked for (RFC 4731 §3.1, RFC 5182 §2).
type searchReturn struct {
	esearch                    bool // answer with ESEARCH, not SEARCH
	min, max, all, count, save bool
}

func parseReturn(args *wire.SearchArgs, rev2 bool) searchReturn {
	var r searchReturn
	if !args.HasReturn {
		// RFC 9051 §6.4.4: with IMAP4rev2 enabled, no RETURN is RETURN
		// (ALL), answered by ESEARCH; IMAP4rev1 answers "* SEARCH".
		r.esearch, r.all = rev2, true
		return r
	}
	r.esearch = true
	for _, o := range args.Return {
		switch o {
		case "MIN":
			r.min = true
		case "MAX":
			r.max = true
		case "ALL":
			r.all = true
		case "COUNT":
			r.count = true
		case "SAVE":
			r.save = true
		}
	}
	if !r.min && !r.max && !r.count && !r.save {
		// RFC 4731 §3.1: RETURN () is RETURN (ALL).
		r.all = true
	}
	return r
}

func cmdSearch(ctx context.Context, c *conn, cmd *wire.Command) error {
	args := cmd.Args.(*wire.SearchArgs)
	ret := parseReturn(args, c.rev2)
	switch args.Charset {
	case "", "UTF-8", "US-ASCII":
	default:
		if ret.save {
			c.saved = nil // RFC 5182 §2.1: a NO empties "$"
		}
		return errBadCharset
	}
	s, err := c.newSearch(&args.Key, time.Now())
	if err != nil {
		// Semantic errors are BAD: "$" stays as it was.
		return err
	}
	hits, err := s.run(ctx)
	if err != nil {
		var r *response
		if ret.save && (!errors.As(err, &r) || r.kind == "NO") {
			c.saved = nil
		}
		if errors.As(err, &r) {
			return r
		}
		return mapErr(c.log, "search", err)
	}
	if ret.save {
		c.saved = savedResult(hits, ret)
	}
	c.writeSearch(cmd, ret, hits, s.modseq)
	if s.gone {
		// RFC 5530: files another program removed matched nothing.
		return okCode("EXPUNGEISSUED", "SEARCH completed; some messages were removed by another program")
	}
	return nil
}

// hit is one matching message.
type hit struct {
	seq, uid uint32
	modseq   uint64
}

// savedResult is what SAVE keeps: every match, or only the MIN and MAX
// ones when those are the only other options (RFC 5182 §2.4).
func savedResult(hits []hit, r searchReturn) []uint32 {
	if len(hits) == 0 {
		return nil
	}
	if (r.min || r.max) && !r.all && !r.count {
		var out []uint32
		if r.min {
			out = append(out, hits[0].uid)
		}
		if r.max && (!r.min || len(hits) > 1) {
			out = append(out, hits[len(hits)-1].uid)
		}
		return out
	}
	out := make([]uint32, len(hits))
	for i, h := range hits {
		out[i] = h.uid
	}
	return out
}

// writeSearch writes "* SEARCH" (IMAP4rev1, RFC 3501 §7.2.5) or
// "* ESEARCH" (RFC 4731 §3.2, RFC 9051 §7.3.4). hits are in sequence
// order, which is UID order too.
//
// A search with MODSEQ also tells a MODSEQ (RFC 7162 §3.1.5): the highest
// of the messages it returns (with MIN or MAX alone, of those).
func (c *conn) writeSearch(cmd *wire.Command, r searchReturn, hits []hit, modseq bool) {
	num := func(h hit) uint32 {
		if cmd.UID {
			return h.uid
		}
		return h.seq
	}
	w := c.w
	if !r.esearch {
		w.Raw("* SEARCH")
		for _, h := range hits {
			w.SP()
			w.Number32(num(h))
		}
		if modseq && len(hits) > 0 {
			ms := highestModSeq(hits)
			c.showModSeq(ms) // a MODSEQ shown (condstore.go)
			w.Raw(" (MODSEQ ")
			w.Number(ms)
			w.Raw(")")
		}
		w.CRLF()
		return
	}
	if r.save && !r.min && !r.max && !r.all && !r.count {
		// RFC 5182 §2.4: SAVE alone sends no ESEARCH.
		return
	}
	w.Raw("* ESEARCH (TAG ")
	w.Quoted(cmd.Tag)
	w.Close()
	if cmd.UID {
		w.Raw(" UID")
	}
	// RFC 4731 §3.1: MIN, MAX and ALL are left out when nothing matched;
	// COUNT is always there.
	if n := len(hits); n > 0 {
		if r.min {
			w.Raw(" MIN ")
			w.Number32(num(hits[0]))
		}
		if r.max {
			w.Raw(" MAX ")
			w.Number32(num(hits[n-1]))
		}
	}
	if r.count {
		w.Raw(" COUNT ")
		w.Number(uint64(len(hits)))
	}
	if r.all && len(hits) > 0 {
		w.Raw(" ALL ")
		nums := make([]uint32, len(hits))
		for i, h := range hits {
			nums[i] = num(h)
		}
		w.RawBytes(appendSeqRanges(nil, nums))
	}
	if n := len(hits); modseq && n > 0 {
		ms := highestModSeq(hits)
		if !r.all && !r.count {
			ms = 0
			if r.min {
				ms = hits[0].modseq
			}
			if r.max {
				ms = max(ms, hits[n-1].modseq)
			}
		}
		if ms > 0 {
			c.showModSeq(ms)
			w.Raw(" MODSEQ ")
			w.Number(ms)
		}
	}
	w.CRLF()
}

func highestModSeq(hits []hit) uint64 {
	var m uint64
	for _, h := range hits {
		m = max(m, h.modseq)
	}
	return m
}

// appendSeqRanges writes numbers as a compact sequence-set, in the order
// given, joining runs that ascend by one: 1,2,3,5 is "1:3,5". COPYUID
// pairs its two sets by position, so order matters there.
func appendSeqRanges(dst []byte, nums []uint32) []byte {
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendUint(dst, uint64(nums[i]), 10)
		if j > i {
			dst = append(dst, ':')
			dst = strconv.AppendUint(dst, uint64(nums[j]), 10)
		}
		i = j + 1
	}
	return dst
}
