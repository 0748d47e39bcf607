// Package policy is a Postfix policy service (SMTPD_POLICY_README, the
// protocol Dovecot's quota-status speaks) that answers, at RCPT time,
// whether a recipient's store has room: Postfix then refuses over-quota
// mail before it accepts it, instead of bouncing it later.
//
//	smtpd_recipient_restrictions = ...
//	    check_policy_service inet:127.0.0.1:12340
//
// Invariants:
//   - One request is attribute lines "name=value" ended by an empty
//     line; one answer is "action=..." and an empty line. A connection
//     carries any number of them, in order.
//   - Only smtpd_access_policy requests with a recipient are judged;
//     anything else gets the success action (Postfix's DUNNO: no opinion).
//   - A request over the limits (line length, attribute count) ends the
//     connection; Postfix logs it and, by default, defers the mail.
//   - An internal error never rejects: it answers DEFER_IF_PERMIT, which
//     makes the MTA try later.
package policy
