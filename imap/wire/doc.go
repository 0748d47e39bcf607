// Package wire is the IMAP grammar layer: it turns the octets a client
// sends into typed commands and typed responses back into octets. It
// knows bytes and types, nothing of mailboxes, sessions or state: the
// imap package above it owns the connection loop, the state machine and
// the handlers (CONVENTIONS: "a grammar tangled with semantics" is a
// shape to avoid). It imports only the standard library.
//
// Grammar followed: RFC 9051 §9 (IMAP4rev2) and RFC 3501 §9 (IMAP4rev1),
// with RFC 7888 (LITERAL+/LITERAL-), RFC 3516 (BINARY, literal8 "~{n}"),
// RFC 6855 (UTF8=ACCEPT, "UTF8 (literal8)" in APPEND), RFC 4959 (SASL-IR),
// RFC 3502 (MULTIAPPEND), RFC 4466/5258 (LIST-EXTENDED, SELECT and CREATE
// parameters), RFC 6154 (CREATE USE), RFC 7162 (CONDSTORE/QRESYNC),
// RFC 4731/5182 (ESEARCH, SEARCHRES "$"), RFC 5032 (WITHIN), RFC 8474
// (OBJECTID), RFC 8514 (SAVEDATE), RFC 2971 (ID), RFC 5161 (ENABLE).
//
// # Reading
//
// Parser holds the Limits and the command table; Parser.NewReader gives
// one Reader per connection over its *bufio.Reader. ReadCommand reads
// one command line by line: each line is split into a small token tree
// (Arg: atom, number, quoted, literal, NIL, list; a "[...]" section kept
// inside its atom as Dovecot's imap-parser does), with literals read as
// they are met, and the tree is then handed to the command's ParseFunc,
// which returns the typed arguments (*FetchArgs, *SearchArgs, ...).
//
// When a literal header ends a line, the Reader checks Limits and then
// calls the LiteralHook with a LiteralInfo (tag, command, size,
// synchronising or not, binary, APPEND message or not). For a
// synchronising literal the hook's nil is the caller's promise that "+"
// has been written and flushed.
//
// # Invariants
//
//   - A literal's octets are never parsed as commands: an accepted literal
//     is read whole; a refused non-synchronising one is drained (read and
//     discarded, Limits.MaxDrain at most) together with the rest of its
//     command; one too large to drain is a *FatalError, and the caller
//     closes the connection rather than guess where the next command
//     starts. This holds for literal headers at the end of a line too
//     long to keep, which the reader spots in the line's last octets.
//   - A synchronising literal is never read before the hook said yes
//     (RFC 9051 §4.3, §7.5); when it is refused, or over a limit, nothing
//     past its header is consumed: the client waits for "+", takes the
//     tagged NO/BAD as the end of the command, and the stream stays in
//     sync.
//   - After any error but *FatalError and I/O errors, the Reader stands
//     at the start of the client's next command: a bad command is read to
//     its end (its further non-synchronising literals drained) first.
//   - The Reader reads only through the bufio.Reader and keeps nothing
//     read ahead: octets after a command, a literal, IDLE's DONE or an
//     AUTHENTICATE line stay in the bufio.Reader for the next read.
//   - Memory per command is bounded by Limits: MaxLine per line,
//     MaxLiteral per literal, MaxCommand for lines and literals together,
//     MaxAppend / MaxAppendTotal for message literals; literal buffers
//     grow as octets arrive, not as announced. Nesting of lists, sections
//     and search keys is bounded so input cannot grow the stack.
//   - NUL in a command line or a non-binary literal is a syntax error
//     (RFC 9051 §4.3: CHAR8 excludes NUL), with the command skipped.
//   - No panics on input, no global mutable state: the command table is
//     a value made by NewParser (DefaultCommands returns a fresh copy).
//
// # Errors
//
// Errors are typed and mapped to responses once, by the caller:
// *SyntaxError → tagged BAD (untagged "* BAD" when its Tag is ""),
// *TooLong (errors.Is ErrLineTooLong) → tagged BAD, *LiteralRefused →
// tagged NO [TOOBIG] for an APPEND *LimitError (RFC 7889 §3), else NO or
// BAD as the hook's error says, *FatalError → "* BYE" and close, any
// other error → the connection is gone.
//
// Empty lines between commands are skipped (iOS Mail sends them) and a
// bare LF ends a line as CRLF does. Command names, keywords, item names,
// system flags and search keys are case-insensitive; system flags and
// special-use attributes are canonicalised ("\seen" → "\Seen"), keywords
// keep the case sent. Mailbox names are given raw (modified UTF-7 and
// UTF-8 decoding is the caller's) with a flag saying whether they were
// 8-bit; INBOX is canonicalised in any case (RFC 9051 §5.1).
//
// # Adding commands
//
// The imap package registers what this package does not parse (GETQUOTA,
// SORT, THREAD, COMPRESS, ...) with Parser.Register(name, Spec{Parse,
// UID, Append}) before serving. A ParseFunc reads the token tree with the
// exported Args helpers (AString, Mailbox, ListMailbox, StringArg,
// NString, Number, Number64, SeqSet, List, Keywords, Flag, FlagList,
// Date, DateTime, SearchKey(s)) and ParseFetchItem, ParseSeqSet,
// ParseQResync. An unregistered command fails before any of its literals
// is accepted.
//
// # Writing
//
// Writer encodes responses onto a *bufio.Writer without fmt: atoms,
// numbers, strings (quoted, or a literal when CR, LF, NUL, length or
// 8-bit octets outside UTF-8 mode require it), NIL, literals streamed from
// an io.Reader ("{n}", or "~{n}" for BINARY), lists, untagged and tagged
// status responses with "[CODE]", and continuations. It is 7-bit unless
// SetUTF8(true) (RFC 6855 §3); it never writes NUL inside a quoted string
// or a non-binary literal (0x80 goes in its place, keeping the length);
// flushing is the caller's.
package wire
