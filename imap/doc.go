// Package imap is storaged's IMAP4rev2/IMAP4rev1 server (RFC 9051, RFC
// 3501): the connection loop, the state machine, one dispatch table and
// one file per command family. The grammar is imap/wire's; everything
// stateful about a selected mailbox (sequence numbers, \Recent, updates
// owed to the client) is store.View's.
//
// It replaced an adapter over go-imap's imapserver; go-imap's imapclient
// stays, as an independent client in tests.
//
// Invariants (check every change against them):
//   - A command's handler runs only in the states its table entry names;
//     everything else is answered before the handler runs (BAD for an
//     unknown command or a wrong state, RFC 9051 §7.1).
//   - Syntax errors are BAD and the connection stays; only a stream that
//     cannot be resynchronised (wire.FatalError) or repeated garbage ends
//     it, with BYE.
//   - Nothing is written to the connection while a store snapshot is
//     open: handlers read through the store's read API, which returns
//     plain values.
//   - A panic in a handler fails that command (NO [SERVERBUG]) and is
//     logged with the session id; the connection and the server go on.
//   - Every capability is registered by the code that implements it, and
//     CAPABILITY lists only registered ones: none is advertised before it
//     is complete.
//   - Store errors become NO/BAD in mapErr and nowhere else.
//   - Untagged updates (updates.go) come only from store.View.Updates:
//     no EXPUNGE during or right after a FETCH, STORE or SEARCH by
//     sequence number (RFC 9051 §7.5.1); EXISTS never shrinks except
//     through EXPUNGEs sent before it; nothing about a mailbox before
//     its SELECT's tagged OK, and nothing about the previous one after
//     a SELECT began.
//   - UIDNEXT and UIDVALIDITY are the index's: UIDNEXT exact, UIDVALIDITY
//     distinct per mailbox and never reused with other UIDs.
//   - Every flag a FETCH shows was announced in FLAGS first (RFC 3501
//     §7.2.6): see announceKeywords.
//   - Octets pipelined after STARTTLS are discarded, never run; after
//     the handshake the reader and writer sit on the TLS connection and
//     the client must ask CAPABILITY again (tls.go, RFC 9051 §6.2.1).
//   - Octets after COMPRESS's tagged OK are compressed both ways, those
//     pipelined after the command included; the client's commands are
//     answered as soon as they are decoded, whatever flush it used
//     (compress.go, RFC 4978 §3).
//   - No password is accepted, nor asked for (no "+" for a LOGIN literal,
//     no SASL challenge), in clear from an untrusted network;
//     LOGINDISABLED is advertised there instead of AUTH= (RFC 9051
//     §6.2.3).
package imap
