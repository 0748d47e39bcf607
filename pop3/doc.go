// Package pop3 is the POP3 front end (RFC 1939, CAPA and response codes
// from RFC 2449, SASL PLAIN from RFC 5034, STLS from RFC 2595, pop3s) over the same store IMAP uses.
// It owns the protocol: the command parser, the AUTHORIZATION,
// TRANSACTION and UPDATE states, dot-stuffing, and the per-user maildrop
// lock; the messages, their UIDs and the expunge all belong to store.
//
// The maildrop is the user's INBOX as it was at login: later deliveries
// wait for the next session, and a message another session expunges
// meanwhile answers RETR with -ERR.
//
// UIDL is "%08x%08x" of the message's UID and the mailbox's UIDVALIDITY:
// Dovecot's default pop3_uidl_format (%08Xu%08Xv) as Dovecot prints it,
// in lower-case hex, so the UIDLs of a store adopted from Dovecot stay
// byte-equal. A message migrated with a UIDL of its own (Dovecot's
// uidlist P field, an import) shows that one instead. It is the same for
// every storage format (Maildir, mbox and MH have no common file name to
// build one from), it survives restarts and any re-index that keeps
// UIDVALIDITY, and mailboxes migrated from Dovecot with their UIDs keep
// the UIDLs fetchmail and other clients already remember. A rebuilt index
// with a new UIDVALIDITY changes every UIDL, so clients download the
// mailbox once more rather than miss a message.
//
// Invariants:
//   - Nothing changes on disk unless the session reaches UPDATE (QUIT
//     after a successful login): a dropped connection deletes nothing.
//   - By default sessions do not lock the maildrop (Dovecot's
//     pop3_lock_session=no): two sessions of one user each see the
//     maildrop as it was at their login, a message one of them removed
//     answers the other's RETR with -ERR, and a DELE both made removes
//     it once. With LockSession at most one POP3 session per user holds
//     it (RFC 1939 §8 "exclusive-access lock"); a second one waits up to
//     LockWait, then gets -ERR [IN-USE]. IMAP sessions are never
//     excluded: the store keeps them consistent.
//   - A held maildrop is released before QUIT is answered, whatever the
//     answer, and when the connection ends in any other way (drop, idle
//     timeout, shutdown, panic): a session that is gone never keeps the
//     next one out.
//   - In UPDATE, messages marked with DELE are expunged through the store,
//     so IMAP sessions see the EXPUNGE; messages retrieved and kept get
//     \Seen, as Dovecot does by default.
//   - STLS (RFC 2595 §4) discards what was pipelined after it; in clear
//     from an untrusted network CAPA lists neither USER nor SASL and
//     USER, PASS and AUTH answer -ERR [AUTH] (tls.go).
//   - A command line is at most 255 octets (RFC 2449 §4); a longer one,
//     or 10 minutes without a command, ends the session.
package pop3
