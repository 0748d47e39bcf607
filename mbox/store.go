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
)

// subSuffix names the directory that holds a folder's children, as
// Thunderbird does: "A/B" is the file A.sbd/B, so "A" can hold messages
// and children at once (plain mutt trees cannot).
const subSuffix = ".sbd"

// DefaultLockWait is how long an append or rewrite waits for another
// program's lock before giving up with ErrLocked.
const DefaultLockWait = 10 * time.Second

// Store is one user's mbox folders under a root directory.
type Store struct {
	root string
	// LockWait bounds the wait for another program's lock, for writers
	// (then ErrLocked) and readers alike; zero means DefaultLockWait.
	// Set it before the store is used.
	LockWait time.Duration

	mu      sync.Mutex
	folders map[string]*Folder // by file path
}

// Open opens (creating when new) the mbox store at root: root/INBOX and
// the folder files beside it.
func Open(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("mbox: %w", err)
	}
	inbox := filepath.Join(root, folder.Inbox)
	fd, err := os.OpenFile(inbox, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		fd.Close()
		if err := folder.SyncDir(root); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("mbox: %w", err)
	}
	return &Store{root: root, LockWait: DefaultLockWait, folders: make(map[string]*Folder)}, nil
}

func (s *Store) lockWait() time.Duration {
	if s.LockWait <= 0 {
		return DefaultLockWait
	}
	return s.LockWait
}

// Owns reports whether root holds an mbox store.
func Owns(root string) bool {
	st, err := os.Stat(filepath.Join(root, folder.Inbox))
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	cur, err := os.Stat(filepath.Join(root, "cur"))
	return err != nil || !cur.IsDir()
}

// pathFor maps a checked mailbox name to its file.
func (s *Store) pathFor(name string) string {
	levels := strings.Split(folder.CanonicalName(name), folder.Separator)
	parts := []string{s.root}
	for i, l := range levels {
		if !(i == 0 && l == folder.Inbox) {
			l = folder.EncodeMUTF7(l)
		}
		if i < len(levels)-1 {
			l += subSuffix
		}
		parts = append(parts, l)
	}
	return filepath.Join(parts...)
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// Folder implements folder.Store.
func (s *Store) Folder(name string) (folder.Folder, error) {
	if err := folder.CheckName(name); err != nil {
		return nil, err
	}
	p := s.pathFor(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.folders[p]; ok {
		return f, nil
	}
	if !isFile(p) {
		return nil, fmt.Errorf("%w: %s", folder.ErrNotFound, name)
	}
	f := &Folder{st: s, path: p}
	s.folders[p] = f
	return f, nil
}

// Exists implements folder.Store.
func (s *Store) Exists(name string) bool {
	return folder.CheckName(name) == nil && isFile(s.pathFor(name))
}

// Create implements folder.Store.
func (s *Store) Create(name string) error {
	if err := folder.CheckName(name); err != nil {
		return err
	}
	p := s.pathFor(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("mbox: create: %w", err)
	}
	fd, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", folder.ErrExists, name)
		}
		return fmt.Errorf("mbox: create: %w", err)
	}
	fd.Close()
	return folder.SyncDir(filepath.Dir(p))
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
	if err := os.Remove(f.path); err != nil {
		return fmt.Errorf("mbox: delete: %w", err)
	}
	s.forget(f.path)
	return folder.SyncDir(filepath.Dir(f.path))
}

func (s *Store) forget(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.folders {
		if k == p || strings.HasPrefix(k, p+subSuffix+string(filepath.Separator)) {
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
	from, to := s.pathFor(oldName), s.pathFor(newName)
	if !isFile(from) {
		return fmt.Errorf("%w: %s", folder.ErrNotFound, oldName)
	}
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("%w: %s", folder.ErrExists, newName)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return fmt.Errorf("mbox: rename: %w", err)
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("mbox: rename: %w", err)
	}
	if err := os.Rename(from+subSuffix, to+subSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("mbox: rename children: %w", err)
	}
	s.forget(from)
	if err := folder.SyncDir(filepath.Dir(from)); err != nil {
		return err
	}
	return folder.SyncDir(filepath.Dir(to))
}

// List implements folder.Store.
func (s *Store) List() ([]string, error) {
	out := []string{folder.Inbox}
	var walk func(dir, prefix string, top bool) error
	walk = func(dir, prefix string, top bool) error {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("mbox: %w", err)
		}
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, ".") {
				continue
			}
			base, isSub := strings.CutSuffix(n, subSuffix)
			if isSub != e.IsDir() {
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
				if err := walk(filepath.Join(dir, n), name+folder.Separator, false); err != nil {
					return err
				}
			} else if e.Type().IsRegular() && name != folder.Inbox {
				out = append(out, name)
			}
		}
		return nil
	}
	if err := walk(s.root, "", true); err != nil {
		return nil, err
	}
	sort.Strings(out[1:])
	return out, nil
}

// Format is mbox as a folder.Format; Options.LockWait sets the store's
// LockWait.
var Format = folder.Format{
	Name: "mbox",
	Open: func(root string, opt folder.Options) (folder.Store, error) {
		s, err := Open(root)
		if err == nil && opt.LockWait > 0 {
			s.LockWait = opt.LockWait
		}
		return s, err
	},
	Owns: Owns,
}
