// Package auth is the user database and the login policy: Dovecot-
// compatible passwd-files (one for every user, or one per domain),
// password hashing and verification (bounded in parallelism), a cache of
// verified passwords, the networks trusted with cleartext passwords, and
// the Authenticator every protocol logs in through: username_format,
// local domains, master users, SCRAM-SHA-256 and the throttle on failed
// logins.
//
// # Users and domains
//
// A user's Name is "alice" (a plain user) or "alice@example.org" (a
// full-address user); ValidName allows at most one '@', with text on
// both sides. users.file is one file holding both kinds, or, with %d in
// its file name ("users/%d", Dovecot's /etc/dovecot/users/%d), one file
// per domain whose lines name users by local part or full address, every
// name then a full address. A domain reaches a path only after
// validDomain (lower-case letters, digits, '-', '_', dots between labels):
// login names and recipients are untrusted.
//
// A login or recipient "alice@D" is the full-address user alice@D when
// there is one, else, when D is a local domain (local_domains), the
// plain user alice; plain names are taken as they are. Logins pass
// through username_format first (%Lu: lower case).
//
// Store paths: a user's store is mail/<Name>/ and their index
// index/<Name>/, Name as the users file spells it: mail/alice/,
// mail/alice@example.org/. One directory, never a domain directory with
// users inside, so a plain user named like a domain ("example.org") can
// never hold another user's store, and alice@a.example and
// alice@b.example are two directories. Existing stores keep their paths:
// plain users' never changed, and full-address users who could log in
// before had the same directory.
//
// # Login policy
//
// Authenticator.Password and SCRAM decide every login. The throttle
// (throttle.go) counts failures per address, per (user, address) pair
// and per user; see its comment for the rules and why an attacker cannot
// lock a user out of the addresses they use. Failures carry a Reason for
// the log (unknown user, wrong password, unusable scheme, disabled
// account, refused authorization identity, throttled); the client is
// told "authentication failed" whatever it is. Master users (a separate
// passwd-file, Dovecot's master=yes passdb) log in as an existing user
// by "user*master" or SASL authzid=user with authcid=master; any other
// authzid is refused.
//
// Invariants:
//   - The file is never written in place: a new version is written beside
//     it, fsynced, and renamed over it, so a crash leaves the old or the
//     new file, never a torn one.
//   - Verify returns ErrAuthFailed alike for an unknown user and a wrong
//     password, and spends about the same time on both; so does a
//     disabled account. SCRAM answers unknown users and users whose hash
//     cannot do SCRAM with a made-up, stable salt and fails them at the
//     proof.
//   - At most SetMaxParallel slow verifications (argon2id holds 64 MiB
//     each) run at once; the others wait in line, cancellable, holding
//     no hash memory. An unknown user's dummy hash waits the same way.
//   - A throttled login is refused before its password is looked at, and
//     before the verified-password cache (which would tell a right
//     password from a wrong one).
//   - Nothing here logs or keeps a password: the cache and the throttle
//     hold keyed HMACs of them only.
//   - Networks.Trusts decides alone whether a password may cross a
//     cleartext connection; a protocol asks it and never compares
//     addresses itself.
//   - The cache only ever remembers successes, keyed by an HMAC of user,
//     password and the stored hash under a per-process key: a changed
//     password or hash misses the cache by construction, and the cache
//     never holds a password.
//   - Memory is bounded whatever clients send: domain files are
//     remembered only when they exist, throttle tables hold at most
//     MaxEntries buckets each.
package auth
