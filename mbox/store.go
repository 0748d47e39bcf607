package mbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/safefs"
)

// subSuffix names the directory that holds a folder's children, as
// Thunderbird does: "A/B" is the file A.sbd/B, so "A" can hold messages
// and children at once (plain mutt trees cannot).
const subSuffix = ".sbd"

// DefaultLockWait is how long an append or rewrite waits for another
// program's lock before giving up with ErrLocked.
const DefaultLockWait = 10 * time.Second

// Store is one user's mbox folders under a root directory. Every file
// beneath the root is reached through dir (package safefs): no link is
// followed.
type Store struct {
	root string
	dir  *safefs.Dir
	// LockWait bounds the wait for another program's lock, for writers
	// (then ErrLocked) and readers alike; zero means DefaultLockWait.
	// Set it before the store is used.
	LockWait time.Duration
	// StateDir, when set, is a directory outside the store that the
	// user cannot write, where appends record their intent (see
	// journal.go): only with it is an append cut short by a crash cut
	// off by the next process. Set it before the store is used.
	StateDir string

	mu      sync.Mutex
	folders map[string]*Folder // by file, beneath the root
}

// Open opens (creating when new) the mbox store at root: root/INBOX and
// the folder files beside it. root itself is trusted; what lies beneath
// it is the user's.
func Open(root string) (*Store, error) { return OpenOwned(root, nil) }

// OpenOwned is Open for a store whose new files and directories belong
// to owner (folder.Options.Owner), the root included when it is made
// here.
func OpenOwned(root string, owner *safefs.Owner) (*Store, error) {
	if err := safefs.MkdirOwned(root, 0o700, owner); err != nil {
		return nil, fmt.Errorf("mbox: %w", err)
	}
	d, err := safefs.OpenDirOwned(root, owner)
	if err != nil {
		return nil, fmt.Errorf("mbox: %w", err)
	}
	fd, err := d.Create(folder.Inbox, 0o600)
	if err == nil {
		fd.Close()
		if err := d.SyncDir(""); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("mbox: %w", err)
	}
	return &Store{root: root, dir: d, LockWait: DefaultLockWait, folders: make(map[string]*Folder)}, nil
}

func (s *Store) lockWait() time.Duration {
	if s.LockWait <= 0 {
		return DefaultLockWait
	}
	return s.LockWait
}

// Owns reports whether root holds an mbox store: INBOX a regular file
// (not a link), and no Maildir cur/.
func Owns(root string) bool {
	st, err := os.Lstat(filepath.Join(root, folder.Inbox))
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	cur, err := os.Lstat(filepath.Join(root, "cur"))
	return err != nil || !cur.IsDir()
}

// pathFor maps a checked mailbox name to its file beneath the root.
func pathFor(name string) string {
	levels := strings.Split(folder.CanonicalName(name), folder.Separator)
	parts := make([]string, 0, len(levels))
	for i, l := range levels {
		if !(i == 0 && l == folder.Inbox) {
			l = folder.EncodeMUTF7(l)
		}
		if i < len(levels)-1 {
			l += subSuffix
		}
		parts = append(parts, l)
	}
	return strings.Join(parts, "/")
}

// relFor checks a mailbox name and maps it to its file; a name whose
// file could not exist on disk is ErrBadName.
func relFor(name string) (string, error) {
	if err := folder.CheckName(name); err != nil {
		return "", err
	}
	rel := pathFor(name)
	return rel, folder.CheckOnDisk(rel + ".lock")
}

// parentOf is the directory holding rel ("" for the root).
func parentOf(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return ""
}

// isFile: rel is a regular file with no other link. A link to a file,
// or a file linked from elsewhere (another user's mbox), is no folder.
func (s *Store) isFile(rel string) bool {
	st, err := s.dir.Lstat(rel)
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	sys, ok := safefs.Stat(st)
	return ok && sys.Nlink == 1
}

// Folder implements folder.Store.
func (s *Store) Folder(name string) (folder.Folder, error) {
	rel, err := relFor(name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.folders[rel]; ok {
		return f, nil
	}
	if !s.isFile(rel) {
		return nil, fmt.Errorf("%w: %s", folder.ErrNotFound, name)
	}
	f := &Folder{st: s, rel: rel}
	s.folders[rel] = f
	return f, nil
}

// Exists implements folder.Store.
func (s *Store) Exists(name string) bool {
	rel, err := relFor(name)
	return err == nil && s.isFile(rel)
}

// Create implements folder.Store.
func (s *Store) Create(name string) error {
	rel, err := relFor(name)
	if err != nil {
		return err
	}
	if p := parentOf(rel); p != "" {
		if err := s.dir.MkdirAll(p, 0o700); err != nil {
			if folder.Missing(err) {
				return fmt.Errorf("%w: parent of %s: %w", folder.ErrNotFound, name, err)
			}
			return fmt.Errorf("mbox: create: %w", err)
		}
	}
	fd, err := s.dir.Create(rel, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", folder.ErrExists, name)
		}
		return fmt.Errorf("mbox: create: %w", err)
	}
	fd.Close()
	return s.dir.SyncDir(parentOf(rel))
}

// Delete implements folder.Store: the file goes, under the folder's lock
// so that no append lands in it; its children stay in their .sbd
// directory.
func (s *Store) Delete(name string) error {
	if err := folder.CheckDelete(name); err != nil {
		return err
	}
	fi, err := s.Folder(name)
	if err != nil {
		return err
	}
	f := fi.(*Folder)
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.lockWrite()
	if err != nil {
		return err
	}
	defer l.release()
	if err := s.dir.Remove(f.rel); err != nil {
		return fmt.Errorf("mbox: delete: %w", err)
	}
	s.forget(f.rel)
	return s.dir.SyncDir(parentOf(f.rel))
}

func (s *Store) forget(rel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.folders {
		if k == rel || strings.HasPrefix(k, rel+subSuffix+"/") {
			delete(s.folders, k)
		}
	}
}

// Rename implements folder.Store: the file and its .sbd directory move.
func (s *Store) Rename(oldName, newName string) error {
	if err := folder.CheckRename(oldName, newName); err != nil {
		return err
	}
	if strings.HasPrefix(folder.CanonicalName(newName), folder.CanonicalName(oldName)+folder.Separator) {
		// The file would move into its own .sbd directory and the
		// directory into itself, which fails half done.
		return fmt.Errorf("%w: cannot move %s into itself", folder.ErrBadName, oldName)
	}
	from, to := pathFor(oldName), pathFor(newName)
	if err := folder.CheckOnDisk(to + ".lock"); err != nil {
		return err
	}
	if err := folder.CheckOnDisk(to + subSuffix); err != nil {
		return err
	}
	if !s.isFile(from) {
		return fmt.Errorf("%w: %s", folder.ErrNotFound, oldName)
	}
	if _, err := s.dir.Lstat(to); err == nil {
		return fmt.Errorf("%w: %s", folder.ErrExists, newName)
	}
	if p := parentOf(to); p != "" {
		if err := s.dir.MkdirAll(p, 0o700); err != nil {
			if folder.Missing(err) {
				return fmt.Errorf("%w: parent of %s: %w", folder.ErrNotFound, newName, err)
			}
			return fmt.Errorf("mbox: rename: %w", err)
		}
	}
	if err := s.dir.Rename(from, to); err != nil {
		if folder.Missing(err) {
			return fmt.Errorf("%w: %s: %w", folder.ErrNotFound, oldName, err)
		}
		return fmt.Errorf("mbox: rename: %w", err)
	}
	if err := s.dir.Rename(from+subSuffix, to+subSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("mbox: rename children: %w", err)
	}
	s.forget(from)
	if err := s.dir.SyncDir(parentOf(from)); err != nil {
		return err
	}
	return s.dir.SyncDir(parentOf(to))
}

// List implements folder.Store: regular files and .sbd directories, not
// links to either.
func (s *Store) List() ([]string, error) {
	out := []string{folder.Inbox}
	var walk func(rel, prefix string) error
	walk = func(rel, prefix string) error {
		ents, err := s.dir.ReadDir(rel)
		if err != nil {
			return fmt.Errorf("mbox: %w", err)
		}
		top := rel == ""
		for _, e := range ents {
			n := e.Name
			if strings.HasPrefix(n, ".") {
				continue
			}
			sub := n
			if !top {
				sub = rel + "/" + n
			}
			isDir, isReg := e.IsDir(), e.IsRegular()
			if e.Unknown() {
				isDir, isReg = s.dir.IsDir(sub), s.dir.IsRegular(sub)
			}
			base, isSub := strings.CutSuffix(n, subSuffix)
			if isSub != isDir {
				continue
			}
			var name string
			if top && base == folder.Inbox {
				name = folder.Inbox
			} else {
				level, err := folder.DecodeMUTF7(base)
				if err != nil {
					continue
				}
				name = prefix + level
				if folder.CheckName(name) != nil || (top && strings.EqualFold(level, folder.Inbox)) {
					continue
				}
			}
			if isSub {
				if err := walk(sub, name+folder.Separator); err != nil {
					return err
				}
			} else if isReg && name != folder.Inbox {
				out = append(out, name)
			}
		}
		return nil
	}
	if err := walk("", ""); err != nil {
		return nil, err
	}
	sort.Strings(out[1:])
	return out, nil
}

// Format is mbox as a folder.Format; Options.LockWait sets the store's
// LockWait, Options.StateDir its StateDir.
var Format = folder.Format{
	Name: "mbox",
	Open: func(root string, opt folder.Options) (folder.Store, error) {
		s, err := OpenOwned(root, opt.Owner)
		if err == nil && opt.LockWait > 0 {
			s.LockWait = opt.LockWait
		}
		if err == nil {
			s.StateDir = opt.StateDir
		}
		return s, err
	},
	Owns: Owns,
}
