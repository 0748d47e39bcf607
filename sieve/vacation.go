package sieve

import (
	"net/mail"
	"strings"
)

// NoReplyReason says why no vacation reply may be sent for this message,
// or "" when one may. The caller still checks its per-sender memory of
// v.Handle. The rules are RFC 3834 §2 and RFC 5230 §4.5–4.6:
//   - no reply to the null sender, nor to the user's own addresses;
//   - none to daemons and lists: MAILER-DAEMON, LISTSERV, majordomo,
//     owner-*, *-request senders, and messages with List-* fields;
//   - none to automatic mail: Auto-Submitted other than "no",
//     Precedence bulk, list or junk;
//   - none unless one of the user's addresses (Env.UserAddresses,
//     Env.To, v.Addresses) is in To, Cc, Bcc, Resent-To or Resent-Cc.
func (v *Vacation) NoReplyReason(msg *Message, env *Env) string {
	from := parsePath(env.From)
	if from.null || from.local == "" {
		return "the envelope sender is empty"
	}
	own := map[string]bool{}
	for _, a := range append(append(append([]string(nil), env.UserAddresses...), env.To), v.Addresses...) {
		if a == "" {
			continue
		}
		if pa, err := mail.ParseAddress(a); err == nil {
			a = pa.Address
		}
		own[strings.ToLower(parsePath(a).all())] = true
	}
	if own[strings.ToLower(from.all())] {
		return "the sender is the user"
	}
	lp := strings.ToLower(from.local)
	switch {
	case lp == "mailer-daemon" || lp == "listserv" || lp == "majordomo":
		return "the sender is a mailer daemon or list server"
	case strings.HasPrefix(lp, "owner-") || strings.HasSuffix(lp, "-request") || strings.HasSuffix(lp, "-owner"):
		return "the sender is a mailing list address"
	}
	var toUser bool
	for _, f := range msg.Header {
		name := strings.ToLower(f.Name)
		val := strings.ToLower(strings.TrimSpace(decodeHeader(f.Value)))
		switch {
		case name == "auto-submitted" && val != "no" && !strings.HasPrefix(val, "no;") && !strings.HasPrefix(val, "no "):
			return "the message is auto-submitted (" + val + ")"
		case name == "precedence" && (val == "bulk" || val == "list" || val == "junk"):
			return "the message has Precedence: " + val
		case name == "list-id" || name == "list-help" || name == "list-subscribe" ||
			name == "list-unsubscribe" || name == "list-post" || name == "list-owner" || name == "list-archive":
			return "the message comes from a mailing list (" + f.Name + ")"
		case name == "x-auto-response-suppress" && (strings.Contains(val, "oof") || strings.Contains(val, "all")):
			return "the sender asked for no auto-replies"
		case name == "to" || name == "cc" || name == "bcc" || name == "resent-to" || name == "resent-cc":
			for _, a := range parseAddresses(f.Value) {
				if own[strings.ToLower(a.all())] {
					toUser = true
				}
			}
		}
	}
	if !toUser {
		return "the message is not addressed to the user"
	}
	return ""
}
