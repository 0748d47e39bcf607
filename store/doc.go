// Package store is a user's account: their mailboxes, kept in step between
// the folder format (which holds the message bytes) and the index (which
// holds UIDs, flags and MODSEQs), and the change hub that tells every
// session of one account what the others did.
//
// Invariants (check every change against them):
//   - Append: the file and its directory entry are durable (folder.Append,
//     or AppendUnsynced then SyncAppended for a folder.BatchAppender,
//     batched per mailbox in appendbatch.go) before the index commit, and
//     the index commit is durable before Append returns, except for an
//     early append (AppendOptions.Early, LMTP, into a BatchAppender),
//     which returns once the name is durable; its commit follows
//     (lazycommit.go), and until it is over the message's key stays
//     pending, its quota reserved, its event unpublished, and every Sync,
//     Info, Snapshot and ForEach of the mailbox waits for it. A crash
//     before the commit leaves a file the index does not know; the next
//     Sync gives it the next UID, and no UID was shown before, so none is
//     reused. Nothing acknowledged is lost. No lock that finishing a
//     commit takes (qmu, pmu, amu, lmu, the hub's) is held while waiting
//     for one (lazycommit.go). AppendContent (a
//     spooled message) keeps the same order; it only streams what Append
//     has in memory: the parse for the cache and the format's write.
//     An index commit that fails leaves the file for the next Sync,
//     except for a full disk (ENOSPC, EDQUOT): the caller is answered
//     452 / NO [OVERQUOTA] and sends again, so the file is removed while
//     its key is still pending (appendStaged), or the retry would make a
//     second copy once space returns.
//   - A file a Sync finds that the index does not know is first asked
//     of the format (folder.Verifier): a Maildir file written under an
//     FSSync whose size or CRC-32C is not what its name records was cut
//     short by a crash before its append returned (nothing acknowledged
//     it), and is removed, never indexed (sync.go dropTorn).
//   - Remove: files go first, then the index. A crash in between leaves
//     index entries without files, which Sync expunges. An expunged message
//     can never come back under a new UID.
//   - A key being appended is in the mailbox's pending set from before its
//     file becomes visible until after its index commit, and Sync never
//     adopts a pending key: no message gets two UIDs.
//   - Sync, flag changes and expunges of one mailbox hold that mailbox's
//     write lock; appends do not (they would serialise deliveries) and rely
//     on the pending set instead.
//   - Events are published only after the index commit they describe.
//   - One Account per user per process; its index has one open handle.
//   - An account opens in the format of the store already on disk
//     (Format.Owns), never in another one the configuration names.
//   - Protocol packages read through read.go (ReadBatch, Message,
//     ForEach, Snapshot, Tombstones): plain values from one snapshot each,
//     so no index type or bbolt transaction reaches them and nothing
//     writes to a connection while a transaction is open.
//   - Flags another program changes are taken over from Scan when the
//     entry's Name changed (Maildir names, mbox offsets), or, for formats
//     that implement folder.PartialFlags (MH), when the flags they record
//     differ; only the flags the format records are taken over.
//   - UIDs another server gave (dovecot-uidlist, an import source) are
//     kept only for a mailbox the index did not know or an empty one, and
//     never when a message or tombstone holds the UID (adopt.go,
//     import.go); a folder's uidlist is applied at most once (its mark).
package store
