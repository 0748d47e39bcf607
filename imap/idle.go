package imap

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/storaged/storaged/imap/wire"
)

// IDLE (RFC 2177): updates as they happen, until the client says DONE.
func registerIdle(t *commands) {
	t.capability(afterAuth, "IDLE")
	t.add("IDLE", afterAuth, 0, cmdIdle)
}

// idleSync is how often IDLE looks at the files for other programs'
// changes; the store's own changes arrive at once through the hub.
const idleSync = 5 * time.Second

type idleLine struct {
	line []byte
	err  error
}

func cmdIdle(ctx context.Context, c *conn, _ *wire.Command) error {
	c.w.Continuation("idling")
	if c.state == stateSelected {
		c.sendUpdates(ctx, true)
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	c.release()
	c.compressIdle()
	// The connection's reader is used by this one goroutine until DONE
	// (or an error) comes back; the loop does not read meanwhile.
	lines := make(chan idleLine, 1)
	c.armRead()
	go func() {
		l, err := c.r.ReadLine()
		lines <- idleLine{l, err}
	}()
	tick := time.NewTicker(idleSync)
	defer tick.Stop()
	var changed, account <-chan struct{}
	for {
		if c.view != nil {
			changed = c.view.Changed()
		}
		account = nil
		if c.notify != nil && c.notify.sub != nil {
			// NOTIFY's other mailboxes: their notifications go out
			// during IDLE as at any other time.
			account = c.notify.sub.C
		}
		select {
		case l := <-lines:
			c.acquire()
			return c.idleEnded(l)
		case <-changed:
		case <-account:
		case <-tick.C:
			if c.view != nil {
				if err := c.view.Mailbox().Sync(ctx); err != nil {
					c.log.Warn("sync", "err", err)
				}
			}
			c.notifySync(ctx)
		}
		c.acquire()
		if c.state == stateSelected {
			c.sendUpdates(ctx, true)
		}
		if c.notify != nil && c.state != stateLogout {
			c.notifyAccount(ctx)
		}
		if c.state == stateLogout {
			// The selected mailbox was deleted: sendUpdates said BYE.
			c.nc.SetReadDeadline(time.Now())
			<-lines
			return errHangUp
		}
		if err := c.w.Flush(); err != nil {
			c.nc.SetReadDeadline(time.Now())
			<-lines
			c.state = stateLogout
			return errHangUp
		}
		c.release()
	}
}

// idleEnded turns the line that ended IDLE into the command's result.
func (c *conn) idleEnded(l idleLine) error {
	switch {
	case l.err == nil && wire.IsDone(l.line):
		return nil
	case l.err == nil:
		return bad("expected DONE")
	case errors.Is(l.err, wire.ErrLineTooLong):
		return bad("expected DONE")
	case errors.Is(l.err, os.ErrDeadlineExceeded):
		// Shutdown or the idle timeout.
		c.state = stateLogout
		if c.closing.Load() {
			c.w.Status("", "BYE", "", "server shutting down")
		} else {
			c.w.Status("", "BYE", "", "autologout; idle for too long")
		}
		return errHangUp
	}
	c.state = stateLogout
	return errHangUp
}
