package legacy

import (
	"strings"

	imapv2 "github.com/emersion/go-imap/v2"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/message"
)

var sysFlags = []struct {
	f    folder.SysFlags
	flag imapv2.Flag
}{
	{folder.Seen, imapv2.FlagSeen}, {folder.Answered, imapv2.FlagAnswered},
	{folder.Flagged, imapv2.FlagFlagged}, {folder.Deleted, imapv2.FlagDeleted},
	{folder.Draft, imapv2.FlagDraft},
}

// toIMAPFlags renders stored flags, plus \Recent when the session has it.
func toIMAPFlags(f folder.Flags, recent bool) []imapv2.Flag {
	out := make([]imapv2.Flag, 0, 4+len(f.Keywords))
	for _, s := range sysFlags {
		if f.Sys.Has(s.f) {
			out = append(out, s.flag)
		}
	}
	if recent {
		out = append(out, imapv2.Flag(`\Recent`))
	}
	for _, k := range f.Keywords {
		out = append(out, imapv2.Flag(k))
	}
	return out
}

// fromIMAPFlags parses client flags; \Recent cannot be set (RFC 9051
// §2.3.2) and other unknown system flags are refused.
func fromIMAPFlags(in []imapv2.Flag) (folder.Flags, error) {
	var f folder.Flags
outer:
	for _, fl := range in {
		for _, s := range sysFlags {
			if strings.EqualFold(string(fl), string(s.flag)) {
				f.Sys |= s.f
				continue outer
			}
		}
		if strings.EqualFold(string(fl), `\Recent`) {
			continue
		}
		if strings.HasPrefix(string(fl), `\`) {
			return f, badf("unknown system flag %s", fl)
		}
		f.Keywords = append(f.Keywords, string(fl))
	}
	f.Keywords = folder.NormalizeKeywords(f.Keywords)
	return f, nil
}

func toIMAPAddrs(as []message.Address) []imapv2.Address {
	return appendIMAPAddrs(nil, as)
}

// appendIMAPAddrs converts addresses into buf's spare room: FETCH
// ENVELOPE of thousands of messages reuses one buffer.
func appendIMAPAddrs(buf *[]imapv2.Address, as []message.Address) []imapv2.Address {
	if len(as) == 0 {
		return nil
	}
	var b []imapv2.Address
	if buf != nil {
		b = *buf
	}
	start := len(b)
	for _, a := range as {
		b = append(b, imapv2.Address{Name: a.Name, Mailbox: a.Mailbox, Host: a.Host})
	}
	if buf != nil {
		*buf = b
	}
	return b[start:len(b):len(b)]
}

// msgIDs splits "<a@b> <c@d>" into ids without brackets, as imapserver
// writes them back bracketed.
func msgIDs(s string) []string { return appendMsgIDs(nil, s) }

func appendMsgIDs(out []string, s string) []string {
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			break
		}
		out = append(out, s[i+1:i+j])
		s = s[i+j+1:]
	}
	return out
}

func toIMAPEnvelope(e *message.Envelope) *imapv2.Envelope {
	return new(envScratch).convert(e)
}

// envScratch holds one converted envelope and its addresses; a session
// reuses it for every message of a FETCH, since imapserver encodes the
// envelope before WriteEnvelope returns.
type envScratch struct {
	env   imapv2.Envelope
	addrs []imapv2.Address
	ids   []string
}

func (s *envScratch) convert(e *message.Envelope) *imapv2.Envelope {
	s.addrs, s.ids = s.addrs[:0], s.ids[:0]
	s.env = imapv2.Envelope{
		Date: e.Time, Subject: e.Subject,
		From: appendIMAPAddrs(&s.addrs, e.From), Sender: appendIMAPAddrs(&s.addrs, e.Sender),
		ReplyTo: appendIMAPAddrs(&s.addrs, e.ReplyTo), To: appendIMAPAddrs(&s.addrs, e.To),
		Cc: appendIMAPAddrs(&s.addrs, e.Cc), Bcc: appendIMAPAddrs(&s.addrs, e.Bcc),
	}
	s.ids = appendMsgIDs(s.ids, e.InReplyTo)
	if n := len(s.ids); n > 0 {
		s.env.InReplyTo = s.ids[:n:n]
	}
	if ids := appendMsgIDs(s.ids[len(s.ids):], e.MessageID); len(ids) > 0 {
		s.env.MessageID = ids[0]
	}
	return &s.env
}

func params(ps []message.Param) map[string]string {
	if len(ps) == 0 {
		return nil
	}
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		if _, dup := m[p.Name]; !dup {
			m[p.Name] = p.Value
		}
	}
	return m
}

func toIMAPBody(p *message.Part) imapv2.BodyStructure {
	var disp *imapv2.BodyStructureDisposition
	if p.Disposition != "" {
		disp = &imapv2.BodyStructureDisposition{Value: p.Disposition, Params: params(p.DispositionParams)}
	}
	if len(p.Children) > 0 {
		mp := &imapv2.BodyStructureMultiPart{Subtype: p.Subtype, Extended: &imapv2.BodyStructureMultiPartExt{
			Params: params(p.Params), Disposition: disp, Language: p.Language, Location: p.Location,
		}}
		for _, c := range p.Children {
			mp.Children = append(mp.Children, toIMAPBody(c))
		}
		return mp
	}
	sp := &imapv2.BodyStructureSinglePart{
		Type: p.Type, Subtype: p.Subtype, Params: params(p.Params), ID: p.ID, Description: p.Description,
		Encoding: p.Encoding, Size: uint32(min(p.Size, 1<<32-1)),
		Extended: &imapv2.BodyStructureSinglePartExt{Disposition: disp, Language: p.Language, Location: p.Location},
	}
	isMsg := strings.EqualFold(p.Type, "message") && (strings.EqualFold(p.Subtype, "rfc822") || strings.EqualFold(p.Subtype, "global"))
	switch {
	case p.Message != nil && p.Envelope != nil:
		sp.MessageRFC822 = &imapv2.BodyStructureMessageRFC822{Envelope: toIMAPEnvelope(p.Envelope), BodyStructure: toIMAPBody(p.Message), NumLines: p.Lines}
	case isMsg:
		// The grammar wants an envelope and a body for message/rfc822
		// even when it is not parsed (base64-encoded, or nested too
		// deep): give empty ones, as Dovecot does.
		sp.MessageRFC822 = &imapv2.BodyStructureMessageRFC822{Envelope: &imapv2.Envelope{},
			BodyStructure: &imapv2.BodyStructureSinglePart{Type: "text", Subtype: "plain", Params: map[string]string{"charset": "us-ascii"},
				Encoding: "7bit", Text: &imapv2.BodyStructureText{}, Extended: &imapv2.BodyStructureSinglePartExt{}},
			NumLines: p.Lines}
	case strings.EqualFold(p.Type, "text"):
		sp.Text = &imapv2.BodyStructureText{NumLines: p.Lines}
	}
	return sp
}
