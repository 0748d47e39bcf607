package imap

import (
	"strconv"
	"strings"
	"testing"
)

// RFC 5464: server and mailbox entries, NIL for what is missing and to
// remove, DEPTH, MAXSIZE with LONGENTRIES, limits, names checked, the
// special-use entry, and entries that follow RENAME and go with DELETE.
func TestMetadata(t *testing.T) {
	e := newEnv(t)
	s := e.dial(t)
	s.login()
	s.do(`a1 GETMETADATA "" /private/comment`, `* METADATA "" (/private/comment NIL)`, "a1 OK GETMETADATA completed")
	s.do(`a2 SETMETADATA "" (/private/comment "my server note")`, "a2 OK SETMETADATA completed")
	s.do(`a3 GETMETADATA "" (/private/Comment /shared/comment)`, `* METADATA "" (/private/comment "my server note" /shared/comment NIL)`, "a3 OK GETMETADATA completed")
	s.do(`a4 SETMETADATA "" (/shared/comment "x")`, "a4 NO [NOPERM] the server's shared entries are the administrator's")
	s.do(`b1 SETMETADATA INBOX (/private/comment "inbox note" /shared/vendor/x/a "1" /shared/vendor/x/a/b "2")`, "b1 OK SETMETADATA completed")
	s.do(`b2 GETMETADATA (DEPTH 1) INBOX /shared/vendor/x`, `* METADATA INBOX (/shared/vendor/x/a "1" /shared/vendor/x NIL)`, "b2 OK GETMETADATA completed")
	s.do(`b3 GETMETADATA (DEPTH infinity MAXSIZE 1) INBOX (/shared/vendor/x /private/comment)`,
		`* METADATA INBOX (/shared/vendor/x/a "1" /shared/vendor/x/a/b "2" /shared/vendor/x NIL)`, "b3 OK [METADATA LONGENTRIES 10] GETMETADATA completed")
	s.do(`b4 SETMETADATA INBOX (/private/comment NIL)`, "b4 OK SETMETADATA completed")
	s.do(`b5 GETMETADATA INBOX /private/comment`, `* METADATA INBOX (/private/comment NIL)`, "b5 OK GETMETADATA completed")
	s.do(`b6 GETMETADATA Sent /private/specialuse`, `* METADATA Sent (/private/specialuse "\\Sent")`, "b6 OK GETMETADATA completed")
	s.do(`b7 SETMETADATA Sent (/private/specialuse "\\Junk")`, "b7 NO [NOPERM] /private/specialuse follows the mailbox's special use; use CREATE (USE ...)")
	s.do(`b8 SETMETADATA INBOX (/public/x "1")`, `b8 BAD invalid metadata entry name "/public/x"`)
	s.do(`b9 SETMETADATA INBOX (/private/x/ "1")`, `b9 BAD invalid metadata entry name "/private/x/"`)
	s.do(`c1 SETMETADATA Nope (/private/x "1")`, "c1 NO [NONEXISTENT] no such mailbox")
	// RENAME keeps a mailbox's entries, DELETE drops them.
	s.do(`c2 CREATE Work`, "c2 OK CREATE completed")
	s.do(`c3 SETMETADATA Work (/private/comment "work")`, "c3 OK SETMETADATA completed")
	s.do(`c4 RENAME Work Job`, "c4 OK RENAME completed")
	s.do(`c5 GETMETADATA Job /private/comment`, `* METADATA Job (/private/comment "work")`, "c5 OK GETMETADATA completed")
	s.do(`c6 DELETE Job`, "c6 OK DELETE completed")
	s.do(`c7 CREATE Job`, "c7 OK CREATE completed")
	s.do(`c8 GETMETADATA Job /private/comment`, `* METADATA Job (/private/comment NIL)`, "c8 OK GETMETADATA completed")
	// Limits: a value too large, too many entries; nothing stored.
	big := strings.Repeat("x", maxMetadataValue+1)
	s.send("d1 SETMETADATA Job (/private/big {" + strconv.Itoa(len(big)) + "+}\r\n" + big + ")\r\n")
	s.expect("d1", "d1 NO [METADATA MAXSIZE 16384] metadata value too large")
	var many strings.Builder
	for i := 0; i <= maxMetadataPerBox; i++ {
		many.WriteString(" /private/e" + strconv.Itoa(i) + ` "v"`)
	}
	s.do("d2 SETMETADATA Job ("+many.String()[1:]+")", "d2 NO [METADATA TOOMANY] too many metadata entries")
	s.do(`d3 GETMETADATA Job /private/e1`, `* METADATA Job (/private/e1 NIL)`, "d3 OK GETMETADATA completed")
}
