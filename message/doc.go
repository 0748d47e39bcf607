// Package message is what storaged knows about the structure of one RFC
// 5322 message, computed once when the message is stored and cached in
// the index: its canonical form (crlf.go), the IMAP ENVELOPE, the MIME
// body structure with the byte offsets of every part, and a compact
// binary encoding of both. It has no protocol writer and no file-format
// code; the IMAP layer turns Envelope and Part into responses, and cuts
// BODY[1.2.MIME], BODY[1.2.HEADER] or BODY[1.2] out of the stored message
// with the offsets, without parsing it again.
//
// Invariants:
//   - Every size and offset counts octets of the canonical form (CRLF line
//     ends, see crlf.go), which is what IMAP reports and serves. Parse
//     reads canonical input; lines are split at LF only, so a bare CR is
//     an ordinary byte.
//   - Header values are kept as raw bytes, unfolded (the line breaks of
//     folding removed, RFC 5322 §2.2.3) and trimmed: 8-bit, NUL, invalid
//     UTF-8 and encoded-words pass through untouched, and decoding them is
//     for whoever reads the cache. Only RFC 2231 parameter values are
//     decoded, where well-formed, into one UTF-8 value.
//   - Parsing never fails on content: any byte string is a message, and
//     malformed structure degrades to the nearest well-formed reading.
//     Memory is one line and the header fields the ENVELOPE and
//     BODYSTRUCTURE need, each capped (MaxFieldSize, MaxHeaderSize);
//     nesting (MaxDepth) and the number of parts (MaxParts) are bounded,
//     and nothing recurses on input.
//   - The binary encodings begin with a version byte. A layout change
//     bumps it; the decoder keeps reading the versions still in indexes
//     and refuses unknown ones rather than guess.
//
// Choices where the RFCs leave room, following Dovecot (the server IMAP
// compliance suites are written against) unless said otherwise:
//   - The first field of a name counts: a second From, Subject or
//     Content-Type is ignored. A header line without a colon is skipped;
//     only an empty line ends a header. The top-level envelope still
//     records which of its fields the header has, and which exactly once
//     (Envelope.Field), so that SEARCH HEADER can skip the file.
//   - Sender and Reply-To are From when absent or empty (RFC 9051
//     §7.5.2). An address without a domain or local part gets
//     MISSING_DOMAIN or MISSING_MAILBOX; a bare "user@host (Name)" takes
//     its comment as the display name.
//   - A delimiter line is "--" boundary, optionally "--", then only white
//     space (RFC 2046 §5.1.1), tested innermost boundary first; the line
//     break before it belongs to it.
//   - A multipart without a boundary parameter, or nested deeper than
//     MaxDepth, is one opaque part of its declared type (no Children). A
//     multipart whose boundary never comes gets one empty text/plain
//     child, since IMAP needs at least one. A missing close delimiter ends
//     the last part at the end of the enclosing part.
//   - message/rfc822 and message/global parts are parsed (Envelope and
//     Message) unless their transfer encoding hides the message (base64,
//     quoted-printable); an empty one is a message with an empty header.
//   - Lines counts the line feeds in a body, so a MIME part's last line,
//     whose line break is the delimiter's, is not counted (Dovecot and
//     Cyrus count alike).
package message
