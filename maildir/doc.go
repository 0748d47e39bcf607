// Package maildir is the Maildir++ format: one user's folders as
// directories of message files, the layout Dovecot, Courier, mutt and
// procmail share.
//
// Layout under the store root:
//
//	cur/ new/ tmp/            INBOX
//	.Sent/{cur,new,tmp}       "Sent", with a maildirfolder marker file
//	.Archive.2024/            "Archive/2024"; levels outside ASCII in modified UTF-7
//	dovecot-keywords          per folder: keyword letters a..z ↔ names
//
// File names: <sec>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<crlf size>
// followed, in cur/, by ":2," and the flag letters in ASCII order (D F P R
// S T, then keyword letters). The part before ":2," is the Key.
//
// Invariants:
//   - A message is written in tmp/, fsynced, and moved into new/ or cur/
//     with a rename that never replaces an existing file; the target
//     directory is fsynced before Append returns.
//   - Messages are stored with LF line ends when that is lossless
//     (message.StorageLF), else exactly as received; Open always yields
//     the canonical CRLF form, ReadStored the form received.
//   - Remove unlinks and fsyncs before it returns, so an expunge recorded
//     afterwards in the index can never be undone by a crash.
//   - Scan reads new/ before cur/: a file another program moves from new/
//     to cur/ during the scan is seen in one or the other.
package maildir
