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
//     A BatchAppender's AppendUnsynced stops before the directory fsync,
//     which SyncAppended then makes for a whole batch; the file itself is
//     fsynced before it is renamed into place, so the half-of-one rule holds.
//     Under an FSSync a format may rename first and let one syncfs cover
//     file and name; then its names must let a Verifier tell a torn file,
//     which the store removes before anyone is shown it.
//   - An Entry's Key is stable for the life of the message in that folder:
//     a flag change may change Name, never Key. The index keys on it.
//   - Open returns the message in canonical form (see message.CRLFReader),
//     whatever form it has on disk; ReadStored returns it as it was
//     received (message.StoredForm), which differs only for a message an
//     IMAP client sent in a literal8 with bare LFs.
//   - A NewMessage with Content (a delivery's copy: a head, then the
//     received message) is stored as the same octets as one whose Data
//     holds them; a spooled one streamed, never read into memory whole,
//     its sizes (Content.StoredSize) known before the first write. One
//     whose body is in memory may be streamed the same way, or put into
//     its stored form in a buffer of the format's own
//     (Content.AppendStored); nothing a format keeps past Append may
//     alias the body, the spool's memory, which a pool takes back.
//   - Mailbox names reaching a format have passed CheckName: no format
//     ever sees "..", an empty level or a control character.
//   - A format that cannot take a lock another program holds, in the time
//     it is given, returns ErrLocked: a temporary failure, never a loss.
//   - The user whose store it is may change it at any moment, links
//     included, while the server runs as root. So a format reaches every
//     file beneath its root through a safefs.Dir (internal/safefs): no
//     symbolic link is ever followed, at any component, and no check is
//     separated from its use (each call resolves the whole name).
//     Temporary and new files are created O_EXCL under names no one can
//     guess; a file is replaced by a new one renamed over it, never
//     written through; a message file with other hard links is read only
//     where the kernel guarantees the user could read it anyway
//     (OpenRaw). A link, or anything but a regular file, where a message
//     should be is ErrGone; where a mailbox should be, ErrNotFound
//     (Missing tells which errors mean that).
package folder
