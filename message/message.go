package message

import (
	"strings"
	"time"
)

// Limits that keep hostile input from costing more than its size. Each
// is far above anything real mail needs; what happens past it is part of
// the contract (see doc.go).
const (
	// MaxDepth bounds MIME nesting (multipart children and message/rfc822
	// bodies each add one level; the root is level 0). A multipart or
	// message/rfc822 part at this depth is kept as an opaque leaf of its
	// declared type, as Dovecot does past its nesting limit.
	MaxDepth = 100
	// MaxParts bounds the parts of one message. When it is reached no
	// more boundaries are looked for: the rest of the message belongs to
	// the part being read. 10,000 real parts still fit.
	MaxParts = 20000
	// MaxFieldSize bounds what is kept of one header field's value;
	// longer values are cut (the offsets still count every byte).
	MaxFieldSize = 64 << 10
	// MaxHeaderSize bounds what is kept of one header block.
	MaxHeaderSize = 1 << 20
	// MaxBoundary is the longest multipart boundary honoured (RFC 2046
	// allows 70). A multipart with a longer one is an opaque leaf.
	MaxBoundary = 1024
)

// Placeholders for parts an address lacks, as Dovecot writes them, so a
// bare local part is never taken for a group marker (Host "") nor an
// empty mailbox for a group end.
const (
	MissingDomain  = "MISSING_DOMAIN"
	MissingMailbox = "MISSING_MAILBOX"
)

// Address is an IMAP ENVELOPE address (RFC 9051 §7.5.2). A group start
// marker has Mailbox = the group's name and Host = ""; a group end marker
// has every field empty. A normal address always has Mailbox and Host.
type Address struct {
	Name, Route, Mailbox, Host string
}

// IsGroupStart reports whether a is a group start marker.
func (a Address) IsGroupStart() bool { return a.Host == "" && a.Mailbox != "" }

// IsGroupEnd reports whether a is a group end marker.
func (a Address) IsGroupEnd() bool { return a == Address{} }

// Envelope is the IMAP ENVELOPE (RFC 9051 §7.5.2). Strings are the raw
// header values of the first field of each name, unfolded and trimmed; ""
// stands for an absent field (NIL). Sender and ReplyTo are From when
// their fields are absent or empty, as the RFC tells servers to fill them.
type Envelope struct {
	Date, Subject string
	// Time is Date parsed (ParseDate), zero when it cannot be: parsed
	// once here rather than on every FETCH or SEARCH.
	Time                               time.Time
	From, Sender, ReplyTo, To, Cc, Bcc []Address
	InReplyTo, MessageID               string
	// fields are the header facts behind Field; zero (nothing known) in
	// an embedded message's envelope and in records from before v4.
	fields headerFacts
}

// Param is one MIME parameter. Names are lower case.
type Param struct{ Name, Value string }

// Part is one node of the MIME tree: what IMAP BODYSTRUCTURE reports and
// where the part's bytes are.
type Part struct {
	// Type and Subtype are as written; absent or invalid they default to
	// text/plain (RFC 2045 §5.2), message/rfc822 inside multipart/digest
	// (RFC 2046 §5.1.5).
	Type, Subtype string
	// Params are the Content-Type parameters in order, RFC 2231
	// continuations and charsets decoded; text parts without a charset
	// get charset=us-ascii, as Dovecot and Cyrus report it.
	Params            []Param
	ID, Description   string
	Encoding          string // upper case; default 7BIT
	MD5               string
	Disposition       string
	DispositionParams []Param
	Language          []string
	Location          string
	Size              int64 // octets of the body: EndOffset-BodyOffset
	// Lines is set for text/*, message/rfc822 and message/global: the
	// number of line feeds in the body. The line break before a boundary
	// belongs to the boundary (RFC 2046 §5.1.1), so a MIME part's last
	// line is not counted unless it is followed by an empty one; Dovecot
	// and Cyrus count the same way.
	Lines int64
	// Children are a multipart's parts. A multipart without them is an
	// opaque leaf: it had no usable boundary, was nested too deep, or
	// came after MaxParts. A multipart whose boundary never occurs gets
	// one empty text/plain child, because IMAP requires one.
	Children []*Part
	// Envelope and Message describe the embedded message of a
	// message/rfc822 or message/global part; both are nil when the part
	// is opaque (a content transfer encoding other than 7bit, 8bit or
	// binary, or too deep).
	Envelope *Envelope
	Message  *Part
	// HeaderOffset, BodyOffset and EndOffset are offsets in the whole
	// canonical message: where the part's MIME header starts, where its
	// body starts (after the empty line) and where its body ends. For
	// the root and for Message they delimit the message's own header
	// and body: [HeaderOffset,BodyOffset) is BODY[x.HEADER] or
	// BODY[x.MIME], [BodyOffset,EndOffset) is BODY[x] or BODY[x.TEXT].
	HeaderOffset, BodyOffset, EndOffset int64
}

// IsMultipart reports whether p is a multipart with parts.
func (p *Part) IsMultipart() bool { return len(p.Children) > 0 }

// Param returns a Content-Type parameter's value.
func (p *Part) Param(name string) string {
	for _, x := range p.Params {
		if strings.EqualFold(x.Name, name) {
			return x.Value
		}
	}
	return ""
}

// Info is everything the index caches about a message.
type Info struct {
	Envelope Envelope
	// Body is the root part: the whole message, HeaderOffset 0.
	Body       *Part
	Size       int64 // octets of the canonical message
	HeaderSize int64 // octets of the top-level header, empty line included
	Lines      int64 // line feeds in the whole message
	Date       time.Time
}
