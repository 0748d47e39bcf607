package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Every verb answers -h, -help and --help (anywhere before "--") with its
// usage and examples on standard output, exit 0, before the config is
// read: help works with a broken config too.

var helpText = map[string]string{
	"serve": `usage: storaged [-config FILE] serve

Runs LMTP, IMAP, POP3 and ManageSieve (and the policy service and metrics
when configured) until SIGTERM or SIGINT, which drain; SIGHUP reloads
the configuration (listeners, certificates, log level and file, users
file; the rest is named as waiting for a restart). A second server on
the same data directory is refused.
On a fresh data directory with every listener on loopback, a demo user is
created and its password printed once.

Examples:
  storaged serve                                  defaults; data in $STORAGED_DATA or ./data
  storaged -config /etc/storaged.toml serve
  storaged serve -config /etc/storaged.toml       the same: -config may follow the verb
`,
	"deliver": `usage: storaged [-config FILE] deliver [-f SENDER] [-m INBOX] -a ADDRESS [-a ADDRESS]... < message
       storaged [-config FILE] deliver [-f SENDER] -d USER [-d USER]... < message

The local delivery agent, with dovecot-lda's flags. The message comes on
standard input; it goes through the running server's LMTP socket when
there is one, else into the store directly.

  -a ADDRESS  a recipient: user@local.domain, user+detail@local.domain, or a
              bare user name; repeat for more recipients
  -d USER     a recipient user name; repeat for more (not together with -a:
              dovecot-lda's "-d USER -a ADDRESS" pair is refused, not guessed)
  -f SENDER   the envelope sender, written as Return-Path; "" or "<>" for a bounce
  -m MAILBOX  INBOX only for now (a Sieve script's fileinto files elsewhere)

Every recipient gets the message or one line on standard error naming it,
with the reply: "storaged deliver: bob@example.org: 550 5.1.1 no such user here".
Exit codes (sysexits.h): 0 every recipient has it; 75 EX_TEMPFAIL try again
(store busy, disk full, server draining; wins over the others, so the MTA
retries); 67 EX_NOUSER; 73 EX_CANTCREAT mailbox full; 77 EX_NOPERM refused
by the recipient's Sieve script; 65 EX_DATAERR too big or unacceptable;
64 EX_USAGE bad arguments or address; 70 EX_SOFTWARE a protocol error
between deliver and the server; 69 EX_UNAVAILABLE any other refusal.

Examples:
  storaged deliver -f alice@example.net -a bob@example.org < message.eml
  storaged deliver -f alice@example.net -a bob -a carol+lists@example.org < message.eml
  storaged deliver -d bob < message.eml
  Postfix main.cf:    mailbox_command = /usr/local/bin/storaged deliver -f "$SENDER" -a "$RECIPIENT"
  Postfix master.cf:  storaged unix - n n - - pipe flags=Xhu user=vmail
                        argv=/usr/local/bin/storaged deliver -f ${sender} -a ${recipient}
                      (with storaged_destination_recipient_limit = 1 in main.cf)
`,
	"user": `usage: storaged [-config FILE] user add NAME [-password-stdin] [-format maildir|mbox|mh]
       storaged [-config FILE] user passwd NAME [-password-stdin]
       storaged [-config FILE] user del NAME
       storaged [-config FILE] user list
       storaged [-config FILE] user show USER [--json]

The passwd-file user database (users.file), Dovecot's format. Without
-password-stdin a password is generated and printed. Rewriting the file
keeps its mode, owner and group. user list writes nothing.

Examples:
  storaged user add bob                           prints bob's new password
  echo 'secret' | storaged user add carol -password-stdin -format mbox
  storaged user passwd bob -password-stdin < password.txt
  storaged user del bob                           the mail under mail.dir stays
  storaged user list
`,
	"quota": `usage: storaged [-config FILE] quota get USER|-A
       storaged [-config FILE] quota set USER storage=SIZE|none messages=N|none
       storaged [-config FILE] quota recalc USER|-A

get prints usage and limits as a table and writes nothing; set writes the
user's "*" rule into the passwd-file (Dovecot's userdb_quota_rule); recalc
recounts from the files and says what differed.

Examples:
  storaged quota get -A
  storaged quota set bob storage=10G messages=100000
  storaged quota set bob storage=none
  storaged quota recalc bob
`,
	"sieve": `usage: storaged [-config FILE] sieve check FILE
       storaged [-config FILE] sieve list USER
       storaged [-config FILE] sieve get USER NAME
       storaged [-config FILE] sieve put USER [-activate] NAME [FILE]
       storaged [-config FILE] sieve activate USER NAME | deactivate USER | delete USER NAME

Users' Sieve scripts (Pigeonhole's layout); safe under a running server.
check reports errors as FILE:LINE:COL; put reads standard input without
FILE; check, list and get write nothing.

Examples:
  storaged sieve check vacation.sieve
  storaged sieve put bob -activate main main.sieve
  storaged sieve list bob
  storaged sieve deactivate bob
`,
	"cert": `usage: storaged [-config FILE] cert selfsigned [-cert FILE] [-key FILE] [-type ecdsa|ed25519] [-days N] HOST...

Writes a key and a self-signed certificate for the HOSTs (DNS names or IP
addresses), by default where [tls] cert and key point, else under
DATA/tls/; for tests and first trials.

Examples:
  storaged cert selfsigned mail.example.org
  storaged cert selfsigned -type ed25519 -days 30 localhost 127.0.0.1
`,
	"import": `usage: storaged [-config FILE] import [-dry-run] [-into NAME] [-ignore-quota] [-password-file F] USER SOURCE...

Imports mbox files or trees, Maildirs (Dovecot's too, UIDs kept), MH
trees, or another server: imap[s]://user@host[:port]/ (UIDs kept) and
pop3[s]://user@host[:port] (UIDLs kept), with the password from
-password-file or $STORAGED_IMPORT_PASSWORD. A Maildir in Dovecot's
LAYOUT=fs (nested folder directories) is recognised as such. Into USER's
store; safe to repeat (duplicates are recognised) and to interrupt
(Ctrl-C, also through the server; run it again to go on). With a server
running it goes through the admin socket, so sessions see the mail at
once; else it opens the store itself. A progress bar on a terminal,
plain lines on standard error otherwise; the summary on standard output.

Examples:
  storaged import -dry-run bob /var/mail/bob
  storaged import bob ~bob/Maildir -into Old
  storaged import -password-file /root/bob.pw bob imaps://bob@old.example.org/
`,
	"export": `usage: storaged [-config FILE] export [-format maildir|mbox] USER DEST

Writes USER's mail to DEST (new or empty): Dovecot's Maildir++ layout with
dovecot-uidlist, dovecot-keywords and subscriptions, so that Dovecot
pointed at it keeps every UID, flag and POP3 UIDL; or one mbox file a
folder with Status/X-Status/X-Keywords.

Examples:
  storaged export bob /srv/export/bob
  storaged export -format mbox bob /tmp/bob-mbox
`,
	"config": `usage: storaged [-config FILE] config

Prints the effective configuration (the file over the embedded defaults)
as TOML; writes nothing.

Examples:
  storaged config
  storaged -config /etc/storaged.toml config | grep listen
`,
	"check": `usage: storaged [-config FILE] check [-repair] USER|-A

Compares each store's files with its index and lists every difference:
a file no one indexed (another program's delivery), an indexed message
whose file is gone, flags another program changed, a size that is not
the indexed one. Without -repair nothing changes and differences exit 1;
with -repair they are repaired as the server would (new files get the
next UIDs, gone ones are expunged, flags and sizes come from the files,
counters are recounted). A damaged index is moved aside and rebuilt from
the files either way. A user who has no store yet is reported as such;
nothing is created. The server must be stopped.

Examples:
  storaged check bob
  storaged check -repair -A
`,
	"index": `usage: storaged [-config FILE] index rebuild USER [MAILBOX] [--json]

Rebuilds USER's index (every mailbox, or MAILBOX) from the mail files,
keeping what the old index still knows: a message whose record can be
read keeps its UID, flags and keywords (merged with the flags the file
records, as a sync would); a Dovecot dovecot-uidlist of the same
UIDVALIDITY gives the UIDs the index lost. A mailbox keeps its
UIDVALIDITY only when every kept UID is below its UIDNEXT and given to
one file; otherwise it gets a new one and the output says why. New UIDs
are above every UID the old index held. A damaged index.db is read as
far as it can be and kept as index.db.broken-TIME (the whole index is
rebuilt then, whatever MAILBOX says). With a server running it goes
through the admin socket: sessions go on and are told what changed; one
whose mailbox changed UIDVALIDITY is disconnected. Without one it opens
the store itself. The table: messages, UIDs kept, new UIDs, messages
whose files are gone, UIDVALIDITY kept or changed.

Examples:
  storaged index rebuild bob
  storaged index rebuild bob INBOX --json
`,
	"version": `usage: storaged version

Prints the build: module version, commit, Go version; writes nothing.

Example:
  storaged version
`,
}

// wantsHelp reports whether args ask for help (before any "--").
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

// printHelp writes verb's help, or the whole usage for "".
func printHelp(w io.Writer, verb string) bool {
	if verb == "" {
		fmt.Fprint(w, usage)
		return true
	}
	h, ok := helpText[verb]
	if !ok {
		return false
	}
	fmt.Fprint(w, h)
	return true
}

func helpVerbs() string {
	var vs []string
	for v := range helpText {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return strings.Join(vs, ", ")
}
