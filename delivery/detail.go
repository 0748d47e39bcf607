package delivery

import (
	"context"
	"strings"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/store"
)

// keepMailbox is the recipient's default mailbox, where the implicit
// keep goes: the detail's folder with SaveToDetail (Dovecot's
// lmtp_save_to_detail_mailbox: user+lists@ into "lists"), else INBOX.
func (d *Deliverer) keepMailbox(rcpt Recipient) string {
	if d.SaveToDetail && rcpt.Detail != "" && !strings.EqualFold(rcpt.Detail, folder.Inbox) && folder.CheckName(rcpt.Detail) == nil {
		return rcpt.Detail
	}
	return folder.Inbox
}

// keep stores content in the recipient's default mailbox. A detail
// folder that does not exist is never created (a sender must not make
// folders by choosing an address) and the message goes to INBOX, as it
// does when the folder cannot take it: mail is never lost to a detail.
func (d *Deliverer) keep(ctx context.Context, acct *store.Account, rcpt Recipient, content content, flags []string, env Envelope) error {
	if mb := d.keepMailbox(rcpt); mb != folder.Inbox {
		err := d.appendTo(ctx, acct, mb, content, flags, env)
		if err == nil {
			return nil
		}
		d.logger().Info("detail mailbox not used, kept in INBOX", "id", env.ID, "user", rcpt.User, "mailbox", mb, "err", err)
	}
	return d.appendTo(ctx, acct, folder.Inbox, content, flags, env)
}
