// Package auth is the user database: a Dovecot-compatible passwd-file,
// password hashing and verification, and a cache of verified passwords.
//
// Invariants:
//   - The file is never written in place: a new version is written beside
//     it, fsynced, and renamed over it, so a crash leaves the old or the
//     new file, never a torn one.
//   - Verify returns ErrAuthFailed alike for an unknown user and a wrong
//     password, and spends about the same time on both.
//   - The cache only ever remembers successes, keyed by an HMAC of user,
//     password and the stored hash under a per-process key: a changed
//     password or hash misses the cache by construction, and the cache
//     never holds a password.
package auth
