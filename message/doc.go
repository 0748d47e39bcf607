// Package message is what storaged knows about one RFC 5322 message's
// structure, computed once when the message is stored and cached in the
// index: its canonical form (crlf.go), the IMAP ENVELOPE, the MIME body
// structure with the byte offsets of every part, and a compact binary
// encoding of both. It has no protocol writer and no file-format code.
//
// Invariants:
//   - Every size and offset counts octets of the canonical (CRLF) form,
//     which is what IMAP reports and serves.
//   - Header values are kept as raw bytes (unfolded): 8-bit, invalid
//     UTF-8 and encoded-words pass through untouched; decoding is for the
//     reader of the cache.
//   - Parsing never fails on content: any byte string is a message, and
//     malformed structure degrades to the nearest well-formed reading
//     (documented at each choice). Recursion is bounded by MaxDepth.
//   - The binary encoding starts with a version byte; a layout change
//     bumps it, and decoding an unknown version is an error, never a guess.
package message
