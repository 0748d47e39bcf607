package quota

import (
	"fmt"
	"strings"
	"time"
)

// WarningMessage is the message a user gets in INBOX when usage crosses
// percent of a limit: plain text, marked Auto-Submitted (RFC 3834) so
// that no vacation responder answers it.
func WarningMessage(host, user string, percent int, u Usage, l Limits, now time.Time) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Mail System <postmaster@%s>\r\n", host)
	fmt.Fprintf(&b, "To: <%s>\r\n", user)
	fmt.Fprintf(&b, "Subject: Your mailbox is %d%% full\r\n", percent)
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <quota-%d-%d.%s@%s>\r\n", percent, now.UnixNano(), sanitizeID(user), host)
	b.WriteString("Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	fmt.Fprintf(&b, "Your mailbox is %d%% full.\r\n\r\n", percent)
	if l.Storage > 0 {
		fmt.Fprintf(&b, "  Storage:  %s of %s\r\n", FormatSize(u.Storage), FormatSize(l.Storage))
	}
	if l.Messages > 0 {
		fmt.Fprintf(&b, "  Messages: %d of %d\r\n", u.Messages, l.Messages)
	}
	b.WriteString("\r\nWhen it is full, new mail to you will be refused. Delete the messages\r\nyou no longer need and empty the Trash to make room.\r\n")
	return []byte(b.String())
}

func sanitizeID(s string) string {
	return strings.Map(func(r rune) rune {
		if r < '!' || r > '~' || strings.ContainsRune("<>@\"\\()[],;:", r) {
			return '_'
		}
		return r
	}, s)
}
