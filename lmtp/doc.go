// Package lmtp is the LMTP front end (RFC 2033), written here: the
// command loop (session.go), the DATA reader (data.go) and per-recipient
// replies from the delivery package. It replaced go-smtp's server, whose
// DATA reader let "\r\r\n.\r\n" run past the end of a message (SMTP
// smuggling); go-smtp stays for its reply type and as the client in
// tests.
//
// Invariants:
//   - A 250 for a recipient is sent only after delivery.Deliver returned
//     nil for it, i.e. after the copy is fsynced and indexed.
//   - One reply per accepted RCPT, in RCPT order (RFC 2033 §4.2); a
//     failure for one recipient never changes another's reply.
//   - The data ends exactly at CRLF "." CRLF (data.go); nothing after it
//     is ever part of the message, and nothing before it is ever run as
//     a command. Refused data (too big, a line too long) is still read
//     to its end, so the stream stays in step.
//   - Memory per transaction is bounded: DATA goes, as it is read, into
//     a spool.Writer that keeps it canonical, in memory up to
//     Config.SpoolThreshold (1 MiB) and in a file in Config.SpoolDir
//     above it; every recipient's delivery reads that one copy. The
//     spool file has no name from its creation and its data goes with
//     the transaction (or the connection) that made it.
//   - STARTTLS (RFC 3207) throws away what was pipelined after it and
//     forgets LHLO; it is refused inside a transaction.
//   - delivery.Kind is mapped to SMTP codes here and nowhere else
//     (Reply gives "storaged deliver" the same mapping).
//   - Every reply but the greeting, LHLO's and 354 carries an RFC 3463
//     enhanced code; replies read as a last hop's, in Dovecot's words
//     where it has them: 250 2.1.0 at MAIL, 250 2.1.5 at RCPT, and after
//     DATA "250 2.0.0 <rcpt> <id> Saved", where id is the transaction's
//     (session id and number), the one in the Received field and in the
//     log line of each delivery.
//   - As at Dovecot's LMTP, a path may leave out its domain: RCPT
//     TO:<demo> is the local user demo.
//   - Shutdown refuses new transactions and waits for those in flight:
//     a message whose upload finished is delivered and answered.
package lmtp
