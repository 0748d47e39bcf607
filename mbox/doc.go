// Package mbox will be the mbox format beside Maildir and MH. This first
// part is the file format itself, independent of locking and folders:
// splitting a file into messages (Split), taking a message's bytes back
// out of its record (Content, Flags), and writing records (AppendRecord).
//
// Records as storaged writes them:
//
//	From SENDER Www Mmm dd hh:mm:ss yyyy      the From_ line, date in UTC
//	[X-Storaged-Length: N]                    only when the message does not
//	                                          end in a line break: N octets
//	                                          of what follows are the record
//	[Status: RO] [X-Status: AFTD]             flags, written when the file is
//	[X-Keywords: a b]                         rewritten
//	message, mboxrd-quoted                    ^>*From  gains one '>'
//	blank line                                the separator
//
// Reading is lenient: mboxrd, mboxo and mboxcl files from mutt, procmail
// and Dovecot, LF or CRLF, a file cut off mid-message. A separator is a
// From_ line with a date that follows a blank line (or starts the file).
// Content-Length is honoured only where it ends exactly before a blank
// line and a From_ line (or the end of the file), as mutt and Dovecot
// check it; otherwise the message ends at the next separator.
//
// Content drops the fields mbox tools keep their state in (Status,
// X-Status, X-Keywords, X-UID, X-IMAP, X-IMAPbase, Content-Length and our
// X-Storaged-Length) from the message's header, as Dovecot does, and
// undoes the mboxrd quoting; a message that carried such a field of its
// own loses it. Reading an mboxo file as mboxrd removes one '>' from
// lines the author wrote as ">From ": mboxo cannot tell them apart.
package mbox
