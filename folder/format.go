package folder

import (
	"time"

	"github.com/storaged/storaged/internal/safefs"
)

// Format is one on-disk storage format. Each format package exports its
// own (maildir.Format, mbox.Format, mh.Format); the store picks one per
// account.
type Format struct {
	Name string
	// Open opens the user's store at root, creating it when it is new.
	Open func(root string, opt Options) (Store, error)
	// Owns reports whether root already holds a store of this format, so
	// that an account is never opened in a format other than its own.
	Owns func(root string) bool
}

// Options are the settings a format may take from the configuration;
// each format ignores those it has no use for.
type Options struct {
	// LockWait bounds the wait for another program's lock (mbox).
	LockWait time.Duration
	// StateDir, when set, is a directory outside the user's store, which
	// the user cannot write, where a format may keep what it must be able
	// to trust after a crash (mbox: the sizes of an append in flight).
	// The store gives each user's index directory.
	StateDir string
	// Owner, when set, is who every file and directory the format makes
	// in the store belongs to (the passwd-file line's uid/gid, for a
	// server running as root: safefs.Owner); nil leaves the process's.
	Owner *safefs.Owner
	// Layout is the LAYOUT= of the user's Dovecot mail location (Maildir:
	// "" or "maildir++", "fs"): how folders lie beneath the root.
	Layout string
	// FSSync, when set, has a format that can (a BatchAppender whose
	// names tell a torn file: Maildir) make appends durable with one
	// syncfs per file system shared by every store, instead of an fsync
	// of each file and directory. nil: the fsyncs.
	FSSync *FSSync
}
