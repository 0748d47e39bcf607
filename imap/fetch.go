package imap

// FETCH and UID FETCH (RFC 9051 §6.4.5, §6.4.9, §7.5.2; RFC 3516 BINARY).
//
// Invariants (check every change against them):
//   - Nothing is written while an index snapshot is open: metadata comes
//     from ReadBatch, which returns plain values, in batches of
//     fetchBatch read by a producer goroutine while this one encodes.
//   - Everything that can fail for one message (opening its file,
//     decoding a section, an unknown transfer encoding) is settled before
//     its "* n FETCH (" is written; once a response is started it is
//     finished, and a literal always carries the octet count it
//     announced (a file that shrank is padded with spaces, one that grew
//     is cut; both are logged).
//   - Responses come in ascending sequence order; a message expunged by
//     another session and not yet reported is left out (RFC 9051 §7.5.1
//     allows it), a message whose file is gone ends the command with
//     NO [EXPUNGEISSUED] after the others were sent.
//   - \Seen is set before any metadata is read, so the FLAGS a FETCH
//     reports are the ones it caused (RFC 9051 §6.4.5).
//   - No NUL goes out except inside a literal8 (RFC 9051 §4.3, RFC 3516
//     §4.2): BODY data has NUL replaced by 0x80, BINARY data with NUL is
//     sent as ~{n}.
//   - The writer is not flushed per message: the 64 KiB bufio.Writer
//     flushes when full and the connection loop after the command.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/store"
)

func registerFetch(t *commands) {
	t.add("FETCH", stateSelected, usesSeqs, cmdFetch)
	// RFC 3516: BINARY[], BINARY.PEEK[], BINARY.SIZE[] in FETCH. (APPEND
	// of literal8 is the grammar's and APPEND's.)
	t.capability(afterAuth, "BINARY", "PREVIEW")
	registerSaveDate(t)
}

// fetchBatch bounds how many messages one index read covers: a snapshot
// held long holds back the index's growth.
const fetchBatch = 512

// fetchPlan is a FETCH's items, checked and ordered once for every
// message.
type fetchPlan struct {
	uid   bool // UID first: asked for, or UID FETCH (RFC 9051 §6.4.9)
	flags bool
	// items are the other items in the order asked, duplicates of the
	// simple ones dropped.
	items []wire.FetchItem
	want  store.Fields
	// markSeen: a non-PEEK body item (RFC 9051 §6.4.5).
	markSeen bool
	// content: there are section items (BODY[...], BINARY..., RFC822...),
	// which prepare locates and reads for every message.
	content bool
	// modseq: MODSEQ asked for, or implied by CHANGEDSINCE (RFC 7162
	// §3.1.4); changedSince filters when hasChangedSince.
	modseq          bool
	hasChangedSince bool
	changedSince    uint64
	// preview: RFC 8970 PREVIEW (preview.go).
	preview bool
}

func newFetchPlan(args *wire.FetchArgs, uidCmd bool) (*fetchPlan, error) {
	p := &fetchPlan{uid: uidCmd, items: make([]wire.FetchItem, 0, len(args.Items))}
	if args.HasChangedSince {
		p.modseq, p.hasChangedSince, p.changedSince = true, true, args.ChangedSince
	}
	var seen [32]bool
	for _, it := range args.Items {
		switch it.Kind {
		case wire.FetchModSeq:
			p.modseq = true
			continue
		case wire.FetchPreview:
			p.preview = true
			continue
		case wire.FetchEmailID, wire.FetchThreadID:
			name := string(it.AppendName(nil))
			return nil, bad("unsupported FETCH item " + name)
		case wire.FetchUID:
			p.uid = true
			continue
		case wire.FetchFlags:
			p.flags = true
			continue
		case wire.FetchBodySection, wire.FetchBinary, wire.FetchBinarySize:
			// Sections may repeat with other parts or ranges.
		default:
			if int(it.Kind) < len(seen) {
				if seen[it.Kind] {
					continue
				}
				seen[it.Kind] = true
			}
		}
		switch it.Kind {
		case wire.FetchEnvelope:
			p.want |= store.FieldEnvelope
		case wire.FetchBodyStructure, wire.FetchBody:
			p.want |= store.FieldBodyStructure
		case wire.FetchRFC822Header:
			p.want |= store.FieldBodyStructure
			p.content = true
		case wire.FetchRFC822Text:
			p.want |= store.FieldBodyStructure
			p.content, p.markSeen = true, true
		case wire.FetchRFC822:
			p.content, p.markSeen = true, true
		case wire.FetchBodySection, wire.FetchBinary:
			p.content = true
			p.markSeen = p.markSeen || !it.Peek
			if len(it.Section.Part) > 0 || it.Section.Specifier != "" {
				p.want |= store.FieldBodyStructure
			}
		case wire.FetchBinarySize:
			p.content = true
			if len(it.Section.Part) > 0 {
				p.want |= store.FieldBodyStructure
			}
		}
		p.items = append(p.items, it)
	}
	return p, nil
}

func cmdFetch(ctx context.Context, c *conn, cmd *wire.Command) error {
	args := cmd.Args.(*wire.FetchArgs)
	if args.Vanished && !c.qresync {
		return bad("FETCH modifier VANISHED needs ENABLE QRESYNC first")
	}
	plan, err := newFetchPlan(args, cmd.UID)
	if err != nil {
		return err
	}
	if plan.modseq {
		c.enableCondstore()
	}
	// RFC 7162 §3.2.4 (and imaptest checks it): with QRESYNC every FETCH
	// response carries the UID.
	plan.uid = plan.uid || c.qresync
	if args.Vanished {
		// RFC 7162 §3.2.6: what in the UID set was expunged since, first.
		info, err := c.view.Mailbox().Info()
		if err == nil {
			err = c.vanishedEarlier(c.view.Mailbox(), &args.Seq, info.UIDNext-1, args.ChangedSince)
		}
		if err != nil {
			return mapErr(c.log, "fetch vanished", err)
		}
	}
	uids, err := c.resolve(args.Seq, cmd.UID)
	if err != nil {
		return err
	}
	if len(uids) == 0 {
		return nil
	}
	f := newFetcher(c, plan)
	if plan.markSeen && !c.view.ReadOnly() {
		changed, err := c.view.Mailbox().StoreFlags(ctx, uids, store.FlagsAdd, folder.Flags{Sys: folder.Seen}, c.view.Sub())
		if err != nil {
			return mapErr(c.log, "fetch", err)
		}
		// StoreFlags reports in the order of uids: ascending.
		f.seenSet = make([]uint32, len(changed))
		for i := range changed {
			f.seenSet[i] = changed[i].UID
		}
	}
	if plan.hasChangedSince {
		// Only what changed is read at all (RFC 7162 §3.1.4.1): the
		// index walks its MODSEQs, and the rest of the set is dropped
		// before any record is decoded.
		changed, err := c.view.Mailbox().ChangedSince(plan.changedSince)
		if err != nil {
			return mapErr(c.log, "fetch", err)
		}
		uids = intersectSorted(uids, changed)
		if len(uids) == 0 {
			return nil
		}
	}
	return f.run(ctx, uids)
}

// fetcher is one FETCH command's state and the scratch space every
// message reuses.
type fetcher struct {
	c    *conn
	w    *wire.Writer
	mb   *store.Mailbox
	plan *fetchPlan
	// seenSet are the UIDs whose \Seen this FETCH set, ascending; seenAt
	// walks it.
	seenSet []uint32
	seenAt  int
	// deferred is the NO the command ends with after answering every
	// message it could (EXPUNGEISSUED, UNKNOWN-CTE).
	deferred error

	name    []byte // item names
	date    []byte // INTERNALDATE
	data    []byte // the message's octets, when loaded
	arena   []byte // decoded and filtered sections
	copy    []byte // streaming buffer
	outs    []sectionOut
	specBuf []sectionSpec
}

func newFetcher(c *conn, plan *fetchPlan) *fetcher {
	return &fetcher{c: c, w: c.w, mb: c.view.Mailbox(), plan: plan, name: make([]byte, 0, 64), date: make([]byte, 0, 32)}
}

type fetchBatchResult struct {
	msgs []store.Meta
	err  error
}

// errFetchPanic marks a panic in the reading goroutine, logged there.
var errFetchPanic = errors.New("fetch: panic while reading the index")

func (f *fetcher) run(ctx context.Context, uids []uint32) error {
	if len(uids) <= fetchBatch {
		msgs, err := f.mb.ReadBatch(uids, f.plan.want)
		if err != nil {
			return mapErr(f.c.log, "fetch", err)
		}
		if err := f.writeBatch(msgs); err != nil {
			return err
		}
		return f.deferred
	}
	// Reading the index and encoding overlap: the producer decodes the
	// next batch while this goroutine writes the current one.
	batches := make(chan fetchBatchResult, 2)
	done := make(chan struct{})
	defer close(done)
	go f.produce(ctx, uids, batches, done)
	for b := range batches {
		if b.err != nil {
			if errors.Is(b.err, errFetchPanic) {
				return no(codeServerBug, "internal error; the administrator has the details")
			}
			return mapErr(f.c.log, "fetch", b.err)
		}
		if err := f.writeBatch(b.msgs); err != nil {
			return err
		}
		if err := f.w.Err(); err != nil {
			return errHangUp // the client is gone
		}
	}
	return f.deferred
}

// produce reads uids in batches onto out until done; the last thing it
// sends may be an error.
func (f *fetcher) produce(ctx context.Context, uids []uint32, out chan<- fetchBatchResult, done <-chan struct{}) {
	defer close(out)
	defer func() {
		if v := recover(); v != nil {
			f.c.log.Error("panic in fetch reader", "panic", v, "stack", string(debug.Stack()))
			select {
			case out <- fetchBatchResult{err: errFetchPanic}:
			case <-done:
			}
		}
	}()
	for start := 0; start < len(uids); start += fetchBatch {
		if err := ctx.Err(); err != nil {
			select {
			case out <- fetchBatchResult{err: err}:
			case <-done:
			}
			return
		}
		chunk := uids[start:min(start+fetchBatch, len(uids))]
		msgs, err := f.mb.ReadBatch(chunk, f.plan.want)
		select {
		case out <- fetchBatchResult{msgs, err}:
		case <-done:
			return
		}
		if err != nil {
			return
		}
	}
}

func (f *fetcher) writeBatch(msgs []store.Meta) error {
	for i := range msgs {
		m := &msgs[i]
		if !m.Found {
			// Expunged by another session and not yet reported: RFC
			// 9051 §7.5.1 lets the server omit it.
			continue
		}
		seq := f.c.view.Seq(m.UID)
		if seq == 0 {
			continue
		}
		if f.plan.hasChangedSince && m.ModSeq <= f.plan.changedSince && !f.seenNow(m.UID) {
			continue // RFC 7162 §3.1.4.1: only what changed since
		}
		if err := f.writeMessage(m, seq); err != nil {
			return err
		}
	}
	return nil
}

// seenNow reports whether this FETCH set uid's \Seen.
func (f *fetcher) seenNow(uid uint32) bool {
	for f.seenAt < len(f.seenSet) && f.seenSet[f.seenAt] < uid {
		f.seenAt++
	}
	return f.seenAt < len(f.seenSet) && f.seenSet[f.seenAt] == uid
}

// writeMessage writes one "* seq FETCH (...)" response. A failure that
// concerns only this message is kept in f.deferred and the message left
// out; the error returned ends the command.
func (f *fetcher) writeMessage(m *store.Meta, seq uint32) error {
	p := f.plan
	var stream io.ReadCloser
	if p.content {
		var err error
		if stream, err = f.prepare(m); err != nil {
			return f.messageFailed(m, err)
		}
	}
	if stream != nil {
		defer stream.Close()
	}
	var preview string
	if p.preview {
		var err error
		if preview, err = f.preview(m); err != nil {
			return f.messageFailed(m, err)
		}
	}
	flags := p.flags || f.seenNow(m.UID)
	if flags {
		f.c.announceKeywords(m.Flags)
	}
	w := f.w
	w.Untagged()
	w.Number(uint64(seq))
	w.Raw(" FETCH (")
	n := 0
	sp := func() {
		if n > 0 {
			w.SP()
		}
		n++
	}
	if p.uid {
		sp()
		w.Raw("UID ")
		w.Number(uint64(m.UID))
	}
	if flags {
		sp()
		w.Raw("FLAGS ")
		writeFlags(w, m.Flags, f.c.recent(m.UID))
	}
	if p.modseq || flags && f.c.condstore {
		sp()
		f.c.writeModSeq(m.ModSeq)
	}
	if p.preview {
		sp()
		w.Raw("PREVIEW ")
		w.String(preview)
	}
	out := 0
	for i := range p.items {
		it := &p.items[i]
		sp()
		switch it.Kind {
		case wire.FetchInternalDate:
			w.Raw(`INTERNALDATE "`)
			f.date = m.InternalDate.AppendFormat(f.date[:0], internalDateLayout)
			w.RawBytes(f.date)
			w.Raw(`"`)
		case wire.FetchSaveDate:
			f.writeSaveDate(m)
		case wire.FetchRFC822Size:
			w.Raw("RFC822.SIZE ")
			w.Number(uint64(max(m.CRLFSize, 0)))
		case wire.FetchEnvelope:
			w.Raw("ENVELOPE ")
			writeEnvelope(w, m.Envelope)
		case wire.FetchBodyStructure:
			w.Raw("BODYSTRUCTURE ")
			writeBody(w, m.Body, true)
		case wire.FetchBody:
			w.Raw("BODY ")
			writeBody(w, m.Body, false)
		case wire.FetchBodySection, wire.FetchBinary, wire.FetchBinarySize, wire.FetchRFC822, wire.FetchRFC822Header, wire.FetchRFC822Text:
			f.name = it.AppendName(f.name[:0])
			w.RawBytes(f.name)
			w.SP()
			f.writeSection(m, &f.outs[out], stream)
			out++
		}
	}
	w.Raw(")\r\n")
	return nil
}

// messageFailed decides what a failure to prepare one message means: the
// message is left out and the command ends NO after the others, or the
// command ends now.
func (f *fetcher) messageFailed(m *store.Meta, err error) error {
	var r *response
	switch {
	case errors.Is(err, folder.ErrGone):
		// Expunged by another session since this batch was read (its
		// file goes before its index entry; Sync waits for the expunge
		// in flight and takes over removals by other programs): left
		// out, as RFC 9051 §7.5.1 allows; its EXPUNGE comes later.
		if err := f.mb.Sync(context.Background()); err != nil {
			f.c.log.Warn("sync after a vanished file", "uid", m.UID, "err", err)
		}
		if _, still, rerr := f.mb.Message(m.UID); rerr == nil && !still {
			return nil
		}
		// Removed by another program while the index still has it; the
		// next sync expunges it (RFC 5530 EXPUNGEISSUED).
		if f.deferred == nil {
			f.deferred = no("EXPUNGEISSUED", "some messages were removed by another program")
		}
		return nil
	case errors.As(err, &r):
		if f.deferred == nil {
			f.deferred = r
		}
		return nil
	}
	return mapErr(f.c.log, "fetch body", fmt.Errorf("uid %d: %w", m.UID, err))
}

// internalDateLayout is RFC 9051 date-time without its quotes.
const internalDateLayout = "02-Jan-2006 15:04:05 -0700"

// intersectSorted keeps the elements of a that are in b; both ascending.
func intersectSorted(a, b []uint32) []uint32 {
	out := a[:0:0]
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}
