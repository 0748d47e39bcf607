// Package folder is the contract every on-disk mail format meets (Maildir,
// mbox, MH) and what they share: flags, stored entries, mailbox names,
// grouped fsyncs, synced writes, the canonical reader and fcntl locks.
//
// A format knows files and nothing of IMAP state: UIDs, MODSEQs and
// \Recent live in the index. The store layer owns both and keeps them in
// step.
//
// Invariants every Format keeps:
//   - Append returns only once the message and the directory entry that
//     names it are durable (file fsynced, directory fsynced). A crash before
//     that leaves no visible message or a complete one, never half of one.
//   - An Entry's Key is stable for the life of the message in that folder:
//     a flag change may change Name, never Key. The index keys on it.
//   - Open returns the message in canonical form (see message.CRLFReader),
//     whatever form it has on disk; ReadStored returns it as it was
//     received (message.StoredForm), which differs only for a message an
//     IMAP client sent in a literal8 with bare LFs.
//   - Mailbox names reaching a format have passed CheckName: no format
//     ever sees "..", an empty level or a control character.
//   - A format that cannot take a lock another program holds, in the time
//     it is given, returns ErrLocked: a temporary failure, never a loss.
package folder
