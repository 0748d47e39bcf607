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
//   - A message the front end kept (DeliverMessage, spooled.go) is
//     delivered as two pieces, its trace fields in memory and the spool
//     after them, stored as the same octets Deliver stores; nothing
//     delivered keeps a reference to the spool's memory past the store's
//     return (the format copies it into the stored form). Sieve reads a
//     copy in memory joined whole, as Deliver's; a spooled message is
//     never held whole: Sieve reads its header and a bounded body
//     prefix, its size whole.
//   - Every failure is an *Error of a known Kind; internal causes are
//     wrapped for the log, never shown to the peer.
//   - Sieve (sieve.go) never loses mail: a script that does not compile
//     or fails at run time, a fileinto that cannot be done, a redirect
//     that cannot be sent all end in an INBOX copy and a log line with
//     the user. Only reject (RFC 5429, 550 5.7.1) and discard store
//     nothing, because the script said so.
//   - Mail Sieve sends (redirect, vacation) leaves only after every copy
//     is stored, so a store failure the MTA retries sends nothing twice;
//     vacation and duplicate memory are written after that (RFC 7352
//     §3.1: a message not delivered is not a duplicate later).
//   - Editheader changes reach the stored copy and the redirected one;
//     vacation replies carry Auto-Submitted: auto-replied, In-Reply-To
//     and References and go from the null path (RFC 3834 §3).
package delivery
