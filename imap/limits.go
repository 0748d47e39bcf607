package imap

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/netserve"
)

// Limits, each answered in IMAP's words (issue 13 point 5):
//   - Connections in total and per address (Config.Limits, shared with
//     POP3 and ManageSieve) are counted before the greeting; one too many
//     gets "* BYE [LIMIT] …" as its greeting (RFC 9051 §7.1.5 allows a
//     BYE greeting) and is closed.
//   - Sessions per (user, address) are counted at login, Dovecot's
//     mail_max_userip_connections: the login past the limit is NO
//     [LIMIT] (RFC 5530 §3) and the connection stays unauthenticated. A
//     slot is held from login to LOGOUT, UNAUTHENTICATE or the end of
//     the connection, never longer.
//   - Mailboxes per user and levels per name are checked before CREATE
//     and RENAME change anything: NO [LIMIT]. Two sessions creating at
//     once may pass the count by one each; the bound is against
//     runaway clients, not an exact quota.

const codeLimit = "LIMIT" // RFC 5530 §3

// farewellTimeout bounds the write of a refusal, so a client that never
// reads cannot hold the connection.
const farewellTimeout = 10 * time.Second

// refuse writes the BYE greeting of a connection over the limits.
func (c *conn) refuse(err error) {
	text := "Too many connections; try again later"
	if errors.Is(err, netserve.ErrTooManyFromAddress) {
		text = "Too many connections from your address"
	}
	c.log.Info("connection refused", "reason", err.Error())
	c.nc.SetWriteDeadline(time.Now().Add(farewellTimeout))
	c.acquire()
	c.w.Status("", "BYE", codeLimit, text)
	c.w.Flush()
}

// holdUserSlot counts this session against its user's limit from its
// address; false when the user has too many there.
func (c *conn) holdUserSlot(user string) bool {
	release, ok := c.srv.perUser.Acquire(user, c.raw.RemoteAddr())
	if !ok {
		return false
	}
	c.releaseUserSlot()
	c.userSlot = release
	return true
}

func (c *conn) releaseUserSlot() {
	if c.userSlot != nil {
		c.userSlot()
		c.userSlot = nil
	}
}

func errTooManyUserConns() error {
	return no(codeLimit, "Too many connections for this user from this address")
}

// depth is the number of levels of a mailbox name: "a/b/c" has 3.
func depth(name string) int { return strings.Count(name, folder.Separator) + 1 }

// checkCreate refuses a CREATE of name that would pass the limits: the
// name's depth, and the mailboxes it adds (itself and missing parents,
// RFC 9051 §6.3.4).
func (c *conn) checkCreate(name string) error {
	if maxDepth := c.srv.cfg.MaxMailboxDepth; maxDepth > 0 && depth(name) > maxDepth {
		return errTooDeep(maxDepth)
	}
	if c.srv.cfg.MaxMailboxes <= 0 {
		return nil
	}
	have, err := c.mailboxNames()
	if err != nil {
		return err
	}
	if have[name] {
		return nil // the store answers ALREADYEXISTS
	}
	return c.checkCount(have, 1+missingParents(have, name))
}

// checkRename refuses a RENAME whose new names would be too deep, or
// that would add mailboxes past the limit: missing parents of the new
// name, and the new mailbox a RENAME of INBOX makes (§6.3.6).
func (c *conn) checkRename(from, to string) error {
	maxDepth, maxN := c.srv.cfg.MaxMailboxDepth, c.srv.cfg.MaxMailboxes
	if maxDepth <= 0 && maxN <= 0 {
		return nil
	}
	have, err := c.mailboxNames()
	if err != nil {
		return err
	}
	if !have[from] || have[to] {
		return nil // the store answers NONEXISTENT or ALREADYEXISTS
	}
	if maxDepth > 0 {
		deepest := depth(to)
		if from != folder.Inbox { // INBOX's children stay where they are
			for n := range have {
				if rest, ok := strings.CutPrefix(n, from+folder.Separator); ok {
					deepest = max(deepest, depth(to)+depth(rest))
				}
			}
		}
		if deepest > maxDepth {
			return errTooDeep(maxDepth)
		}
	}
	if maxN <= 0 {
		return nil
	}
	added := missingParents(have, to)
	if from == folder.Inbox {
		added++
	}
	return c.checkCount(have, added)
}

func (c *conn) checkCount(have map[string]bool, added int) error {
	if maxN := c.srv.cfg.MaxMailboxes; added > 0 && len(have)+added > maxN {
		return no(codeLimit, fmt.Sprintf("Too many mailboxes (at most %d)", maxN))
	}
	return nil
}

func errTooDeep(max int) error {
	return no(codeLimit, fmt.Sprintf("Mailbox hierarchy too deep (at most %d levels)", max))
}

func (c *conn) mailboxNames() (map[string]bool, error) {
	mbs, err := c.acct.Mailboxes()
	if err != nil {
		return nil, mapErr(c.log, "list", err)
	}
	have := make(map[string]bool, len(mbs))
	for _, mb := range mbs {
		have[mb.Name] = true
	}
	return have, nil
}

// missingParents counts the parents of name that do not exist yet.
func missingParents(have map[string]bool, name string) int {
	n := 0
	for p, ok := folder.Parent(name); ok; p, ok = folder.Parent(p) {
		if !have[p] {
			n++
		}
	}
	return n
}
