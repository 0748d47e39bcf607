// Package sieve is the Sieve mail filtering language (RFC 5228) with the
// extensions storaged offers: it compiles a script and runs it against
// one message, and the actions come back as data. Delivery decides what
// to do with them; ManageSieve and "storaged sieve check" use Compile for
// its errors.
//
// What it owns: the lexer (lexer.go, RFC 5228 §8.1), the parser and its
// syntax tree with line:column positions (parser.go, §8.2), the checker
// that knows every command, test, tag and require (spec.go, check.go),
// and the interpreter (interp.go and one file per family: match.go,
// strings.go, body.go, date.go, spam.go, vacation.go).
//
// Invariants:
//   - Never panics, on any script or message. Compile and Run recover
//     what would be a bug and return an error wrapping ErrInternal, so
//     the caller keeps the message; the fuzz targets hold us to it.
//   - No I/O of its own: included scripts come from Options.Loader,
//     mailboxes, duplicate memory, environment items and the clock from
//     Env. A Script is immutable after Compile and safe for concurrent
//     Runs.
//   - Bounded: script size, nesting, string lists, include depth and
//     count at compile time (Options); steps, actions, redirects,
//     variable sizes and body bytes at run time (RunLimits). Nothing
//     recurses deeper than MaxNesting, and :matches costs
//     O(pattern × value). Exceeding a run-time limit is an error wrapping
//     ErrLimit.
//   - Errors are *Error with Line and Col (columns count characters) and
//     a message that says what to change. A run-time error means "use no
//     action": the caller does the implicit keep and logs it.
//   - Actions are checked as they are added: duplicates merged (RFC 5228
//     §2.10.3; a second keep or fileinto to one mailbox takes the last
//     flags, as Pigeonhole), reject refused next to a delivery, another
//     reject or vacation (RFC 5429 §2.1), one vacation per run.
//
// Followed: RFC 5228 (core; §2.10.2 implicit keep), 5229 (variables),
// 5230 (vacation) and 6131 (vacation-seconds), 5231 (relational), 5232
// (imap4flags), 5233 (subaddress), 5173 (body), 5183 (environment), 5235
// (spamtest, spamtestplus, virustest), 5260 (date, index), 5293
// (editheader), 5429 (reject, ereject), 5490 (mailbox), 6609 (include),
// 7352 (duplicate), 3894 (copy), 4790 (comparators i;octet,
// i;ascii-casemap, i;ascii-numeric; i;unicode-casemap as simple case
// folding, without normalisation), draft-ietf-sieve-regex (Go RE2 syntax).
// RFC 2047 encoded words in header values are decoded before comparison.
//
// Where Pigeonhole (the implementation Dovecot users bring scripts from)
// and the RFCs differ, or the RFCs leave room, we do as Pigeonhole does:
// the string test compares with i;octet by default; keep is a store into
// INBOX and merges with fileinto "INBOX"; the vacation handle without
// :handle is reason, subject, from and mime marker joined; Received and
// Auto-Submitted cannot be added or deleted by editheader (edits are
// ignored); the duplicate test's default period is 12 hours. The
// comparison with Pigeonhole's sieve-test is TestPigeonholeOracle.
package sieve
