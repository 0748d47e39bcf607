// Package rawlog records the protocol of chosen users' sessions, for an
// administrator debugging a client: Dovecot's rawlog. A session of a
// listed user writes, from its login on, what it reads to
// DIR/<user>/<proto>-<YYYYMMDD-HHMMSS>-<session>.in and what it writes
// to the .out beside it.
//
// Invariants:
//   - Nothing before authentication is recorded: a protocol starts a
//     trace only after the login command (and its whole SASL exchange)
//     has been answered, so no password reaches a file. Octets the
//     session read ahead but had not consumed when a trace ends
//     (UNAUTHENTICATE followed by a pipelined login) are taken out of
//     the .in again (Trace.Unread).
//   - What is recorded is the plaintext protocol: the taps sit directly
//     under the session's bufio reader and writer, above TLS and
//     COMPRESS=DEFLATE.
//   - A trace never blocks or fails its session: recording copies into
//     a bounded buffer that one goroutine per trace writes out. A write
//     error, or a session that outruns the disk by more than
//     maxQueued octets, stops the trace (logged once); the session goes
//     on untouched.
//   - Files are made O_CREAT|O_EXCL, 0600, in a 0700 directory per user,
//     through internal/safefs: no symbolic link is followed beneath the
//     rawlog directory, whatever a user name or a planted link says.
//   - Close writes out what is queued and closes both files; protocols
//     call it when the session ends, however it ends.
//   - The list of users is swapped atomically (SetUsers, at a reload):
//     sessions that log in afterwards use the new list; traces already
//     running go on until their session ends.
package rawlog
