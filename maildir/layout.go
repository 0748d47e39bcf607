package maildir

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/safefs"
)

// Dovecot's LAYOUT=fs (mail_location = maildir:~/Maildir:LAYOUT=fs)
// nests folders as directories instead of Maildir++'s dotted names:
//
//	cur/ new/ tmp/            INBOX (the root, as in Maildir++)
//	Sent/{cur,new,tmp}        "Sent"; no maildirfolder file (Dovecot
//	                          writes it for Maildir++ only)
//	Work/Sub/{cur,new,tmp}    "Work/Sub"; Work/ itself without cur/ is a
//	                          parent only (\Noselect), not a mailbox
//	INBOX/Lists/              "INBOX/Lists": INBOX's children under a
//	                          directory of that name, the root being INBOX
//	Entw&APw-rfe/             levels in modified UTF-7, as Maildir++
//
// dovecot-uidlist and dovecot-keywords sit in each folder's directory and
// subscriptions at the root, as in Maildir++ (maildir-storage.c,
// mailbox-list-fs-iter.c).
//
// Invariants (beside the package's):
//   - No level of a name is cur, new or tmp (Dovecot refuses them too):
//     such a folder would be its parent's own subdirectory.
//   - The tree is read level by level, each directory opened relative to
//     its parent's descriptor (safefs.Dir.WalkDirs): a link at any level
//     is no folder, and a directory swapped for a link between two
//     levels redirects nothing. Entries starting with '.' are never
//     folders (our own ..deleted-* trash, Dovecot's ..DOVECOT-TrasH).
//   - A store is opened only in the layout it has on disk: a Maildir++
//     store read as LAYOUT=fs (or the reverse) would show no folders,
//     and the index would drop them.
//   - Deleting a folder removes its Maildir (cur/ first, so a crash
//     never leaves half a mailbox) but keeps its children's directories.

// Layout is how a store's folders lie beneath its root.
type Layout int

const (
	// PlusPlus is Maildir++: ".Work.Sub".
	PlusPlus Layout = iota
	// FS is Dovecot's LAYOUT=fs: "Work/Sub".
	FS
)

func (l Layout) String() string {
	if l == FS {
		return "fs"
	}
	return "maildir++"
}

// ParseLayout reads a layout as Dovecot's LAYOUT= spells it ("" is
// Maildir++, Dovecot's default for maildir).
func ParseLayout(s string) (Layout, error) {
	switch strings.ToLower(s) {
	case "", "maildir++":
		return PlusPlus, nil
	case "fs":
		return FS, nil
	}
	return PlusPlus, fmt.Errorf("maildir: layout %q not supported (maildir++ or fs)", s)
}

// LocationLayout is the LAYOUT= parameter of a Dovecot mail location
// ("maildir:~/Maildir:LAYOUT=fs:INBOX=…" gives "fs"), "" when it has none.
// The path part is not read: a store's place is storaged's own.
func LocationLayout(location string) string {
	parts := strings.Split(location, ":")
	for _, p := range parts[min(1, len(parts)):] {
		if k, v, ok := strings.Cut(p, "="); ok && strings.EqualFold(k, "LAYOUT") {
			return v
		}
	}
	return ""
}

// maxFSDepth bounds the levels a LAYOUT=fs tree is read to: a user could
// otherwise make every listing walk thousands of nested directories.
const maxFSDepth = 32

// internalDir: a Maildir's own subdirectories, never a folder's level.
func internalDir(level string) bool {
	return level == "cur" || level == "new" || level == "tmp"
}

// fsDirFor is a checked name's directory under LAYOUT=fs.
func fsDirFor(name string) string {
	return strings.Join(encodedLevels(name), "/")
}

// dirFor maps a checked mailbox name to its directory in this store's
// layout.
func (s *Store) dirFor(name string) string {
	if s.layout == FS {
		return fsDirFor(name)
	}
	return dirFor(name)
}

// relFor checks a mailbox name and maps it to its directory.
func (s *Store) relFor(name string) (string, error) {
	if s.layout != FS {
		return relFor(name)
	}
	if err := folder.CheckName(name); err != nil {
		return "", err
	}
	for _, l := range strings.Split(name, folder.Separator) {
		if internalDir(l) {
			return "", fmt.Errorf("%w: %q is a Maildir's own directory", folder.ErrBadName, l)
		}
	}
	rel := fsDirFor(name)
	return rel, folder.CheckOnDisk(rel)
}

// fsNameFor maps a directory beneath the root back to a mailbox name.
func fsNameFor(rel string) (string, bool) {
	levels := strings.Split(rel, "/")
	for i, l := range levels {
		if strings.HasPrefix(l, ".") || internalDir(l) {
			return "", false
		}
		d, err := folder.DecodeMUTF7(l)
		if err != nil {
			return "", false
		}
		levels[i] = d
	}
	name := folder.CanonicalName(strings.Join(levels, folder.Separator))
	if name == folder.Inbox || folder.CheckName(name) != nil {
		// The root is INBOX; a directory named INBOX only holds its
		// children.
		return "", false
	}
	return name, true
}

// listFS reads the tree: every directory with cur/ is a mailbox.
func (s *Store) listFS() ([]string, error) {
	out := []string{folder.Inbox}
	err := s.dir.WalkDirs(maxFSDepth, func(rel string, ents []safefs.Entry) (func(safefs.Entry) bool, error) {
		if rel != "" {
			name, ok := fsNameFor(rel)
			if ok && hasMaildir(s.dir, rel, ents) {
				out = append(out, name)
			}
		}
		return func(e safefs.Entry) bool {
			if strings.HasPrefix(e.Name, ".") || internalDir(e.Name) {
				return false
			}
			_, err := folder.DecodeMUTF7(e.Name)
			return err == nil
		}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("maildir: %w", err)
	}
	sort.Strings(out[1:])
	return out, nil
}

// hasMaildir: the directory rel, whose entries are ents, holds cur/ (a
// directory, not a link to one).
func hasMaildir(d *safefs.Dir, rel string, ents []safefs.Entry) bool {
	for _, e := range ents {
		if e.Name == "cur" {
			return e.IsDir() || (e.Unknown() && d.IsDir(join(rel, "cur")))
		}
	}
	return false
}

// detectLayout tells which layouts' folders the store holds.
func (s *Store) detectLayout() (plusPlus, fsFolders bool, err error) {
	ents, err := s.dir.ReadDir("")
	if err != nil {
		return false, false, fmt.Errorf("maildir: %w", err)
	}
	for _, e := range ents {
		if !e.IsDir() && !e.Unknown() {
			continue
		}
		if _, ok := nameFor(e.Name); ok && s.isMaildir(e.Name) {
			plusPlus = true
			break
		}
	}
	names, err := s.listFS()
	if err != nil {
		return false, false, err
	}
	return plusPlus, len(names) > 1, nil
}

// DetectLayout is the layout of the Maildir at root: LAYOUT=fs when its
// folders are nested directories and none is a Maildir++ one, else
// Maildir++. A store with no folders yet is Maildir++.
func DetectLayout(root string) (Layout, error) {
	d, err := safefs.OpenDir(root)
	if err != nil {
		return PlusPlus, fmt.Errorf("maildir: %w", err)
	}
	defer d.Close()
	s := &Store{root: root, dir: d}
	pp, fsf, err := s.detectLayout()
	if err != nil {
		return PlusPlus, err
	}
	if fsf && !pp {
		return FS, nil
	}
	return PlusPlus, nil
}

// ErrOtherLayout: the store on disk is laid out otherwise than it is
// being opened.
var ErrOtherLayout = errors.New("maildir: the store's folders are in another layout")

// checkLayout refuses a store whose folders are all in the other layout.
func (s *Store) checkLayout() error {
	pp, fsf, err := s.detectLayout()
	if err != nil {
		return err
	}
	switch {
	case s.layout == PlusPlus && fsf && !pp:
		return fmt.Errorf("%w: %s has LAYOUT=fs folders (nested directories); set the user's mail location to maildir:~/Maildir:LAYOUT=fs", ErrOtherLayout, s.root)
	case s.layout == FS && pp && !fsf:
		return fmt.Errorf("%w: %s has Maildir++ folders (.Name directories); drop LAYOUT=fs from the user's mail location", ErrOtherLayout, s.root)
	}
	return nil
}

// syncParents fsyncs the directories that hold rel, up to the root, so
// that directories a nested create made survive a crash.
func (s *Store) syncParents(rel string) error {
	for rel != "" {
		i := strings.LastIndexByte(rel, '/')
		if i < 0 {
			rel = ""
		} else {
			rel = rel[:i]
		}
		if err := s.dir.SyncDir(rel); err != nil {
			return err
		}
	}
	return nil
}

// deleteFS removes the Maildir of rel and leaves its children. cur/ goes
// first: from then on rel is no mailbox, whatever a crash leaves.
func (s *Store) deleteFS(rel string) error {
	trash := "..deleted-" + safefs.RandomName()
	if err := s.dir.Mkdir(trash, 0o700); err != nil {
		return fmt.Errorf("maildir: delete: %w", err)
	}
	if err := s.dir.Rename(join(rel, "cur"), trash+"/cur"); err != nil {
		s.dir.RemoveDir(trash)
		return fmt.Errorf("maildir: delete: %w", notFound(rel, err))
	}
	s.forget(rel)
	ents, err := s.dir.ReadDir(rel)
	if err != nil {
		return fmt.Errorf("maildir: delete: %w", err)
	}
	for _, e := range ents {
		child := (e.IsDir() || e.Unknown()) && !strings.HasPrefix(e.Name, ".") && !internalDir(e.Name)
		if child && s.dir.IsDir(join(rel, e.Name)) {
			continue
		}
		if err := s.dir.Rename(join(rel, e.Name), trash+"/"+e.Name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("maildir: delete: %w", err)
		}
	}
	// Empty now unless it has children, which keep it as their parent.
	s.dir.RemoveDir(rel)
	if err := s.dir.SyncDir(""); err != nil {
		return err
	}
	if err := s.syncParents(rel); err != nil && !folder.Missing(err) {
		return err
	}
	return s.dir.RemoveAll(trash)
}

// renameFS moves rel's directory, children and all, in one rename.
func (s *Store) renameFS(oldName, newName string) error {
	from, err := s.relFor(oldName)
	if err != nil {
		return err
	}
	to, err := s.relFor(newName)
	if err != nil {
		return err
	}
	if !s.isMaildir(from) {
		return fmt.Errorf("%w: %s", folder.ErrNotFound, oldName)
	}
	if _, err := s.dir.Lstat(to); err == nil {
		return fmt.Errorf("%w: %s", folder.ErrExists, newName)
	}
	if i := strings.LastIndexByte(to, '/'); i > 0 {
		if err := s.dir.MkdirAll(to[:i], 0o700); err != nil {
			return notFound(newName, err)
		}
	}
	if err := s.dir.RenameNoReplace(from, to); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", folder.ErrExists, newName)
		}
		return fmt.Errorf("maildir: rename: %w", err)
	}
	s.mu.Lock()
	for rel := range s.folders {
		if rel == from || strings.HasPrefix(rel, from+"/") {
			delete(s.folders, rel)
		}
	}
	s.mu.Unlock()
	if err := s.syncParents(from); err != nil && !folder.Missing(err) {
		return err
	}
	return s.syncParents(to)
}
