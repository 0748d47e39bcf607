package mh

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/storaged/storaged/folder"
)

// inboxDir is INBOX's directory, nmh's default Inbox folder.
const inboxDir = "inbox"

// noselect marks a deleted folder whose directory stays for its children.
const noselect = ".storaged-noselect"

// Store is one user's MH folders under a root directory.
type Store struct {
	root string
	sync folder.DirSyncer

	mu      sync.Mutex
	folders map[string]*Folder // by directory
}

// Open opens (creating when new) the MH store at root.
func Open(root string) (*Store, error) {
	if err := os.MkdirAll(filepath.Join(root, inboxDir), 0o700); err != nil {
		return nil, fmt.Errorf("mh: %w", err)
	}
	return &Store{root: root, folders: make(map[string]*Folder)}, nil
}

// Owns reports whether root holds an MH store: an inbox folder and no
// Maildir of its own.
func Owns(root string) bool {
	return isDir(filepath.Join(root, inboxDir)) && !isDir(filepath.Join(root, "cur"))
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// dirFor maps a checked mailbox name to its directory.
func (s *Store) dirFor(name string) string {
	name = folder.CanonicalName(name)
	levels := strings.Split(name, folder.Separator)
	for i, l := range levels {
		if i == 0 && l == folder.Inbox {
			levels[i] = inboxDir
			continue
		}
		levels[i] = folder.EncodeMUTF7(l)
	}
	return filepath.Join(append([]string{s.root}, levels...)...)
}

// isFolder tells whether dir is a live folder (not deleted with children
// left).
func isFolder(dir string) bool {
	if !isDir(dir) {
		return false
	}
	_, err := os.Stat(filepath.Join(dir, noselect))
	return errors.Is(err, fs.ErrNotExist)
}

// Folder implements folder.Store.
func (s *Store) Folder(name string) (folder.Folder, error) {
	if err := folder.CheckName(name); err != nil {
		return nil, err
	}
	dir := s.dirFor(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.folders[dir]; ok {
		return f, nil
	}
	if !isFolder(dir) {
		return nil, fmt.Errorf("%w: %s", folder.ErrNotFound, name)
	}
	f := &Folder{dir: dir, sync: &s.sync}
	f.cleanTemp()
	s.folders[dir] = f
	return f, nil
}

// Exists implements folder.Store.
func (s *Store) Exists(name string) bool {
	return folder.CheckName(name) == nil && isFolder(s.dirFor(name))
}

// Create implements folder.Store.
func (s *Store) Create(name string) error {
	if err := folder.CheckName(name); err != nil {
		return err
	}
	dir := s.dirFor(name)
	if isDir(dir) {
		mark := filepath.Join(dir, noselect)
		if _, err := os.Stat(mark); err != nil {
			return fmt.Errorf("%w: %s", folder.ErrExists, name)
		}
		if err := os.Remove(mark); err != nil {
			return fmt.Errorf("mh: create: %w", err)
		}
		return folder.SyncDir(dir)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			// The store creates parents first; a missing one is a
			// caller's slip, not ours to paper over.
			return fmt.Errorf("%w: parent of %s", folder.ErrNotFound, name)
		}
		return fmt.Errorf("mh: create: %w", err)
	}
	return folder.SyncDir(filepath.Dir(dir))
}

// hasChildren tells whether dir holds folders.
func hasChildren(dir string) bool {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			return true
		}
	}
	return false
}

// Delete implements folder.Store: without children the folder is renamed
// out of sight first, so a crash never leaves half of it visible; with
// children its messages go and the directory stays, marked.
func (s *Store) Delete(name string) error {
	if err := folder.CheckDelete(name); err != nil {
		return err
	}
	dir := s.dirFor(name)
	if !isFolder(dir) {
		return fmt.Errorf("%w: %s", folder.ErrNotFound, name)
	}
	defer s.forget(dir)
	if hasChildren(dir) {
		if err := os.WriteFile(filepath.Join(dir, noselect), nil, 0o600); err != nil {
			return fmt.Errorf("mh: delete: %w", err)
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("mh: delete: %w", err)
		}
		for _, e := range ents {
			if _, ok := msgNumber(e.Name()); (ok && e.Type().IsRegular()) || e.Name() == seqFile {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("mh: delete: %w", err)
				}
			}
		}
		return folder.SyncDir(dir)
	}
	trash, err := os.MkdirTemp(s.root, ".deleted-")
	if err != nil {
		return fmt.Errorf("mh: delete: %w", err)
	}
	if err := os.Rename(dir, filepath.Join(trash, "f")); err != nil {
		os.Remove(trash)
		return fmt.Errorf("mh: delete: %w", err)
	}
	if err := folder.SyncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	return os.RemoveAll(trash)
}

func (s *Store) forget(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for d := range s.folders {
		if d == dir || strings.HasPrefix(d, dir+string(filepath.Separator)) {
			delete(s.folders, d)
		}
	}
}

// Rename implements folder.Store; children move with the directory.
func (s *Store) Rename(oldName, newName string) error {
	if err := folder.CheckRename(oldName, newName); err != nil {
		return err
	}
	from, to := s.dirFor(oldName), s.dirFor(newName)
	if !isFolder(from) {
		return fmt.Errorf("%w: %s", folder.ErrNotFound, oldName)
	}
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("%w: %s", folder.ErrExists, newName)
	}
	if strings.HasPrefix(to, from+string(filepath.Separator)) {
		return fmt.Errorf("%w: cannot move %s into itself", folder.ErrBadName, oldName)
	}
	if !isDir(filepath.Dir(to)) {
		return fmt.Errorf("%w: parent of %s", folder.ErrNotFound, newName)
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("mh: rename: %w", err)
	}
	s.forget(from)
	if err := folder.SyncDir(filepath.Dir(from)); err != nil {
		return err
	}
	return folder.SyncDir(filepath.Dir(to))
}

// List implements folder.Store: every folder directory below the root.
func (s *Store) List() ([]string, error) {
	out := []string{folder.Inbox}
	var walk func(dir, prefix string, top bool) error
	walk = func(dir, prefix string, top bool) error {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("mh: %w", err)
		}
		for _, e := range ents {
			n := e.Name()
			if !e.IsDir() || strings.HasPrefix(n, ".") {
				continue
			}
			var name string
			switch {
			case top && n == inboxDir:
				name = folder.Inbox
			case top && strings.EqualFold(n, inboxDir):
				// "INBOX" beside "inbox" on a case-sensitive disk:
				// not a name IMAP can tell apart.
				continue
			default:
				level, err := folder.DecodeMUTF7(n)
				if err != nil {
					continue
				}
				name = prefix + level
				if folder.CheckName(name) != nil {
					continue
				}
				if isFolder(filepath.Join(dir, n)) {
					out = append(out, name)
				}
			}
			if err := walk(filepath.Join(dir, n), name+folder.Separator, false); err != nil {
				return err
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

// Format is MH as a folder.Format.
var Format = folder.Format{
	Name: "mh",
	Open: func(root string, _ folder.Options) (folder.Store, error) { return Open(root) },
	Owns: Owns,
}
