// Package maildir is the Maildir++ format: one user's folders as
// directories of message files, the layout Dovecot, Courier, mutt and
// procmail share.
//
// Layout under the store root (Maildir++; Dovecot's LAYOUT=fs, folders
// as nested directories, is in layout.go):
//
//	cur/ new/ tmp/            INBOX
//	.Sent/{cur,new,tmp}       "Sent", with a maildirfolder marker file
//	.Archive.2024/            "Archive/2024"; levels outside ASCII in modified UTF-7
//	dovecot-keywords          per folder: keyword letters a..z ↔ names
//
// File names: <sec>.M<usec>P<pid>Q<n>R<64 random bits>.<host>,S=<size>,W=<crlf size>
// (then ,H=<CRC-32C of the stored octets, 8 hex digits> when written
// under an FSSync) followed, in cur/, by ":2," and the flag letters in ASCII order (D F P R
// S T, then keyword letters). The part before ":2," is the Key. The R
// field (the spec's random number) makes the name of a file being
// written in tmp/ impossible to guess and plant first.
//
// Invariants:
//   - A message is written in tmp/, fsynced, and moved into new/ or cur/
//     with a rename that never replaces an existing file; the target
//     directory is fsynced before Append returns. Under an FSSync
//     (folder.Options) the file is not fsynced before the rename; its
//     name then ends ",H=<CRC-32C>" and one syncfs that began after the
//     rename makes both durable before SyncAppended returns; Torn tells a
//     file a crash left named but not written out.
//   - Messages are stored with LF line ends when that is lossless
//     (message.StorageLF), else exactly as received; Open always yields
//     the canonical CRLF form, ReadStored the form received. A spooled
//     message (NewMessage.Content) is streamed into tmp/ in that same
//     form (its size, for the name's S= and W=, known beforehand); a
//     Content in memory is put into it in one pass (AppendStored), its
//     head and body never joined in a copy of their own first.
//   - Remove unlinks and fsyncs before it returns, so an expunge recorded
//     afterwards in the index can never be undone by a crash.
//   - Scan reads new/ before cur/: a file another program moves from new/
//     to cur/ during the scan is seen in one or the other.
//   - Every file is reached through the store's safefs.Dir (see package
//     folder): a folder, cur/, new/ or tmp/ that is a link is no folder
//     (ErrNotFound); a message name that is a link, a FIFO or a
//     directory is not listed and does not open (ErrGone). Files beside
//     the messages are replaced by a new file renamed over them
//     (dovecot-keywords, .storaged-adopted) or created O_EXCL and left
//     alone when there (maildirfolder): a link planted at any of them,
//     or at their old temporary names, is never written through.
//     Dovecot's dovecot-uidlist, dovecot-keywords and subscriptions are
//     read only when they are regular files.
package maildir
