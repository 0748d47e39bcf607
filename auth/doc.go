// Package auth is the user database: a Dovecot-compatible passwd-file,
// password hashing and verification (bounded in parallelism), a cache of
// verified passwords, and the networks trusted with cleartext passwords.
//
// Invariants:
//   - The file is never written in place: a new version is written beside
//     it, fsynced, and renamed over it, so a crash leaves the old or the
//     new file, never a torn one.
//   - Verify returns ErrAuthFailed alike for an unknown user and a wrong
//     password, and spends about the same time on both.
//   - At most SetMaxParallel slow verifications (argon2id holds 64 MiB
//     each) run at once; the others wait in line, cancellable, holding
//     no hash memory. An unknown user's dummy hash waits the same way.
//   - Networks.Trusts decides alone whether a password may cross a
//     cleartext connection; a protocol asks it and never compares
//     addresses itself.
//   - The cache only ever remembers successes, keyed by an HMAC of user,
//     password and the stored hash under a per-process key: a changed
//     password or hash misses the cache by construction, and the cache
//     never holds a password.
package auth
