package legacy

import (
	"bytes"
	"io"
	"mime"
	"strings"
	"time"

	imapv2 "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"

	"github.com/storaged/storaged/message"
	"github.com/storaged/storaged/store"
)

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// candidate is one message under test, loading its bytes only if a
// criterion needs them.
type candidate struct {
	s      *session
	seq    uint32
	msg    store.Message
	raw    []byte
	loaded bool
	hdr    message.Header
	text   string // decoded body text, lower case
	textOK bool
}

func (c *candidate) bytes() []byte {
	if !c.loaded {
		c.loaded = true
		if r, err := c.s.view.Mailbox().Open(c.msg); err == nil {
			c.raw, _ = io.ReadAll(r)
			r.Close()
		}
	}
	return c.raw
}

func (c *candidate) header() message.Header {
	if c.hdr == nil {
		info := c.bytes()
		end := bytes.Index(info, []byte("\r\n\r\n"))
		if end < 0 {
			end = len(info)
		}
		c.hdr = message.ParseHeaderBlock(info[:end])
		if c.hdr == nil {
			c.hdr = message.Header{}
		}
	}
	return c.hdr
}

// bodyText decodes text parts (transfer encoding and charset), so that
// SEARCH BODY finds words in base64 and quoted-printable text.
func (c *candidate) bodyText() string {
	if c.textOK {
		return c.text
	}
	c.textOK = true
	raw := c.bytes()
	var b strings.Builder
	ent, err := gomessage.Read(bytes.NewReader(raw))
	if err == nil || gomessage.IsUnknownCharset(err) || gomessage.IsUnknownEncoding(err) {
		ent.Walk(func(_ []int, part *gomessage.Entity, err error) error {
			if err != nil || part.MultipartReader() != nil {
				return nil
			}
			t, _, _ := part.Header.ContentType()
			if t == "" || strings.HasPrefix(t, "text/") || strings.HasPrefix(t, "message/") {
				io.Copy(&b, io.LimitReader(part.Body, 32<<20))
				b.WriteByte('\n')
			}
			return nil
		})
	}
	if b.Len() == 0 {
		if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
			b.Write(raw[i+4:])
		}
	}
	c.text = strings.ToLower(b.String())
	return c.text
}

func decodeHeader(v string) string {
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		return d
	}
	return v
}

func containsFold(hay, needle string) bool {
	return strings.Contains(strings.ToLower(hay), strings.ToLower(needle))
}

func (c *candidate) match(cr *imapv2.SearchCriteria) bool {
	v := c.s.view
	uid := c.msg.UID
	for _, set := range cr.SeqNum {
		if !seqSetContains(set, c.seq, uint32(v.Len())) {
			return false
		}
	}
	for _, set := range cr.UID {
		if !uidSetContains(set, uid, v.UIDs()) {
			return false
		}
	}
	day := func(t time.Time) time.Time { y, m, d := t.Date(); return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	if !cr.Since.IsZero() && day(c.msg.InternalDate).Before(day(cr.Since)) {
		return false
	}
	if !cr.Before.IsZero() && !day(c.msg.InternalDate).Before(day(cr.Before)) {
		return false
	}
	if !cr.SentSince.IsZero() || !cr.SentBefore.IsZero() {
		v, _ := c.header().Get("Date")
		sent, ok := message.ParseDate(v)
		if !ok {
			// RFC 9051 §6.4.4: without a usable Date, use INTERNALDATE.
			sent = c.msg.InternalDate
		}
		if !cr.SentSince.IsZero() && day(sent).Before(day(cr.SentSince)) {
			return false
		}
		if !cr.SentBefore.IsZero() && !day(sent).Before(day(cr.SentBefore)) {
			return false
		}
	}
	for _, f := range cr.Flag {
		if !c.hasFlag(f) {
			return false
		}
	}
	for _, f := range cr.NotFlag {
		if c.hasFlag(f) {
			return false
		}
	}
	if cr.Larger > 0 && c.msg.CRLFSize <= cr.Larger {
		return false
	}
	if cr.Smaller > 0 && c.msg.CRLFSize >= cr.Smaller {
		return false
	}
	for _, h := range cr.Header {
		found := false
		for _, f := range c.header() {
			if strings.EqualFold(f.Name, h.Key) && (h.Value == "" || containsFold(decodeHeader(f.Value), h.Value) || containsFold(f.Value, h.Value)) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, s := range cr.Body {
		if !strings.Contains(c.bodyText(), strings.ToLower(s)) {
			return false
		}
	}
	for _, s := range cr.Text {
		inHeader := false
		for _, f := range c.header() {
			if containsFold(decodeHeader(f.Value), s) || containsFold(f.Name, s) {
				inHeader = true
				break
			}
		}
		if !inHeader && !strings.Contains(c.bodyText(), strings.ToLower(s)) {
			return false
		}
	}
	for i := range cr.Not {
		if c.match(&cr.Not[i]) {
			return false
		}
	}
	for i := range cr.Or {
		if !c.match(&cr.Or[i][0]) && !c.match(&cr.Or[i][1]) {
			return false
		}
	}
	return true
}

func (c *candidate) hasFlag(f imapv2.Flag) bool {
	if strings.EqualFold(string(f), `\Recent`) {
		return c.s.view.IsRecent(c.msg.UID)
	}
	for _, s := range sysFlags {
		if strings.EqualFold(string(f), string(s.flag)) {
			return c.msg.Flags.Sys.Has(s.f)
		}
	}
	for _, k := range c.msg.Flags.Keywords {
		if strings.EqualFold(k, string(f)) {
			return true
		}
	}
	return false
}

func seqSetContains(set imapv2.SeqSet, seq, max uint32) bool {
	for _, r := range set {
		lo, hi := r.Start, r.Stop
		if lo == 0 {
			lo = max
		}
		if hi == 0 {
			hi = max
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if seq >= lo && seq <= hi {
			return true
		}
	}
	return false
}

func uidSetContains(set imapv2.UIDSet, uid uint32, uids []uint32) bool {
	last := uint32(0)
	if len(uids) > 0 {
		last = uids[len(uids)-1]
	}
	for _, r := range set {
		lo, hi := uint32(r.Start), uint32(r.Stop)
		if lo == 0 {
			lo = last
		}
		if hi == 0 {
			hi = last
		}
		if lo > hi {
			lo, hi = hi, lo
		}
		if uid >= lo && uid <= hi {
			return true
		}
	}
	return false
}

func (s *session) Search(kind imapserver.NumKind, cr *imapv2.SearchCriteria, opts *imapv2.SearchOptions) (*imapv2.SearchData, error) {
	mb := s.view.Mailbox()
	uids := s.view.UIDs()
	// A message expunged elsewhere and not yet reported comes back with
	// Found false and matches nothing.
	msgs, err := mb.ReadBatch(uids, 0)
	if err != nil {
		return nil, mapErr(s.log, "search", err)
	}
	data := &imapv2.SearchData{}
	var seqs imapv2.SeqSet
	var uidset imapv2.UIDSet
	for i, m := range msgs {
		c := &candidate{s: s, seq: uint32(i + 1), msg: m.Message}
		if !m.Found || !c.match(cr) {
			continue
		}
		n := c.seq
		if kind == imapserver.NumKindUID {
			n = m.UID
			uidset.AddNum(imapv2.UID(m.UID))
		} else {
			seqs.AddNum(c.seq)
		}
		if data.Min == 0 || n < data.Min {
			data.Min = n
		}
		if n > data.Max {
			data.Max = n
		}
		data.Count++
	}
	if kind == imapserver.NumKindUID {
		data.All = uidset
	} else {
		data.All = seqs
	}
	return data, nil
}
