// Package lmtp is the LMTP front end (RFC 2033): go-smtp in LMTP mode,
// with per-recipient replies from the delivery package.
//
// Invariants:
//   - A 250 for a recipient is sent only after delivery.Deliver returned
//     nil for it, i.e. after the copy is fsynced and indexed.
//   - One reply per accepted RCPT, in RCPT order (RFC 2033 §4.2); a
//     failure for one recipient never changes another's reply.
//   - delivery.Kind is mapped to SMTP codes here and nowhere else.
//   - Shutdown refuses new transactions and waits for those in flight:
//     a message whose upload finished is delivered and answered.
package lmtp
