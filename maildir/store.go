package maildir

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

// Store is one user's Maildir++ tree.
type Store struct {
	root string
	uniq *uniq
	sync folder.DirSyncer

	mu      sync.Mutex
	folders map[string]*Folder // by directory
}

var _ folder.Store = (*Store)(nil)

// Open returns the store rooted at root, creating INBOX's directories if
// they are missing.
func Open(root string) (*Store, error) {
	s := &Store{root: root, uniq: newUniq(), folders: make(map[string]*Folder)}
	if err := makeMaildir(root, false); err != nil {
		return nil, err
	}
	return s, nil
}

// Root is the store's top directory.
func (s *Store) Root() string { return s.root }

// dirFor maps a checked mailbox name to its directory.
func (s *Store) dirFor(name string) string {
	name = folder.CanonicalName(name)
	if name == folder.Inbox {
		return s.root
	}
	levels := strings.Split(name, folder.Separator)
	for i, l := range levels {
		levels[i] = folder.EncodeMUTF7(l)
	}
	return filepath.Join(s.root, "."+strings.Join(levels, "."))
}

// nameFor maps a directory entry of the root back to a mailbox name.
func nameFor(entry string) (string, bool) {
	rest, ok := strings.CutPrefix(entry, ".")
	if !ok || rest == "" || strings.HasPrefix(rest, ".") {
		return "", false
	}
	levels := strings.Split(rest, ".")
	for i, l := range levels {
		d, err := folder.DecodeMUTF7(l)
		if err != nil {
			return "", false
		}
		levels[i] = d
	}
	name := strings.Join(levels, folder.Separator)
	if folder.CheckName(name) != nil {
		return "", false
	}
	return name, true
}

func makeMaildir(dir string, marker bool) error {
	for _, sub := range []string{"", "cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("maildir: %w", err)
		}
	}
	if marker {
		fd, err := os.OpenFile(filepath.Join(dir, "maildirfolder"), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("maildir: %w", err)
		}
		fd.Close()
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := folder.SyncDir(filepath.Join(dir, sub)); err != nil {
			return err
		}
	}
	if err := folder.SyncDir(dir); err != nil {
		return err
	}
	return folder.SyncDir(filepath.Dir(dir))
}

func isMaildir(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "cur"))
	return err == nil && st.IsDir()
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
	if !isMaildir(dir) {
		return nil, fmt.Errorf("%w: %s", folder.ErrNotFound, name)
	}
	// A crash between creating tmp/ and cur/ or between rename and
	// mkdir could leave a partial folder: make it whole.
	for _, sub := range []string{"new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("maildir: %w", err)
		}
	}
	f := &Folder{dir: dir, st: s, kw: loadKeywords(dir), sync: &s.sync}
	s.folders[dir] = f
	return f, nil
}

// Exists implements folder.Store.
func (s *Store) Exists(name string) bool {
	return folder.CheckName(name) == nil && isMaildir(s.dirFor(name))
}

// Create implements folder.Store.
func (s *Store) Create(name string) error {
	if err := folder.CheckName(name); err != nil {
		return err
	}
	dir := s.dirFor(name)
	if isMaildir(dir) {
		return fmt.Errorf("%w: %s", folder.ErrExists, name)
	}
	return makeMaildir(dir, true)
}

// Delete implements folder.Store: the folder is first renamed out of
// sight, so a crash mid-way never leaves a half-deleted visible folder.
func (s *Store) Delete(name string) error {
	if err := folder.CheckDelete(name); err != nil {
		return err
	}
	dir := s.dirFor(name)
	if !isMaildir(dir) {
		return fmt.Errorf("%w: %s", folder.ErrNotFound, name)
	}
	trash, err := os.MkdirTemp(s.root, "..deleted-")
	if err != nil {
		return fmt.Errorf("maildir: delete: %w", err)
	}
	if err := os.Rename(dir, filepath.Join(trash, "f")); err != nil {
		os.Remove(trash)
		return fmt.Errorf("maildir: delete: %w", err)
	}
	s.forget(dir)
	if err := folder.SyncDir(s.root); err != nil {
		return err
	}
	return os.RemoveAll(trash)
}

func (s *Store) forget(dir string) {
	s.mu.Lock()
	delete(s.folders, dir)
	s.mu.Unlock()
}

// Rename implements folder.Store, moving children along.
func (s *Store) Rename(oldName, newName string) error {
	if err := folder.CheckRename(oldName, newName); err != nil {
		return err
	}
	from, to := s.dirFor(oldName), s.dirFor(newName)
	if !isMaildir(from) {
		return fmt.Errorf("%w: %s", folder.ErrNotFound, oldName)
	}
	if _, err := os.Stat(to); err == nil {
		return fmt.Errorf("%w: %s", folder.ErrExists, newName)
	}
	names, err := s.List()
	if err != nil {
		return err
	}
	prefix := folder.CanonicalName(oldName) + folder.Separator
	moves := [][2]string{{from, to}}
	for _, n := range names {
		if rest, ok := strings.CutPrefix(n, prefix); ok {
			moves = append(moves, [2]string{s.dirFor(n), s.dirFor(newName + folder.Separator + rest)})
		}
	}
	for _, m := range moves {
		if err := os.Rename(m[0], m[1]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("maildir: rename: %w", err)
		}
		s.forget(m[0])
	}
	return folder.SyncDir(s.root)
}

// List implements folder.Store.
func (s *Store) List() ([]string, error) {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("maildir: %w", err)
	}
	out := []string{folder.Inbox}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name, ok := nameFor(e.Name())
		if !ok || !isMaildir(filepath.Join(s.root, e.Name())) {
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out[1:])
	return out, nil
}

// Format is Maildir++ as a folder.Format: a store is a Maildir when its
// root has cur/.
var Format = folder.Format{
	Name: "maildir",
	Open: func(root string, _ folder.Options) (folder.Store, error) { return Open(root) },
	Owns: func(root string) bool {
		fi, err := os.Stat(filepath.Join(root, "cur"))
		return err == nil && fi.IsDir()
	},
}
