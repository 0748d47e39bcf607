// Package mbox is the mbox format beside Maildir and MH: one file per
// folder, messages one after another, each behind a From_ line.
//
// # Layout
//
// INBOX is <root>/INBOX; "A" is <root>/A and "A/B" is <root>/A.sbd/B, the
// directory of A's children named with Thunderbird's ".sbd" suffix.
// Dovecot and mutt nest plain directories (<root>/A/B), where A cannot be
// a file of messages and a directory of children at once: Dovecot calls
// such a folder \NoInferiors or \NoSelect, and IMAP clients expect to make
// children of any folder. Levels outside ASCII, and '&', are modified
// UTF-7 as in Maildir. Names come checked (folder.CheckName); a file or
// directory whose name does not decode to one is not listed. Files whose
// names start with '.' are ours (rewrite temporaries) or others'.
//
// # Records as storaged writes them
//
//	From SENDER Www Mmm dd hh:mm:ss yyyy      the From_ line: the envelope
//	                                          sender (MAILER-DAEMON when
//	                                          none), the date in UTC
//	X-Storaged-Key: 16 hex digits             the message's key
//	[X-Storaged-Unterminated: yes]            the message's last line has no
//	                                          line break: the one before the
//	                                          separator is ours
//	[Status: RO] [X-Status: AFTD]             flags: R seen; A answered,
//	[X-Keywords: a b]                         F flagged, T draft, D deleted
//	message, LF line ends, mboxrd-quoted      ^>*From  gains one '>'
//	blank line                                the separator
//
// A message is stored with LF line ends when reading it back gives its
// canonical form byte for byte (message.StorageLF); otherwise (a CR
// before CRLF) in canonical form, which reads back unchanged. A spooled
// message (folder.NewMessage.Content) is streamed into the same record,
// a line at a time, twice: once to learn its length for the intent, once
// into the file (stream.go).
//
// # Reading
//
// Reading is lenient: mboxrd, mboxo and mboxcl files from mutt, procmail
// and Dovecot, LF or CRLF, a file cut off mid-message, bytes before the
// first From_ line (kept, never a message). A separator is a From_ line
// with a date that follows a blank line (or starts the file).
// Content-Length is honoured only where it ends exactly before a blank
// line and a From_ line, or at the end of the file, as mutt and Dovecot
// check it; anywhere else it is ignored and the message ends at the next
// separator.
//
// Content (and Open, which gives it in canonical form) undoes the mboxrd
// quoting and drops the fields mbox tools keep their state in: Status,
// X-Status, X-Keywords, X-UID, X-IMAP, X-IMAPbase (Dovecot), Content-Length
// and Lines (mutt adds both to every message from the first it changes),
// and ours. A message that carries such a field of its own keeps it: we
// store it as X-Storaged-Orig-Status (and so on), quoted like From_
// lines. Messages other programs wrote lose such fields. Reading an mboxo
// file as mboxrd removes one '>' from lines the author wrote as ">From ":
// mboxo cannot tell them apart (procmail writes mboxo).
//
// # Keys and names
//
// Our messages' key is their X-Storaged-Key field, which mutt and Dovecot
// keep when they rewrite the file. A message another program wrote gets a
// CRC-64 of its From_ line and content, which neither our flag rewrites
// nor mutt's change; identical ones get ordinals (".2"). So a rescan
// after mutt appends, deletes or flags keeps the keys, and UIDs, of the
// other messages. Names are "offset:length" and go stale with every
// rewrite; Open and Stat find a stale one by key, through the last
// listing while it describes the file, else by a rescan.
//
// # Invariants
//
//   - Writers take the dotlock <file>.lock (created under a random name
//     holding our pid and a random token, then linked into place: O_EXCL
//     semantics, never a lock without a pid) and then an fcntl lock on
//     the file, the order procmail and Dovecot take them in; neomutt
//     takes the fcntl lock alone. A lock another program holds longer
//     than Store.LockWait (default 10 s) is ErrLocked, which is
//     folder.ErrLocked: delivery answers 451 4.2.0, IMAP NO [INUSE].
//     Readers take a shared fcntl lock. A dotlock is broken when its pid
//     is gone, when it is ours from before this process started (a
//     container's pid 1, restarted), or when it is five minutes old (a
//     link or anything but a file there: by its age alone, never
//     followed); breakers act only on the lock they judged; release
//     removes the lock only while it is still the inode we created.
//   - What a lock file says is never a reason to truncate a mailbox: a
//     user, or another program, can write anything there. Truncation
//     happens only from sizes we measured ourselves under our own lock:
//     a failed write is cut back at once; and Append records the sizes
//     before and after, the file's inode and the lock's token in a
//     journal (journal.go) in Store.StateDir, outside the store where
//     the user cannot write, and makes it and the lock durable before it
//     writes. Whoever breaks the lock of a storaged that died mid-append
//     (the token in the lock is the journal's) cuts the partial message
//     off: an append is all there or not at all, after a kill and after
//     a power loss. Without a StateDir nothing is recorded and a torn
//     append stays, read as a message. The cut is skipped when the file
//     is another inode now, and when another message follows the partial
//     one (neomutt, ignoring our dotlock, appended after it): then, as
//     with any torn tail another program leaves, the partial message
//     reads as a message (its bytes are all anyone has of it) and, once
//     completed, as a new one.
//   - Every file is reached through the store's safefs.Dir (see package
//     folder). A folder file that is a link, or that has another hard
//     link (another user's mbox linked in), is no folder (ErrNotFound):
//     never read, appended to, rewritten or cut. A .sbd directory that
//     is a link is none either.
//   - Before appending, the file's last message is ended as a reader sees
//     it: a blank line is added when missing, a line break too when the
//     file ends mid-line (that message then gains it; no reader could
//     keep it without).
//   - Flag changes wait in memory (SetFlags) for Flush; Flush and Remove
//     rewrite the file once, under both locks: a temporary file in the
//     same directory (of random name, created O_EXCL: nothing planted
//     is written through), fsynced, renamed over the old one, the
//     directory fsynced. A crash leaves the old file or the new one.
//     Every record is written again from its content, so the new file is
//     mboxrd with our state fields, and reads as the old one did; bytes
//     before the first message and the file's mode are kept. The
//     replaced file stays fcntl-locked for 30 s: mutt opens a mailbox
//     before it locks it, and one that opened the old file would
//     otherwise append to a file no name leads to; held, it gives up and
//     says so. A rewrite costs the whole file (0.25 s for 40 MB): Maildir
//     suits large, busy folders better.
//   - The last listing is reused (a Scan costs a stat) only while the
//     file's token is unchanged and no change can hide behind it: the
//     listing was of bytes we wrote ourselves under the locks, or was read
//     when the file's mtime was already settled.
package mbox
