// Package quota owns a user's limits and the decision whether a change
// fits them: the rules in Dovecot's spelling (quota_rule = *:storage=1G,
// Trash:storage=+100M, Spam:ignore), the default from the config, and the
// warning thresholds. It keeps no usage of its own: the index keeps the
// per-user totals in the same transactions as appends and expunges
// (index.Tx.Totals), and the store reserves what is in flight, so that a
// check is O(1) and concurrent appends cannot overshoot a limit.
//
// Invariants:
//   - A zero limit means none, as in Dovecot; a negative one never occurs.
//   - A check refuses a change only when it raises usage past a limit:
//     an expunge, or a MOVE that stays within the counted mailboxes, is
//     never refused, and a user already over a lowered limit can still
//     delete.
//   - A mailbox rule changes the limit that applies while saving into
//     that mailbox ("Trash:storage=+100M" lets a client move mail to
//     Trash when full); "ignore" keeps a mailbox out of usage entirely.
//   - Resources are RFC 9208 §5's STORAGE (reported in units of 1024
//     octets) and MESSAGE.
package quota
