// Package delivery puts one message into one recipient's store: it
// resolves the recipient, adds the trace header fields, and appends to the
// mailbox. Every front end that brings mail in (LMTP, the deliver command,
// later import) goes through it, and it answers with a typed Error that
// each front end maps to its own codes in one place.
//
// Invariants:
//   - Deliver returns nil only after the store has made the message
//     durable and indexed (store.Mailbox.Append's contract).
//   - Trace fields are prepended; the message itself is never altered
//     beyond canonical line endings (message.Canonical).
//   - Every failure is an *Error of a known Kind; internal causes are
//     wrapped for the log, never shown to the peer.
package delivery
