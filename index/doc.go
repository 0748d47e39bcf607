// Package index is the bbolt database that holds a user's IMAP state: the
// truth about UIDs, flags and MODSEQs, while the folder formats hold the
// message bytes. It knows no protocol and no file format.
//
// Schema (one DB per user, one process per DB):
//
//	meta/                 version, last UIDVALIDITY handed out, totals
//	names/<name>          → mailbox id (8 bytes, big endian)
//	subs/<name>           subscriptions, independent of mailboxes (RFC 9051 §6.3.7)
//	mbx/<id>/info         the Mailbox record
//	mbx/<id>/m/<uid>      Message record (uid: 4 bytes big endian)
//	mbx/<id>/k/<key>      → uid: the folder key, for sync
//	mbx/<id>/e/<uid>      cached ENVELOPE (message package encoding)
//	mbx/<id>/b/<uid>      cached BODYSTRUCTURE
//	mbx/<id>/t/<uid>      → MODSEQ at expunge: tombstones for QRESYNC
//	mbx/<id>/i/<mark>     → uid: import marks, and the import high-water (adopt.go)
//	mbx/<id>/md/<entry>   the mailbox's METADATA entries (RFC 5464)
//	md/<entry>            the server's METADATA entries
//	sv/<kind>\0<key>      → expiry: Sieve vacation and duplicate memory (sievemem.go)
//
// Invariants:
//   - UIDNEXT only grows; a UID, once handed out inside a UIDVALIDITY, is
//     never handed out again, even after its message is expunged.
//   - Every change to a message or mailbox takes a new MODSEQ, greater
//     than the mailbox's HIGHESTMODSEQ before it.
//   - Totals (per mailbox and per user) change in the same transaction as
//     the messages they count.
//   - A new UIDVALIDITY is greater than every one this DB handed out
//     before, and taken from the clock, so that a DB rebuilt after loss
//     gives values no client has seen.
//   - Write transactions go through Commit, which shares one bbolt commit
//     (two fdatasyncs) among writers that queue while another commits.
package index
