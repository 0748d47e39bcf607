package imap

// QUOTA (RFC 9208): one quota root per user, named by Config.QuotaRoot,
// holding every mailbox but those the user's rules ignore. Limits are set
// by the administrator (storaged quota set, the passwd-file's
// quota_rule fields), so SETQUOTA is refused and QUOTASET not offered.

import (
	"context"

	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/quota"
)

func registerQuota(t *commands) {
	t.add("GETQUOTAROOT", afterAuth, 0, cmdGetQuotaRoot)
	t.add("GETQUOTA", afterAuth, 0, cmdGetQuota)
	t.add("SETQUOTA", afterAuth, 0, cmdSetQuota)
	// RFC 9208 §3.1: the resources whose usage and limits are reported.
	t.capability(afterAuth, "QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE")
}

func cmdGetQuotaRoot(_ context.Context, c *conn, cmd *wire.Command) error {
	name, err := c.mailboxName(cmd.Args.(*wire.MailboxArgs).Mailbox)
	if err != nil {
		return err
	}
	mb, err := c.mailbox(name)
	if err != nil {
		return err
	}
	info, err := mb.Info()
	if err != nil {
		return mapErr(c.log, "getquotaroot", err)
	}
	l, u, err := c.quotaState()
	if err != nil {
		return mapErr(c.log, "getquotaroot", err)
	}
	// §4.3.2: the roots of the mailbox, then each root's QUOTA. A user
	// without limits, or a mailbox the rules ignore, has none.
	inRoot := !l.None() && !l.Ignored(info.Name)
	c.w.Untagged()
	c.w.Raw("QUOTAROOT ")
	c.w.AString(c.wireName(info.Name))
	if inRoot {
		c.w.SP()
		c.w.AString(c.srv.cfg.QuotaRoot)
	}
	c.w.CRLF()
	if inRoot {
		c.writeQuota(l, u)
	}
	return nil
}

func cmdGetQuota(_ context.Context, c *conn, cmd *wire.Command) error {
	root := cmd.Args.(*wire.QuotaRootArgs).Root
	l, u, err := c.quotaState()
	if err != nil {
		return mapErr(c.log, "getquota", err)
	}
	if root != c.srv.cfg.QuotaRoot || l.None() {
		return no(codeNonExist, "no such quota root")
	}
	c.writeQuota(l, u)
	return nil
}

func cmdSetQuota(_ context.Context, c *conn, cmd *wire.Command) error {
	args := cmd.Args.(*wire.SetQuotaArgs)
	for _, r := range args.Limits {
		if r.Resource != quota.Storage && r.Resource != quota.Message {
			return bad("unknown quota resource " + r.Resource)
		}
	}
	return no(codeNoPerm, "quotas are set by the administrator")
}

func (c *conn) quotaState() (quota.Limits, quota.Usage, error) {
	l, err := c.acct.Limits()
	if err != nil {
		return l, quota.Usage{}, err
	}
	if l.None() {
		return l, quota.Usage{}, nil
	}
	u, err := c.acct.Usage()
	return l, u, err
}

// writeQuota writes "* QUOTA root (STORAGE used limit MESSAGE used
// limit)", each resource that has a limit; STORAGE in units of 1024
// octets (RFC 9208 §5.1), usage rounded up so that a full store shows
// full.
func (c *conn) writeQuota(l quota.Limits, u quota.Usage) {
	w := c.w
	w.Untagged()
	w.Raw("QUOTA ")
	w.AString(c.srv.cfg.QuotaRoot)
	w.Raw(" (")
	sp := false
	if l.Storage > 0 {
		w.Raw("STORAGE ")
		w.Number(uint64((u.Storage + 1023) / 1024))
		w.SP()
		w.Number(uint64(l.Storage / 1024))
		sp = true
	}
	if l.Messages > 0 {
		if sp {
			w.SP()
		}
		w.Raw("MESSAGE ")
		w.Number(uint64(u.Messages))
		w.SP()
		w.Number(uint64(l.Messages))
	}
	w.Raw(")\r\n")
}
