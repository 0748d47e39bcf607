// Package legacy is the IMAP4rev2/IMAP4rev1 front end that is being replaced:
// a thin adapter from go-imap's imapserver to the store, kept until package
// imap (our own protocol layer) passes every suite it passes. The mailbox view
// (sequence numbers, \Recent, updates owed) lives in store.View.
//
// Invariants:
//   - EXAMINE is read-only in fact: every write path checks the view.
//   - Unsolicited updates come only from store.View.Updates, and EXPUNGE
//     only when imapserver says it is allowed (RFC 9051 §7.5.1).
//   - FLAGS, sizes, dates, ENVELOPE and BODYSTRUCTURE come from the
//     index; message files are opened only for body sections and text
//     searches.
//   - Store errors are mapped to NO/BAD responses here and nowhere else.
package legacy
