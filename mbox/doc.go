// Package mbox is the mbox format beside Maildir and MH: one file per
// folder, INBOX as <root>/INBOX, "A/B" as <root>/A.sbd/B (Thunderbird's
// layout, so a folder can hold messages and children at once).
//
// Records as storaged writes them:
//
//	From SENDER Www Mmm dd hh:mm:ss yyyy      the From_ line, date in UTC
//	[X-Storaged-Length: N]                    only when the message does not
//	                                          end in a line break: N octets
//	                                          of what follows are the record
//	X-Storaged-Key: 16 hex digits             the message's key (folder.Entry)
//	[Status: RO] [X-Status: AFTD]             flags, written when the file is
//	[X-Keywords: a b]                         rewritten
//	message, mboxrd-quoted                    ^>*From  gains one '>'
//	blank line                                the separator
//
// Reading is lenient: mboxrd, mboxo and mboxcl files from mutt, procmail
// and Dovecot, LF or CRLF, a file cut off mid-message. A separator is a
// From_ line with a date that follows a blank line (or starts the file).
// Content-Length is honoured only where it ends exactly before a blank
// line and a From_ line (or the end of the file), as mutt and Dovecot
// check it; otherwise the message ends at the next separator.
//
// Content drops the fields mbox tools keep their state in (Status,
// X-Status, X-Keywords, X-UID, X-IMAP, X-IMAPbase, Content-Length and
// ours) from the message's header, as Dovecot does, and undoes the
// mboxrd quoting. A message that carries such a field of its own keeps
// it: we store it as X-Storaged-Orig-Status (and so on), quoted like
// From_ lines. Messages other programs wrote lose such fields. Reading an
// mboxo file as mboxrd removes one '>' from lines the author wrote as
// ">From ": mboxo cannot tell them apart.
//
// Keys: ours are the X-Storaged-Key field; a message another program
// wrote gets a CRC-64 of its From_ line and content (plus an ordinal for
// identical ones), which flag rewrites leave alone, so a rescan after
// mutt appends or deletes keeps the keys (and UIDs) of the others.
// Names are "offset:length", checked on use and found again by key when
// stale.
//
// Invariants:
//   - Writers take the dotlock <file>.lock (O_EXCL) and then an fcntl
//     lock, as mutt, procmail and Dovecot do; a lock another program
//     holds longer than the store's LockWait is folder.ErrLocked (LMTP
//     451 4.2.0). A dotlock whose process is gone, or older than five
//     minutes, is broken. Readers take a shared fcntl lock.
//   - Append writes at the end of the file and fsyncs it. Before writing
//     it records in the dotlock (fsynced) the size before and after, so
//     that whoever breaks the lock of a storaged that died mid-append
//     cuts the partial message off: no torn message is ever read.
//   - Flag changes (Flush) and expunges (Remove) rewrite the file into a
//     temporary file in the same directory, fsynced, renamed over the old
//     one, directory fsynced: a crash leaves the old file or the new one.
//     A rewrite costs the whole file; Maildir suits large, busy folders
//     better.
package mbox
