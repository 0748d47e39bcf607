package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/index"
	"github.com/storaged/storaged/internal/safefs"
)

// Options say where accounts live.
type Options struct {
	// MailDir holds one store per user: MailDir/<user>/.
	MailDir string
	// IndexDir holds one index per user: IndexDir/<user>/index.db. It may
	// be on another disk than the mail.
	IndexDir string
	// LockWait is how long to wait for an index another process holds.
	LockWait time.Duration
	Logger   *slog.Logger
	// Formats are the storage formats accounts may use; empty means
	// Maildir only.
	Formats []folder.Format
	// FormatOptions are passed to every format's Open. Its FSSync, when
	// set, is shared by every account and closed by Close.
	FormatOptions folder.Options
	// UserFormat names a user's format; nil or "" means "maildir".
	UserFormat func(user string) (string, error)
	// UserLayout, when set, gives a user's folder layout
	// (folder.Options.Layout: Dovecot's LAYOUT= of the mail location).
	UserLayout func(user string) string
	// OnIndexCommit, when set, is told of every durable index commit:
	// the writers it served and its duration (metrics).
	OnIndexCommit func(writers int, d time.Duration)
	// Quota gives users' limits and the warnings; zero means no limits.
	Quota QuotaOptions
	// Owner, when set, names who the files of a user's store belong to
	// (the passwd-file line's uid/gid, Dovecot's mail_uid/mail_gid as a
	// default): every file and directory made in the store, and the
	// index file, are given to it (safefs.Owner). nil, or a nil Owner,
	// leaves the process's. An error (one that Is ErrOwner when the ids
	// cannot be honoured) fails that user's Open, and nothing is written.
	Owner func(user string) (*safefs.Owner, error)
}

// ErrOwner: the user's files would have to belong to a uid/gid this
// process cannot give them (it runs as another user than the one the
// passwd-file line names). Delivery answers 451 4.3.0, IMAP NO
// [UNAVAILABLE]: better than files the user's own tools cannot read.
var ErrOwner = errors.New("store: the user's files cannot belong to the uid/gid the users file gives")

// DefaultMailboxes are created with every new account, with their
// special-use attributes (RFC 6154).
var DefaultMailboxes = []struct{ Name, SpecialUse string }{
	{"Drafts", `\Drafts`}, {"Sent", `\Sent`}, {"Trash", `\Trash`},
	{"Junk", `\Junk`}, {"Archive", `\Archive`},
}

// Accounts is the registry of open accounts: one per user per process,
// because an index file has one owner.
type Accounts struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	open    map[string]*Account
	opening map[string]chan struct{}
}

// NewAccounts returns an empty registry.
func NewAccounts(opts Options) *Accounts {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.LockWait == 0 {
		opts.LockWait = 2 * time.Second
	}
	return &Accounts{opts: opts, log: opts.Logger, open: make(map[string]*Account), opening: make(map[string]chan struct{})}
}

// Open returns the user's account, creating its store and index on first
// use. user must already be a valid user name (auth.ValidName).
func (a *Accounts) Open(ctx context.Context, user string) (*Account, error) {
	for {
		a.mu.Lock()
		if acct, ok := a.open[user]; ok {
			a.mu.Unlock()
			return acct, nil
		}
		wait, busy := a.opening[user]
		if !busy {
			done := make(chan struct{})
			a.opening[user] = done
			a.mu.Unlock()
			acct, err := a.openAccount(ctx, user)
			a.mu.Lock()
			delete(a.opening, user)
			if err == nil {
				a.open[user] = acct
			}
			a.mu.Unlock()
			close(done)
			return acct, err
		}
		a.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close closes every account.
func (a *Accounts) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for u, acct := range a.open {
		errs = append(errs, acct.close())
		delete(a.open, u)
	}
	if s := a.opts.FormatOptions.FSSync; s != nil {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

func (a *Accounts) openAccount(ctx context.Context, user string) (*Account, error) {
	log := a.log.With("user", user)
	// The name becomes one directory of MailDir and of IndexDir: nothing
	// else (auth.ValidName refused it already; this is the last line).
	if err := safefs.CheckPath(user); err != nil || strings.ContainsAny(user, "/\\") || strings.HasPrefix(user, ".") {
		return nil, fmt.Errorf("store: user name %q cannot name a directory", user)
	}
	// The owner first: a user whose ids cannot be honoured gets nothing
	// made on disk.
	var owner *safefs.Owner
	if a.opts.Owner != nil {
		var err error
		if owner, err = a.opts.Owner(user); err != nil {
			return nil, err
		}
	}
	root := filepath.Join(a.opts.MailDir, user)
	_, statErr := os.Stat(root)
	newStore := errors.Is(statErr, fs.ErrNotExist)
	format, err := a.formatFor(user, root)
	if err != nil {
		return nil, err
	}
	idxDir := filepath.Join(a.opts.IndexDir, user)
	if err := os.MkdirAll(idxDir, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	// The index directory is the user's private state: outside the mail,
	// which the user may write, so a format can trust what it keeps there.
	fopts := a.opts.FormatOptions
	fopts.StateDir = idxDir
	fopts.Owner = owner
	if a.opts.UserLayout != nil {
		fopts.Layout = a.opts.UserLayout(user)
	}
	files, err := format.Open(root, fopts)
	if err != nil {
		return nil, err
	}
	idxPath := filepath.Join(idxDir, "index.db")
	_, statErr = os.Stat(idxPath)
	rebuild := errors.Is(statErr, fs.ErrNotExist) && !newStore
	idx, err := index.Open(idxPath, a.opts.LockWait)
	var salvage *index.Salvage
	var aside string
	if err != nil && !errors.Is(err, index.ErrLocked) && !errors.Is(err, index.ErrVersion) {
		// Unreadable: what can still be read of it keeps those messages'
		// UIDs and flags (rebuild.go); the file is kept for a post-mortem
		// and the index starts afresh. Mailboxes nothing could be read of
		// get a new UIDVALIDITY (the clock guarantees one larger than
		// clients have cached).
		salvage, _ = index.SalvageFile(idxPath, a.opts.LockWait)
		aside = fmt.Sprintf("%s.broken-%d", idxPath, time.Now().Unix())
		salvaged := 0
		if salvage != nil {
			salvaged = len(salvage.Mailboxes)
		}
		log.Error("index unreadable; rebuilding from the mail files, keeping the UIDs of the records still readable", "err", err, "moved_to", aside, "salvaged_mailboxes", salvaged)
		if rerr := os.Rename(idxPath, aside); rerr != nil {
			return nil, fmt.Errorf("store: move broken index aside: %w", rerr)
		}
		rebuild = true
		idx, err = index.Open(idxPath, a.opts.LockWait)
	}
	if err != nil {
		return nil, err
	}
	if err := chownIndex(idxPath, owner); err != nil {
		idx.Close()
		return nil, err
	}
	if a.opts.OnIndexCommit != nil {
		idx.SetCommitObserver(a.opts.OnIndexCommit)
	}
	acct := &Account{owner: owner, user: user, root: root, format: format.Name, idx: idx, files: files, log: log, mailboxes: make(map[uint64]*Mailbox), quota: a.opts.Quota}
	if rebuild {
		// Adoption below keeps the UIDs another server recorded (Dovecot's
		// dovecot-uidlist); only the other mailboxes change UIDVALIDITY.
		log.Warn("index missing; building it from the mail files: mailboxes with another server's UID list keep their UIDs, others get a new UIDVALIDITY", "index", idxPath)
		// The clock alone could repeat a value the lost index gave out in
		// the same second; the store remembers the last one.
		if last := readUIDValidityMark(root); last > 0 {
			if err := idx.Commit(func(tx *index.Tx) error { return tx.RaiseUIDValidity(last) }); err != nil {
				idx.Close()
				return nil, err
			}
		}
	}
	created, err := acct.reconcileMailboxes(ctx, newStore)
	if err != nil {
		idx.Close()
		return nil, err
	}
	if salvage != nil && len(salvage.Mailboxes) > 0 {
		r, err := acct.rebuildFromSalvage(ctx, salvage, aside)
		if err != nil {
			idx.Close()
			return nil, err
		}
		acct.openRebuild = r
		return acct, nil
	}
	// Before any session sees a mailbox: UIDs another server gave its
	// messages are kept (adopt.go).
	if !newStore {
		if err := acct.adoptForeign(ctx, created); err != nil {
			idx.Close()
			return nil, err
		}
	}
	if rebuild {
		if err := acct.SyncAll(ctx); err != nil {
			idx.Close()
			return nil, err
		}
	}
	return acct, nil
}

// chownIndex gives the index file to owner. The index directory stays
// the server's (0700, outside the store: what it holds is trusted, the
// mbox journal's sizes included), so no one can swap the file between
// the open and this; the checks make sure what is given away is a plain
// file of the process's, made here.
func chownIndex(path string, owner *safefs.Owner) error {
	if owner == nil {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() || st.Nlink != 1 || int(st.Uid) != os.Geteuid() {
		return nil
	}
	return safefs.ChownFile(f, owner)
}

// uidValidityMark is a file in the mail root holding the last UIDVALIDITY
// handed out, so that an index rebuilt after loss never repeats one. It is
// a dot-file: no format reads one as a mailbox (mbox would take any other
// plain file for one), and no mailbox name can start with '.'.
const uidValidityMark = ".storaged-uidvalidity"

// oldUIDValidityMark is where stores written before the dot-file kept it.
const oldUIDValidityMark = "storaged-uidvalidity"

// readUIDValidityMark reads the mark without following a link (the
// root's contents are the user's; safefs).
func readUIDValidityMark(root string) uint32 {
	d, err := safefs.OpenDir(root)
	if err != nil {
		return 0
	}
	defer d.Close()
	b, err := d.ReadFile(uidValidityMark, 64)
	if err != nil {
		if b, err = d.ReadFile(oldUIDValidityMark, 64); err != nil {
			return 0
		}
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32)
	if err != nil {
		return 0
	}
	return uint32(v)
}

// markUIDValidity records the index's last UIDVALIDITY beside the mail.
func (a *Account) markUIDValidity() error {
	var last uint32
	a.idx.View(func(tx *index.Tx) error { last = tx.LastUIDValidity(); return nil })
	if last == 0 || last == readUIDValidityMark(a.root) {
		return nil
	}
	// A new file of random name renamed over the mark (safefs.WriteFile):
	// no link planted at either name is written through.
	d, err := safefs.OpenDirOwned(a.root, a.owner)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer d.Close()
	if err := d.WriteFile(uidValidityMark, []byte(strconv.FormatUint(uint64(last), 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return d.SyncDir("")
}

// reconcileMailboxes makes index and folders name the same mailboxes:
// folders another program made get an index entry; index entries whose
// folder vanished are dropped. A new account gets the default set. It
// returns the mailboxes it added to the index.
func (a *Account) reconcileMailboxes(ctx context.Context, newStore bool) ([]string, error) {
	if newStore {
		for _, d := range DefaultMailboxes {
			if err := a.files.Create(d.Name); err != nil && !errors.Is(err, folder.ErrExists) {
				return nil, err
			}
		}
	}
	names, err := a.files.List()
	if err != nil {
		return nil, err
	}
	special := make(map[string]string)
	for _, d := range DefaultMailboxes {
		special[d.Name] = d.SpecialUse
	}
	onDisk := make(map[string]bool, len(names))
	for _, n := range names {
		onDisk[n] = true
	}
	defer a.markUIDValidity()
	var created []string
	err = a.idx.Commit(func(tx *index.Tx) error {
		created = created[:0]
		have, err := tx.Mailboxes()
		if err != nil {
			return err
		}
		known := make(map[string]bool, len(have))
		for _, mb := range have {
			known[mb.Name] = true
			if !onDisk[mb.Name] {
				a.log.Warn("mailbox folder gone; dropping it from the index", "mailbox", mb.Name)
				if err := tx.DeleteMailbox(mb.Name); err != nil {
					return err
				}
			}
		}
		for _, n := range names {
			if known[n] {
				continue
			}
			if _, err := tx.CreateMailbox(n, special[n]); err != nil {
				return err
			}
			created = append(created, n)
			if newStore {
				if err := tx.Subscribe(n); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return created, err
}
