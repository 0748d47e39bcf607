package imap

import (
	"strings"

	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/message"
)

// ENVELOPE and BODYSTRUCTURE encoding (RFC 9051 §7.5.2, §9 envelope and
// body). Strings go through wire.Writer.String: quoted when they can be,
// a literal when they hold CR, LF, NUL or (without UTF8=ACCEPT) 8-bit
// octets. Nothing here allocates: FETCH ENVELOPE of a whole mailbox
// writes straight from the decoded cache records.

// writeNString writes s, NIL when empty: message keeps an absent field as "".
func writeNString(w *wire.Writer, s string) {
	if s == "" {
		w.Raw("NIL")
		return
	}
	w.String(s)
}

// writeEnvelope writes env (RFC 9051 §7.5.2 ENVELOPE): date, subject,
// from, sender, reply-to, to, cc, bcc, in-reply-to, message-id. A nil
// envelope (a record without one) is all NIL.
func writeEnvelope(w *wire.Writer, e *message.Envelope) {
	if e == nil {
		w.Raw("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)")
		return
	}
	w.Open()
	writeNString(w, e.Date)
	w.SP()
	writeNString(w, e.Subject)
	for _, as := range [...][]message.Address{e.From, e.Sender, e.ReplyTo, e.To, e.Cc, e.Bcc} {
		w.SP()
		writeAddrs(w, as)
	}
	w.SP()
	writeNString(w, e.InReplyTo)
	w.SP()
	writeNString(w, e.MessageID)
	w.Close()
}

// writeAddrs writes an address list: (name adl mailbox host) each, the
// route (adl) kept as "@a,@b"; a group is (NIL NIL "name" NIL) before its
// members and (NIL NIL NIL NIL) after them, which message keeps as
// markers with the same empty fields.
func writeAddrs(w *wire.Writer, as []message.Address) {
	if len(as) == 0 {
		w.Raw("NIL")
		return
	}
	w.Open()
	for i := range as {
		a := &as[i]
		w.Open()
		writeNString(w, a.Name)
		w.SP()
		writeNString(w, a.Route)
		w.SP()
		writeNString(w, a.Mailbox)
		w.SP()
		writeNString(w, a.Host)
		w.Close()
	}
	w.Close()
}

// writeParams writes body-fld-param: NIL or ("name" "value" ...).
func writeParams(w *wire.Writer, ps []message.Param) {
	if len(ps) == 0 {
		w.Raw("NIL")
		return
	}
	w.Open()
	for i, p := range ps {
		if i > 0 {
			w.SP()
		}
		w.String(p.Name)
		w.SP()
		w.String(p.Value)
	}
	w.Close()
}

// writeExt writes what BODYSTRUCTURE adds after body-fld-md5 (single
// part) or body-fld-param (multipart): disposition, language, location.
func writeExt(w *wire.Writer, p *message.Part) {
	w.SP()
	if p.Disposition == "" {
		w.Raw("NIL")
	} else {
		w.Open()
		w.String(p.Disposition)
		w.SP()
		writeParams(w, p.DispositionParams)
		w.Close()
	}
	w.SP()
	if len(p.Language) == 0 {
		w.Raw("NIL")
	} else {
		w.Open()
		for i, l := range p.Language {
			if i > 0 {
				w.SP()
			}
			w.String(l)
		}
		w.Close()
	}
	w.SP()
	writeNString(w, p.Location)
}

func isMessagePart(p *message.Part) bool {
	return strings.EqualFold(p.Type, "message") && (strings.EqualFold(p.Subtype, "rfc822") || strings.EqualFold(p.Subtype, "global"))
}

// opaqueMessageBody stands in for the message of a message/rfc822 part
// that was not parsed (base64-encoded, or nested too deep): the grammar
// wants an envelope and a body, so they are empty ones, as Dovecot sends.
var opaqueMessageBody = &message.Part{
	Type: "text", Subtype: "plain", Params: []message.Param{{Name: "charset", Value: "us-ascii"}}, Encoding: "7BIT",
}

// writeBody writes a body structure: BODYSTRUCTURE when ext, else the
// non-extensible BODY (RFC 9051 §7.5.2). nil (a record without one) is
// an empty text/plain part.
func writeBody(w *wire.Writer, p *message.Part, ext bool) {
	if p == nil {
		p = opaqueMessageBody
	}
	w.Open()
	if p.IsMultipart() {
		// body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
		for _, c := range p.Children {
			writeBody(w, c, ext)
		}
		w.SP()
		w.String(p.Subtype)
		if ext {
			w.SP()
			writeParams(w, p.Params)
			writeExt(w, p)
		}
		w.Close()
		return
	}
	// body-type-1part: type subtype params id description encoding size
	w.String(p.Type)
	w.SP()
	w.String(p.Subtype)
	w.SP()
	writeParams(w, p.Params)
	w.SP()
	writeNString(w, p.ID)
	w.SP()
	writeNString(w, p.Description)
	w.SP()
	if p.Encoding == "" {
		w.Raw(`"7BIT"`)
	} else {
		w.String(p.Encoding)
	}
	w.SP()
	w.Number(uint64(max(p.Size, 0)))
	switch {
	case isMessagePart(p):
		// body-type-msg: ... envelope body body-fld-lines
		w.SP()
		if p.Message != nil && p.Envelope != nil {
			writeEnvelope(w, p.Envelope)
			w.SP()
			writeBody(w, p.Message, ext)
		} else {
			writeEnvelope(w, nil)
			w.SP()
			writeBody(w, opaqueMessageBody, ext)
		}
		w.SP()
		w.Number(uint64(max(p.Lines, 0)))
	case strings.EqualFold(p.Type, "text"):
		w.SP()
		w.Number(uint64(max(p.Lines, 0)))
	}
	if ext {
		// body-ext-1part = body-fld-md5 SP body-fld-dsp SP body-fld-lang SP body-fld-loc
		w.SP()
		writeNString(w, p.MD5)
		writeExt(w, p)
	}
	w.Close()
}
