package imap

// METADATA (RFC 5464): server and mailbox annotations, GETMETADATA and
// SETMETADATA.
//
// Invariants:
//   - Entry names are "/private/..." or "/shared/...", compared and kept
//     in lower case (§3.2), at most maxEntryName octets of printable
//     ASCII without "*", "%", an empty component or a trailing "/".
//   - A SETMETADATA is one index transaction: all its entries change, or
//     none (§4.3); past the limits it is NO with [METADATA MAXSIZE n] or
//     [METADATA TOOMANY].
//   - A mailbox's entries live with the mailbox: RENAME keeps them,
//     DELETE drops them. "/private/specialuse" is the mailbox's
//     special-use attribute (RFC 6154 §4), read-only here.
//   - The server's "/shared/..." entries are the administrator's: users
//     may read, not write, them ([NOPERM]).

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/storaged/storaged/imap/wire"
	"github.com/storaged/storaged/store"
)

const (
	maxEntryName      = 1024
	maxMetadataValue  = 16 << 10 // under the 64 KiB literal limit, so that a larger one is answered as §4.3 says
	maxMetadataPerBox = 100
)

func registerMetadata(t *commands) {
	t.add("GETMETADATA", afterAuth, 0, cmdGetMetadata)
	t.add("SETMETADATA", afterAuth, 0, cmdSetMetadata)
	t.capability(afterAuth, "METADATA")
}

// entryName checks and normalises an entry name.
func entryName(s string) (string, error) {
	n := strings.ToLower(s)
	if len(n) > maxEntryName || !(strings.HasPrefix(n, "/private/") || strings.HasPrefix(n, "/shared/")) ||
		strings.HasSuffix(n, "/") || strings.Contains(n, "//") {
		return "", bad("invalid metadata entry name " + strconv.Quote(s))
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c < 0x21 || c > 0x7e || c == '*' || c == '%' {
			return "", bad("invalid metadata entry name " + strconv.Quote(s))
		}
	}
	return n, nil
}

// metadataMailbox resolves the mailbox argument: "" for the server.
func (c *conn) metadataMailbox(m wire.Mailbox, server bool) (string, error) {
	if server {
		return "", nil
	}
	name, err := c.mailboxName(m)
	if err != nil {
		return "", err
	}
	if _, err := c.mailbox(name); err != nil {
		return "", err
	}
	return name, nil
}

func cmdGetMetadata(_ context.Context, c *conn, cmd *wire.Command) error {
	args := cmd.Args.(*wire.GetMetadataArgs)
	mailbox, err := c.metadataMailbox(args.Mailbox, args.MailboxNil)
	if err != nil {
		return err
	}
	want := make([]string, len(args.Entries))
	for i, e := range args.Entries {
		if want[i], err = entryName(e); err != nil {
			return err
		}
	}
	have, err := c.acct.Metadata(mailbox)
	if err != nil {
		return mapErr(c.log, "getmetadata", err)
	}
	if mailbox != "" {
		if info, err := c.acctMailboxInfo(mailbox); err == nil && info.SpecialUse != "" {
			have = append(have, store.MetadataEntry{Name: "/private/specialuse", Value: []byte(info.SpecialUse)})
		}
	}
	// §4.2: the entries asked for, and with DEPTH their descendants;
	// those over MAXSIZE left out and the largest of them told.
	var out []store.MetadataEntry
	var long int64
	found := map[string]bool{}
	for _, w := range want {
		for _, h := range have {
			if found[h.Name] || !depthMatch(w, h.Name, args.Depth) {
				continue
			}
			found[h.Name] = true
			if args.MaxSize >= 0 && int64(len(h.Value)) > args.MaxSize {
				long = max(long, int64(len(h.Value)))
				continue
			}
			out = append(out, h)
		}
	}
	w := c.w
	w.Untagged()
	w.Raw("METADATA ")
	w.AString(c.wireName(mailbox))
	w.Raw(" (")
	n := 0
	for _, e := range out {
		if n > 0 {
			w.SP()
		}
		n++
		w.AString(e.Name)
		w.SP()
		c.metadataValue(e.Value)
	}
	// An entry asked for by name that does not exist is told as NIL.
	for _, name := range want {
		if !found[name] {
			if n > 0 {
				w.SP()
			}
			n++
			w.AString(name)
			w.Raw(" NIL")
		}
	}
	w.Raw(")\r\n")
	if long > 0 {
		return okCode("METADATA LONGENTRIES "+strconv.FormatInt(long, 10), "GETMETADATA completed")
	}
	return nil
}

// depthMatch reports whether entry name is want or, with depth, below it.
func depthMatch(want, name string, depth int) bool {
	if name == want {
		return true
	}
	rest, ok := strings.CutPrefix(name, want+"/")
	switch {
	case !ok || depth == 0:
		return false
	case depth == 1:
		return !strings.Contains(rest, "/")
	}
	return true
}

// metadataValue writes a value: a string, or a literal8 when it is not
// text an IMAP string may carry.
func (c *conn) metadataValue(v []byte) {
	for _, b := range v {
		if b == 0 {
			w := c.w
			w.Raw("~{")
			w.Number(uint64(len(v)))
			w.Raw("}\r\n")
			w.RawBytes(v)
			return
		}
	}
	c.w.String(string(v))
}

func cmdSetMetadata(_ context.Context, c *conn, cmd *wire.Command) error {
	args := cmd.Args.(*wire.SetMetadataArgs)
	mailbox, err := c.metadataMailbox(args.Mailbox, args.Server)
	if err != nil {
		return err
	}
	entries := make([]store.MetadataEntry, 0, len(args.Entries))
	for _, e := range args.Entries {
		name, err := entryName(e.Entry)
		if err != nil {
			return err
		}
		switch {
		case mailbox == "" && strings.HasPrefix(name, "/shared/"):
			return no(codeNoPerm, "the server's shared entries are the administrator's")
		case name == "/private/specialuse":
			return no(codeNoPerm, "/private/specialuse follows the mailbox's special use; use CREATE (USE ...)")
		case len(e.Value) > maxMetadataValue:
			return no("METADATA MAXSIZE "+strconv.Itoa(maxMetadataValue), "metadata value too large")
		}
		v := e.Value
		if !e.Nil && v == nil {
			v = []byte{}
		}
		if e.Nil {
			v = nil
		}
		entries = append(entries, store.MetadataEntry{Name: name, Value: v})
	}
	if err := c.acct.SetMetadata(mailbox, entries, maxMetadataPerBox); err != nil {
		if errors.Is(err, store.ErrTooMany) {
			return no("METADATA TOOMANY", "too many metadata entries")
		}
		return mapErr(c.log, "setmetadata", err)
	}
	return nil
}

// acctMailboxInfo reads a mailbox's record.
func (c *conn) acctMailboxInfo(name string) (store.MailboxInfo, error) {
	mb, err := c.acct.Mailbox(name)
	if err != nil {
		return store.MailboxInfo{}, err
	}
	return mb.Info()
}
