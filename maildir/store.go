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
	"github.com/storaged/storaged/internal/safefs"
)

// Store is one user's Maildir++ tree. Every file beneath the root is
// reached through dir (package safefs): no link is followed.
type Store struct {
	root   string
	dir    *safefs.Dir
	uniq   *uniq
	sync   folder.DirSyncer
	layout Layout
	// fsg, when set, makes appends durable by a shared syncfs
	// (folder.FSSync) instead of fsyncs of their files and directories.
	fsg *folder.FSGroup

	mu      sync.Mutex
	folders map[string]*Folder // by directory beneath the root ("" for INBOX)
}

var _ folder.Store = (*Store)(nil)

// Open returns the Maildir++ store rooted at root, creating INBOX's
// directories if they are missing. root itself is trusted (the server's
// data directory holds it); what lies beneath it is the user's.
func Open(root string) (*Store, error) { return OpenLayout(root, PlusPlus) }

// OpenLayout is Open for a store in the given layout (layout.go); a
// store whose folders are all in the other layout is ErrOtherLayout.
func OpenLayout(root string, layout Layout) (*Store, error) { return OpenOwned(root, layout, nil) }

// OpenOwned is OpenLayout for a store whose new files and directories
// belong to owner (folder.Options.Owner), the root included when it is
// made here.
func OpenOwned(root string, layout Layout, owner *safefs.Owner) (*Store, error) {
	if err := safefs.MkdirOwned(root, 0o700, owner); err != nil {
		return nil, fmt.Errorf("maildir: %w", err)
	}
	d, err := safefs.OpenDirOwned(root, owner)
	if err != nil {
		return nil, fmt.Errorf("maildir: %w", err)
	}
	s := &Store{root: root, dir: d, uniq: newUniq(), folders: make(map[string]*Folder), layout: layout}
	if err := s.checkLayout(); err != nil {
		d.Close()
		return nil, err
	}
	if err := s.makeMaildir("", false); err != nil {
		return nil, err
	}
	return s, nil
}

// Root is the store's top directory.
func (s *Store) Root() string { return s.root }

// dirFor maps a checked mailbox name to its directory beneath the root:
// "" for INBOX, else one component (".Archive.2024").
func dirFor(name string) string {
	levels := encodedLevels(name)
	if levels == nil {
		return ""
	}
	return "." + strings.Join(levels, ".")
}

// encodedLevels are a checked name's levels in modified UTF-7, as both
// layouts spell them on disk; nil for INBOX, the store's root.
func encodedLevels(name string) []string {
	name = folder.CanonicalName(name)
	if name == folder.Inbox {
		return nil
	}
	levels := strings.Split(name, folder.Separator)
	for i, l := range levels {
		levels[i] = folder.EncodeMUTF7(l)
	}
	return levels
}

// relFor checks a mailbox name and maps it to its directory; a name
// whose directory could not exist on disk is ErrBadName.
func relFor(name string) (string, error) {
	if err := folder.CheckName(name); err != nil {
		return "", err
	}
	rel := dirFor(name)
	return rel, folder.CheckOnDisk(rel)
}

// join is a name beneath the root: rel ("" for the root) and more.
func join(rel, more string) string {
	if rel == "" {
		return more
	}
	if more == "" {
		return rel
	}
	return rel + "/" + more
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

// notFound turns a name that leads nowhere we go (folder.Missing) into
// ErrNotFound for the mailbox.
func notFound(name string, err error) error {
	if folder.Missing(err) {
		return fmt.Errorf("%w: %s: %w", folder.ErrNotFound, name, err)
	}
	return fmt.Errorf("maildir: %w", err)
}

func (s *Store) makeMaildir(rel string, marker bool) error {
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := s.dir.MkdirAll(join(rel, sub), 0o700); err != nil {
			return notFound(rel, err)
		}
	}
	if marker {
		// O_EXCL: one that is there already (a link included) is left
		// as it is, never opened.
		fd, err := s.dir.Create(join(rel, "maildirfolder"), 0o600)
		if err == nil {
			fd.Close()
		} else if !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("maildir: %w", err)
		}
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := s.dir.SyncDir(join(rel, sub)); err != nil {
			return err
		}
	}
	if rel == "" {
		if err := s.dir.SyncDir(""); err != nil {
			return err
		}
		return folder.SyncDir(filepath.Dir(s.root))
	}
	if err := s.dir.SyncDir(rel); err != nil {
		return err
	}
	return s.syncParents(rel)
}

// isMaildir: rel/cur is a directory, rel itself one (links are not).
func (s *Store) isMaildir(rel string) bool {
	return (rel == "" || s.dir.IsDir(rel)) && s.dir.IsDir(join(rel, "cur"))
}

// Folder implements folder.Store.
func (s *Store) Folder(name string) (folder.Folder, error) {
	rel, err := s.relFor(name)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.folders[rel]; ok {
		return f, nil
	}
	if !s.isMaildir(rel) {
		return nil, fmt.Errorf("%w: %s", folder.ErrNotFound, name)
	}
	// A crash between creating tmp/ and cur/ or between rename and
	// mkdir could leave a partial folder: make it whole.
	for _, sub := range []string{"new", "tmp"} {
		if err := s.dir.MkdirAll(join(rel, sub), 0o700); err != nil {
			return nil, notFound(name, err)
		}
	}
	f := &Folder{rel: rel, st: s, kw: loadKeywords(s.dir, join(rel, keywordsFile)), sync: &s.sync}
	s.folders[rel] = f
	return f, nil
}

// Exists implements folder.Store.
func (s *Store) Exists(name string) bool {
	rel, err := s.relFor(name)
	return err == nil && s.isMaildir(rel)
}

// Create implements folder.Store.
func (s *Store) Create(name string) error {
	rel, err := s.relFor(name)
	if err != nil {
		return err
	}
	if s.isMaildir(rel) {
		return fmt.Errorf("%w: %s", folder.ErrExists, name)
	}
	if fi, err := s.dir.Lstat(rel); err == nil && !fi.IsDir() {
		// A file or a link by that name: not ours to replace.
		return fmt.Errorf("%w: %s (%s is not a directory)", folder.ErrExists, name, rel)
	}
	return s.makeMaildir(rel, s.layout == PlusPlus)
}

// Delete implements folder.Store: the folder is first renamed out of
// sight, so a crash mid-way never leaves a half-deleted visible folder.
func (s *Store) Delete(name string) error {
	if err := folder.CheckDelete(name); err != nil {
		return err
	}
	rel, err := s.relFor(name)
	if err != nil {
		return err
	}
	if !s.isMaildir(rel) {
		return fmt.Errorf("%w: %s", folder.ErrNotFound, name)
	}
	if s.layout == FS {
		return s.deleteFS(rel)
	}
	trash := "..deleted-" + safefs.RandomName()
	if err := s.dir.Mkdir(trash, 0o700); err != nil {
		return fmt.Errorf("maildir: delete: %w", err)
	}
	if err := s.dir.Rename(rel, trash+"/f"); err != nil {
		s.dir.RemoveDir(trash)
		return fmt.Errorf("maildir: delete: %w", err)
	}
	s.forget(rel)
	if err := s.dir.SyncDir(""); err != nil {
		return err
	}
	return s.dir.RemoveAll(trash)
}

func (s *Store) forget(rel string) {
	s.mu.Lock()
	delete(s.folders, rel)
	s.mu.Unlock()
}

// Rename implements folder.Store, moving children along.
func (s *Store) Rename(oldName, newName string) error {
	if err := folder.CheckRename(oldName, newName); err != nil {
		return err
	}
	if s.layout == FS {
		return s.renameFS(oldName, newName)
	}
	from, to := dirFor(oldName), dirFor(newName)
	if err := folder.CheckOnDisk(to); err != nil {
		return err
	}
	if !s.isMaildir(from) {
		return fmt.Errorf("%w: %s", folder.ErrNotFound, oldName)
	}
	if _, err := s.dir.Lstat(to); err == nil {
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
			child := dirFor(newName + folder.Separator + rest)
			if err := folder.CheckOnDisk(child); err != nil {
				return err
			}
			moves = append(moves, [2]string{dirFor(n), child})
		}
	}
	for _, m := range moves {
		if err := s.dir.Rename(m[0], m[1]); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("maildir: rename: %w", err)
		}
		s.forget(m[0])
	}
	return s.dir.SyncDir("")
}

// List implements folder.Store: the directories of the root that are
// Maildirs (a link to one is not).
func (s *Store) List() ([]string, error) {
	if s.layout == FS {
		return s.listFS()
	}
	entries, err := s.dir.ReadDir("")
	if err != nil {
		return nil, fmt.Errorf("maildir: %w", err)
	}
	out := []string{folder.Inbox}
	for _, e := range entries {
		if !e.IsDir() && !e.Unknown() {
			continue
		}
		name, ok := nameFor(e.Name)
		if !ok || !s.isMaildir(e.Name) {
			continue
		}
		out = append(out, name)
	}
	sort.Strings(out[1:])
	return out, nil
}

// Format is Maildir++ as a folder.Format: a store is a Maildir when its
// root has cur/ (a directory, not a link to one).
var Format = folder.Format{
	Name: "maildir",
	Open: func(root string, o folder.Options) (folder.Store, error) {
		l, err := ParseLayout(o.Layout)
		if err != nil {
			return nil, err
		}
		s, err := OpenOwned(root, l, o.Owner)
		if err != nil || o.FSSync == nil {
			return s, err
		}
		if s.fsg, err = o.FSSync.For(root); err != nil {
			s.dir.Close()
			return nil, fmt.Errorf("maildir: %w", err)
		}
		return s, nil
	},
	Owns: func(root string) bool {
		fi, err := os.Lstat(filepath.Join(root, "cur"))
		return err == nil && fi.IsDir()
	},
}
