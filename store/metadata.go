package store

import (
	"errors"
	"fmt"
	"sort"

	"github.com/storaged/storaged/index"
)

// METADATA (RFC 5464) entries of the account: the server's ones (mailbox
// "") and each mailbox's, kept in the index with the mailbox, so RENAME
// keeps and DELETE drops them.

// ErrTooMany is a SETMETADATA that would pass MetadataLimits.MaxEntries.
var ErrTooMany = errors.New("too many metadata entries")

// MetadataEntry is one entry: name as stored (lower case) and value.
type MetadataEntry struct {
	Name  string
	Value []byte
}

func (a *Account) metadataID(tx *index.Tx, mailbox string) (uint64, error) {
	if mailbox == "" {
		return 0, nil
	}
	mb, err := tx.Mailbox(mailbox)
	if err != nil {
		return 0, err
	}
	return mb.ID, nil
}

// Metadata returns the entries of mailbox ("" for the server), by name.
func (a *Account) Metadata(mailbox string) ([]MetadataEntry, error) {
	var out []MetadataEntry
	err := a.idx.View(func(tx *index.Tx) error {
		id, err := a.metadataID(tx, mailbox)
		if err != nil {
			return err
		}
		return tx.Metadata(id, func(name string, v []byte) error {
			out = append(out, MetadataEntry{Name: name, Value: append([]byte(nil), v...)})
			return nil
		})
	})
	return out, err
}

// SetMetadata stores entries of mailbox ("" for the server) in one
// transaction: a nil Value removes the entry. More than maxEntries
// entries afterwards is ErrTooMany, and nothing changes.
func (a *Account) SetMetadata(mailbox string, entries []MetadataEntry, maxEntries int) error {
	err := a.idx.Commit(func(tx *index.Tx) error {
		id, err := a.metadataID(tx, mailbox)
		if err != nil {
			return err
		}
		have := map[string]bool{}
		if err := tx.Metadata(id, func(name string, _ []byte) error { have[name] = true; return nil }); err != nil {
			return err
		}
		for _, e := range entries {
			have[e.Name] = e.Value != nil
		}
		n := 0
		for _, on := range have {
			if on {
				n++
			}
		}
		if n > maxEntries {
			return fmt.Errorf("%w: %d of at most %d", ErrTooMany, n, maxEntries)
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
		for _, e := range entries {
			if err := tx.SetMetadata(id, e.Name, e.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && len(entries) > 0 {
		names := make([]string, len(entries))
		for i, e := range entries {
			names[i] = e.Name
		}
		a.hub.Publish(Event{Kind: MetadataChanged, Name: mailbox, Entries: names})
	}
	return err
}
