// Package migrate brings a user's mail in from another store: an mbox
// file or tree, a Maildir or Maildir++ tree (Dovecot's, with its
// dovecot-uidlist, dovecot-keywords and subscriptions, in either of its
// layouts: Maildir++ or LAYOUT=fs, recognised on disk), an MH tree, and
// another server over IMAP or POP3 (remote.go). Every source has one
// shape: a Source lists Folders, each Folder streams its Messages, and
// Import writes them through store.Importer. Export (export.go) takes
// mail out again: Dovecot's Maildir++ with its dovecot-uidlist, so that
// UIDs survive the move back, or mbox files.
//
// Invariants:
//   - Memory is bounded by one message being read, the few whose files
//     are being written (store's importWriters), and one index batch,
//     never by a folder: sources stream (the mbox reader holds one message, and
//     cuts a file exactly as mbox.Split cuts it whole, Content-Length
//     included: FuzzMboxStream; the
//     Maildir and MH readers hold the folder's listing of names, not its
//     contents).
//   - A source is often a user's own directory, changing while it is
//     read: the path given is resolved once, and everything beneath it is
//     read without following a link (the formats' safefs.Dir; the mbox
//     reader's own): a link to another user's mail or to a system file,
//     there at listing or swapped in after, is never imported.
//   - A source is only read. (maildir.Open creates cur/new/tmp when they
//     are missing, which a Maildir source has anyway; an MH tree is opened
//     only when it has its inbox.)
//   - Re-running an import adds nothing twice (store/import.go: marks of
//     content digest and ordinal), and an interrupted run resumes where it
//     stopped. DryRun changes nothing in the target's mailboxes.
//   - Special folders map onto the account's existing Drafts, Sent, Trash,
//     Junk and Archive (by the source's attribute or a common name), never
//     to a second copy.
//   - Source UIDs and UIDVALIDITY are kept when the target folder is new
//     or empty; otherwise the message gets a new UID and keeps the POP3
//     UIDL it had (Dovecot's default form of the source UID), so POP3
//     clients fetch nothing again.
package migrate
