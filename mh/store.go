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
	"github.com/storaged/storaged/internal/safefs"
)

// inboxDir is INBOX's directory, nmh's default Inbox folder.
const inboxDir = "inbox"

// noselect marks a deleted folder whose directory stays for its children.
const noselect = ".storaged-noselect"

// Store is one user's MH folders under a root directory. Every file
// beneath the root is reached through dir (package safefs): no link is
// followed.
type Store struct {
	root string
	dir  *safefs.Dir
	sync folder.DirSyncer

	mu      sync.Mutex
	folders map[string]*Folder // by directory beneath the root
}

// Open opens (creating when new) the MH store at root. root itself is
// trusted; what lies beneath it is the user's.
func Open(root string) (*Store, error) { return OpenOwned(root, nil) }

// OpenOwned is Open for a store whose new files and directories belong
// to owner (folder.Options.Owner), the root included when it is made
// here.
func OpenOwned(root string, owner *safefs.Owner) (*Store, error) {
	if err := safefs.MkdirOwned(root, 0o700, owner); err != nil {
		return nil, fmt.Errorf("mh: %w", err)
	}
	d, err := safefs.OpenDirOwned(root, owner)
	if err != nil {
		return nil, fmt.Errorf("mh: %w", err)
	}
	if err := d.MkdirAll(inboxDir, 0o700); err != nil {
		return nil, fmt.Errorf("mh: %w", err)
	}
	return &Store{root: root, dir: d, folders: make(map[string]*Folder)}, nil
}

// Owns reports whether root holds an MH store: an inbox folder and no
// Maildir of its own (directories, not links to them).
func Owns(root string) bool {
	return isDir(filepath.Join(root, inboxDir)) && !isDir(filepath.Join(root, "cur"))
}

func isDir(p string) bool {
	st, err := os.Lstat(p)
	return err == nil && st.IsDir()
}

// dirFor maps a checked mailbox name to its directory beneath the root.
func dirFor(name string) string {
	name = folder.CanonicalName(name)
	levels := strings.Split(name, folder.Separator)
	for i, l := range levels {
		if i == 0 && l == folder.Inbox {
			levels[i] = inboxDir
			continue
		}
		levels[i] = folder.EncodeMUTF7(l)
	}
	return strings.Join(levels, "/")
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

// parentOf is the directory holding rel ("" for the root).
func parentOf(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return ""
}

// isFolder tells whether rel is a live folder (a directory, not a link,
// not deleted with children left).
func (s *Store) isFolder(rel string) bool {
	if !s.dir.IsDir(rel) {
		return false
	}
	_, err := s.dir.Lstat(rel + "/" + noselect)
	return errors.Is(err, fs.ErrNotExist)
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
	if !s.isFolder(rel) {
		return nil, fmt.Errorf("%w: %s", folder.ErrNotFound, name)
	}
	f := &Folder{rel: rel, st: s, sync: &s.sync}
	f.cleanTemp()
	s.folders[rel] = f
	return f, nil
}

// Exists implements folder.Store.
func (s *Store) Exists(name string) bool {
	rel, err := relFor(name)
	return err == nil && s.isFolder(rel)
}

// Create implements folder.Store.
func (s *Store) Create(name string) error {
	rel, err := relFor(name)
	if err != nil {
		return err
	}
	if s.dir.IsDir(rel) {
		mark := rel + "/" + noselect
		if _, err := s.dir.Lstat(mark); err != nil {
			return fmt.Errorf("%w: %s", folder.ErrExists, name)
		}
		if err := s.dir.Remove(mark); err != nil {
			return fmt.Errorf("mh: create: %w", err)
		}
		return s.dir.SyncDir(rel)
	}
	if err := s.dir.Mkdir(rel, 0o700); err != nil {
		switch {
		case errors.Is(err, fs.ErrExist):
			if _, num := msgNumber(rel[strings.LastIndexByte(rel, '/')+1:]); num {
				// A message of the parent folder has this number.
				return fmt.Errorf("%w: %s: in MH %s is a message of the folder above, not a folder", folder.ErrBadName, name, rel)
			}
			// A file or a link by that name: not ours to replace.
			return fmt.Errorf("%w: %s", folder.ErrExists, name)
		case folder.Missing(err):
			// The store creates parents first; a missing one (or one
			// that is a link) is a caller's slip, not ours to paper over.
			return fmt.Errorf("%w: parent of %s: %w", folder.ErrNotFound, name, err)
		}
		return fmt.Errorf("mh: create: %w", err)
	}
	return s.dir.SyncDir(parentOf(rel))
}

// hasChildren tells whether rel holds folders.
func (s *Store) hasChildren(rel string) bool {
	ents, _ := s.dir.ReadDir(rel)
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name, ".") {
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
	rel, err := relFor(name)
	if err != nil {
		return err
	}
	if !s.isFolder(rel) {
		return fmt.Errorf("%w: %s", folder.ErrNotFound, name)
	}
	defer s.forget(rel)
	if s.hasChildren(rel) {
		// A new file renamed into place: a link planted at the name is
		// replaced, never written through.
		if err := s.dir.WriteFile(rel+"/"+noselect, nil, 0o600); err != nil {
			return fmt.Errorf("mh: delete: %w", err)
		}
		ents, err := s.dir.ReadDir(rel)
		if err != nil {
			return fmt.Errorf("mh: delete: %w", err)
		}
		for _, e := range ents {
			if _, ok := msgNumber(e.Name); (ok && !e.IsDir()) || e.Name == seqFile {
				if err := s.dir.Remove(rel + "/" + e.Name); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("mh: delete: %w", err)
				}
			}
		}
		return s.dir.SyncDir(rel)
	}
	trash := ".deleted-" + safefs.RandomName()
	if err := s.dir.Mkdir(trash, 0o700); err != nil {
		return fmt.Errorf("mh: delete: %w", err)
	}
	if err := s.dir.Rename(rel, trash+"/f"); err != nil {
		s.dir.RemoveDir(trash)
		return fmt.Errorf("mh: delete: %w", err)
	}
	if err := s.dir.SyncDir(parentOf(rel)); err != nil {
		return err
	}
	return s.dir.RemoveAll(trash)
}

func (s *Store) forget(rel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for d := range s.folders {
		if d == rel || strings.HasPrefix(d, rel+"/") {
			delete(s.folders, d)
		}
	}
}

// Rename implements folder.Store; children move with the directory.
func (s *Store) Rename(oldName, newName string) error {
	if err := folder.CheckRename(oldName, newName); err != nil {
		return err
	}
	from, to := dirFor(oldName), dirFor(newName)
	if err := folder.CheckOnDisk(to); err != nil {
		return err
	}
	if !s.isFolder(from) {
		return fmt.Errorf("%w: %s", folder.ErrNotFound, oldName)
	}
	if _, err := s.dir.Lstat(to); err == nil {
		return fmt.Errorf("%w: %s", folder.ErrExists, newName)
	}
	if strings.HasPrefix(to, from+"/") {
		return fmt.Errorf("%w: cannot move %s into itself", folder.ErrBadName, oldName)
	}
	if p := parentOf(to); p != "" && !s.dir.IsDir(p) {
		return fmt.Errorf("%w: parent of %s", folder.ErrNotFound, newName)
	}
	if err := s.dir.Rename(from, to); err != nil {
		return fmt.Errorf("mh: rename: %w", err)
	}
	s.forget(from)
	if err := s.dir.SyncDir(parentOf(from)); err != nil {
		return err
	}
	return s.dir.SyncDir(parentOf(to))
}

// List implements folder.Store: every folder directory below the root
// (a link to a directory is none).
func (s *Store) List() ([]string, error) {
	out := []string{folder.Inbox}
	var walk func(rel, prefix string) error
	walk = func(rel, prefix string) error {
		ents, err := s.dir.ReadDir(rel)
		if err != nil {
			return fmt.Errorf("mh: %w", err)
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
			if !e.IsDir() && !(e.Unknown() && s.dir.IsDir(sub)) {
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
				if s.isFolder(sub) {
					out = append(out, name)
				}
			}
			if err := walk(sub, name+folder.Separator); err != nil {
				return err
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

// Format is MH as a folder.Format.
var Format = folder.Format{
	Name: "mh",
	Open: func(root string, o folder.Options) (folder.Store, error) { return OpenOwned(root, o.Owner) },
	Owns: Owns,
}
