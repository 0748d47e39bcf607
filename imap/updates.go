package imap

import (
	"context"
	"errors"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/store"
)

// syncEvery bounds how often commands in the selected state look at the
// files for changes other programs made (a cheap stat when nothing
// changed, but not free on every pipelined FETCH).
const syncEvery = time.Second

// sendUpdates writes what the view owes the client (RFC 9051 §7.5.1):
// EXPUNGE only when allowExpunge (never during or right after FETCH,
// STORE or SEARCH), then EXISTS and RECENT, then changed flags. EXISTS
// never shrinks except through EXPUNGEs sent before it.
func (c *conn) sendUpdates(ctx context.Context, allowExpunge bool) {
	v := c.view
	c.notifyFetchMark()
	if time.Since(c.lastSync) > syncEvery {
		c.lastSync = time.Now()
		if err := v.Mailbox().Sync(ctx); err != nil {
			c.log.Warn("sync", "err", err)
		}
	}
	ups, err := v.Updates(allowExpunge)
	if errors.Is(err, store.ErrMailboxGone) {
		// RFC 9051 §2.3.1.1: the client must drop what it cached
		// under the old UIDVALIDITY, which it does on reconnecting.
		text := "the selected mailbox was deleted, have to disconnect"
		if errors.Is(err, store.ErrUIDValidityChanged) {
			text = "the selected mailbox's index was rebuilt with a new UIDVALIDITY, have to disconnect"
		}
		c.w.Status("", "BYE", "", text)
		c.closeView()
		c.state = stateLogout
		return
	}
	if err != nil {
		c.log.Error("updates", "err", err)
		return
	}
	w := c.w
	if kws := v.NewKeywords(); len(kws) > 0 {
		c.announceKeywords(folder.Flags{Keywords: kws})
	}
	if c.qresync {
		c.writeVanished(ups)
	}
	for _, u := range ups {
		switch u.Kind {
		case store.UpdateExpunge:
			if c.qresync {
				continue // told as VANISHED above
			}
			w.Untagged()
			w.Number(uint64(u.Seq))
			w.Raw(" EXPUNGE\r\n")
		case store.UpdateExists:
			w.Untagged()
			w.Number(uint64(u.Count))
			w.Raw(" EXISTS\r\n")
		case store.UpdateRecent:
			if c.rev2 {
				continue // RFC 9051 removed RECENT
			}
			w.Untagged()
			w.Number(uint64(u.Count))
			w.Raw(" RECENT\r\n")
		case store.UpdateFlags:
			m, ok, err := v.Mailbox().Message(u.UID)
			if err != nil {
				c.log.Error("updates: read flags", "uid", u.UID, "err", err)
				continue
			}
			if !ok {
				continue // expunged meanwhile; its EXPUNGE follows
			}
			c.announceKeywords(m.Flags)
			w.Untagged()
			w.Number(uint64(u.Seq))
			w.Raw(" FETCH (UID ")
			w.Number(uint64(u.UID))
			w.Raw(" FLAGS ")
			writeFlags(w, m.Flags, c.recent(u.UID))
			if c.condstore {
				w.SP()
				c.writeModSeq(m.ModSeq)
			}
			w.Raw(")\r\n")
		}
	}
	c.notifyNewMessages(ctx)
}

// recent reports whether FLAGS shows \Recent for uid: IMAP4rev1 only,
// since RFC 9051 (Appendix E) removed it for clients that ENABLE
// IMAP4rev2.
func (c *conn) recent(uid uint32) bool { return !c.rev2 && c.view.IsRecent(uid) }
