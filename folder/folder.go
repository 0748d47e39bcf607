package folder

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/storaged/storaged/internal/spool"
)

// Errors a format returns, so callers can map them to protocol replies.
var (
	ErrNotFound = errors.New("no such mailbox")
	ErrExists   = errors.New("mailbox already exists")
	ErrGone     = errors.New("message file is gone")
	ErrBadName  = errors.New("invalid mailbox name")
	// ErrLocked: another program holds the mailbox's lock (an mbox
	// dotlock) longer than the format waits. Temporary by nature.
	ErrLocked = errors.New("mailbox is locked by another program")
)

// Entry is one message as the format sees it.
type Entry struct {
	Key   string    // stable identity within the folder
	Name  string    // where it is now (format-specific locator, e.g. "cur/<key>:2,S")
	Flags Flags     // what the format records of the flags; may be partial
	Size  int64     // octets on disk
	Date  time.Time // when it arrived (the format's idea: Maildir uses the file's mtime)
	// SyncEpoch is what a BatchAppender under an FSSync records at
	// AppendUnsynced for its SyncAppended (FSGroup.Begin); zero
	// otherwise. Callers hand the entry back as they got it.
	SyncEpoch uint64
}

// NewMessage is what Append stores.
type NewMessage struct {
	// Data is the message in canonical (CRLF) form, or as an IMAP client
	// sent it in a literal8 (RFC 3516): bare LFs in a binary part are
	// data. Formats store message.StorageLF(Data), which keeps such a
	// message as it is, and ReadStored gives it back.
	Data []byte
	// Content, when set, is the message instead of Data: a delivery's
	// copy, canonical, its body spooled or in the spool's memory. A
	// format streams it (Content.StoredReader, of Content.StoredSize
	// octets), never a spooled one whole in memory, or, for a body in
	// memory, may write Content.AppendStored; either way it stores byte
	// for byte what it would store of Data holding the same octets.
	Content *spool.Content
	Flags   Flags
	// Date becomes the arrival date the format records where it can.
	Date time.Time
	// Sender is the envelope sender, for formats that record it (mbox From_).
	Sender string
	// Reserve, if set, is called with the message's key before the
	// message becomes visible in the folder, so the store can tell its own
	// appends from files that other programs drop in. A format that tries
	// several keys (MH numbers) calls it for each; the caller releases
	// them all when Append returns.
	Reserve func(key string)
}

// Token is a cheap summary of a folder's on-disk state. Equal tokens mean
// nothing changed since the scan that produced the first one.
type Token []byte

// Folder is one mailbox's message files.
type Folder interface {
	// Append stores m durably; see the package invariants.
	Append(ctx context.Context, m NewMessage) (Entry, error)
	// Open returns the message in canonical form. It returns ErrGone when
	// the message no longer exists; a stale Name is resolved through Key.
	Open(e Entry) (io.ReadCloser, error)
	// ReadStored returns the message as it was received
	// (message.StoredForm): a binary part (RFC 3516) with its bare LFs,
	// which the canonical form turns into CRLF. ErrGone as for Open.
	ReadStored(e Entry) ([]byte, error)
	// Scan lists every message. The token describes the state just before
	// the listing began, so a change during the scan is seen next time.
	Scan(ctx context.Context) ([]Entry, Token, error)
	// Token returns the current token without listing anything.
	Token() (Token, error)
	// Settled reports whether tok is old enough that any later change
	// is bound to change it (file times have a coarse clock: two changes
	// in one tick leave the same time). Only settled tokens may be kept
	// to skip later scans.
	Settled(tok Token) bool
	// Stat fills Size and Date from the file.
	Stat(e Entry) (Entry, error)
	// SetFlags records flags where the format has a place for them and
	// returns the entry as it is now. Flush makes it durable.
	SetFlags(e Entry, f Flags) (Entry, error)
	// Flush makes every earlier SetFlags durable.
	Flush() error
	// Remove deletes messages; ones already gone are not an error.
	Remove(entries []Entry) error
}

// Store is one user's collection of folders in one format.
type Store interface {
	// Folder opens an existing mailbox.
	Folder(name string) (Folder, error)
	// Create makes a mailbox (and no parents: callers create those).
	Create(name string) error
	// Delete removes a mailbox and its messages, not its children.
	Delete(name string) error
	// Rename moves a mailbox and its children.
	Rename(oldName, newName string) error
	// List returns every mailbox name, INBOX included.
	List() ([]string, error)
	// Exists tells whether name is a mailbox on disk.
	Exists(name string) bool
}

// BatchAppender is implemented by formats whose Append ends with an
// fsync of the directory that names the new file (Maildir). The store
// uses it to cover a batch of concurrent appends to one mailbox with one
// directory fsync and then one index commit, where each Append would
// fsync the directory itself and each index commit would stand alone.
type BatchAppender interface {
	// AppendUnsynced is Append up to the rename into place: the file is
	// durable and named, the name not yet. A crash before SyncAppended
	// returns may lose the name, never leave half a message; so nothing
	// may be indexed or acknowledged before.
	AppendUnsynced(ctx context.Context, m NewMessage) (Entry, error)
	// SyncAppended makes the names of entries AppendUnsynced returned
	// durable: one directory fsync, begun after this call, per directory
	// they are in.
	SyncAppended(entries []Entry) error
}

// Verifier is implemented by formats whose files tell whether they are
// whole (Maildir under an FSSync records size and CRC-32C in the name).
// A store asks it of every file it is about to index without having
// appended it itself (a crash recovery, another program's delivery).
type Verifier interface {
	// Torn reports whether e's file (as Stat filled it) differs from
	// what its name records: written by an append that a crash cut
	// short before it returned, so never acknowledged, and to be removed
	// rather than shown. A file whose name records nothing is whole.
	Torn(e Entry) (bool, error)
}

// PartialFlags is implemented by formats that keep only some flags on
// disk (MH's sequences hold three). Their Scan says nothing of the other
// flags, which the store keeps from the index; the ones it does record,
// another program may change, and the store takes that over.
type PartialFlags interface {
	RecordedFlags() (sys SysFlags, keywords bool)
}

// Ordered is a format whose Scan lists messages in the order they are
// stored (mbox: file order; MH: by message number): messages found by a
// sync whose dates tie take their UIDs in that order. Without it
// (Maildir, whose directory order means nothing) ties go by key.
type Ordered interface {
	ScanOrdered()
}
