package legacy

import (
	"bytes"
	"errors"
	"io"
	"sort"

	imapv2 "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/store"
)

func sortUIDs(u []uint32) { sort.Slice(u, func(i, j int) bool { return u[i] < u[j] }) }

// fetchBatch bounds how many messages one index read transaction covers:
// nothing is written to the connection while a transaction is open, and a
// long-lived one would hold back the index's growth.
const fetchBatch = 512

func (s *session) Fetch(w *imapserver.FetchWriter, set imapv2.NumSet, opts *imapv2.FetchOptions) error {
	if hc, ok := s.conn.NetConn().(*heldConn); ok {
		hc.Hold()
		defer hc.Release()
	}
	uids := s.uidsOf(set)
	// RFC 9051 §6.4.5: a non-PEEK body section sets \Seen.
	if !s.view.ReadOnly() {
		markSeen := false
		for _, bs := range opts.BodySection {
			markSeen = markSeen || !bs.Peek
		}
		for _, bs := range opts.BinarySection {
			markSeen = markSeen || !bs.Peek
		}
		if markSeen && len(uids) > 0 {
			changed, err := s.view.Mailbox().StoreFlags(s.ctx, uids, store.FlagsAdd, folder.Flags{Sys: folder.Seen}, s.view.Sub())
			if err != nil {
				return mapErr(s.log, "fetch", err)
			}
			if len(changed) > 0 && !opts.Flags {
				o := *opts
				o.Flags = true
				opts = &o
			}
		}
	}
	return s.fetch(w, uids, opts)
}

func (s *session) fetch(w *imapserver.FetchWriter, uids []uint32, opts *imapv2.FetchOptions) error {
	// Reading the index and encoding responses overlap: one goroutine
	// decodes the next batch while this one writes the current.
	type batch struct {
		uids []uint32
		msgs []store.Meta
		err  error
	}
	batches := make(chan batch, 2)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(batches)
		for start := 0; start < len(uids); start += fetchBatch {
			chunk := uids[start:min(start+fetchBatch, len(uids))]
			msgs, err := s.readBatch(chunk, opts)
			select {
			case batches <- batch{chunk, msgs, err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	for b := range batches {
		if b.err != nil {
			return mapErr(s.log, "fetch", b.err)
		}
		for i := range b.msgs {
			if !b.msgs[i].Found {
				// Expunged by another session and not yet reported: RFC
				// 9051 §7.5.1 lets the server omit it.
				continue
			}
			if err := s.writeFetch(w, b.uids[i], &b.msgs[i], opts); err != nil {
				return err
			}
		}
	}
	return nil
}

// readBatch reads what FETCH needs of some messages in one snapshot.
func (s *session) readBatch(uids []uint32, opts *imapv2.FetchOptions) ([]store.Meta, error) {
	var want store.Fields
	if opts.Envelope {
		want |= store.FieldEnvelope
	}
	if opts.BodyStructure != nil {
		want |= store.FieldBodyStructure
	}
	return s.view.Mailbox().ReadBatch(uids, want)
}

func (s *session) writeFetch(w *imapserver.FetchWriter, uid uint32, f *store.Meta, opts *imapv2.FetchOptions) error {
	seq := s.view.Seq(uid)
	if seq == 0 {
		return nil
	}
	rw := w.CreateMessage(seq)
	if opts.UID {
		rw.WriteUID(imapv2.UID(uid))
	}
	if opts.Flags {
		rw.WriteFlags(toIMAPFlags(f.Flags, s.view.IsRecent(uid)))
	}
	if opts.InternalDate {
		rw.WriteInternalDate(f.InternalDate)
	}
	if opts.RFC822Size {
		rw.WriteRFC822Size(f.CRLFSize)
	}
	if opts.Envelope {
		rw.WriteEnvelope(s.env.convert(f.Envelope))
	}
	if opts.BodyStructure != nil {
		rw.WriteBodyStructure(toIMAPBody(f.Body))
	}
	if len(opts.BodySection) > 0 || len(opts.BinarySection) > 0 || len(opts.BinarySectionSize) > 0 {
		if err := s.writeSections(rw, f, opts); err != nil {
			rw.Close()
			return err
		}
	}
	return rw.Close()
}

// writeSections sends body sections. BODY[] streams from the file with
// its size from the index; other sections are cut from the message in
// memory.
func (s *session) writeSections(rw *imapserver.FetchResponseWriter, f *store.Meta, opts *imapv2.FetchOptions) error {
	var whole []byte
	load := func() ([]byte, error) {
		if whole != nil {
			return whole, nil
		}
		r, err := s.view.Mailbox().Open(f.Message)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		whole = b
		return b, err
	}
	for _, bs := range opts.BodySection {
		full := len(bs.Part) == 0 && bs.Specifier == imapv2.PartSpecifierNone && bs.Partial == nil
		if full && whole == nil {
			r, err := s.view.Mailbox().Open(f.Message)
			if err != nil {
				return s.sectionErr(err)
			}
			wc := rw.WriteBodySection(bs, f.CRLFSize)
			n, err := io.Copy(wc, io.LimitReader(r, f.CRLFSize))
			r.Close()
			if err == nil && n < f.CRLFSize {
				// The file shrank behind our back: pad, so the literal
				// keeps the size it announced and the stream stays in sync.
				_, err = io.Copy(wc, io.LimitReader(zeroSpace{}, f.CRLFSize-n))
			}
			if cerr := wc.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			continue
		}
		b, err := load()
		if err != nil {
			return s.sectionErr(err)
		}
		sec := imapserver.ExtractBodySection(bytes.NewReader(b), bs)
		wc := rw.WriteBodySection(bs, int64(len(sec)))
		wc.Write(sec)
		if err := wc.Close(); err != nil {
			return err
		}
	}
	for _, bs := range opts.BinarySection {
		b, err := load()
		if err != nil {
			return s.sectionErr(err)
		}
		sec := imapserver.ExtractBinarySection(bytes.NewReader(b), bs)
		wc := rw.WriteBinarySection(bs, int64(len(sec)))
		wc.Write(sec)
		if err := wc.Close(); err != nil {
			return err
		}
	}
	for _, bss := range opts.BinarySectionSize {
		b, err := load()
		if err != nil {
			return s.sectionErr(err)
		}
		rw.WriteBinarySectionSize(bss, imapserver.ExtractBinarySectionSize(bytes.NewReader(b), bss))
	}
	return nil
}

func (s *session) sectionErr(err error) error {
	if errors.Is(err, folder.ErrGone) {
		return no(imapv2.ResponseCode("EXPUNGEISSUED"), "message was removed by another program")
	}
	return mapErr(s.log, "fetch body", err)
}

type zeroSpace struct{}

func (zeroSpace) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}
