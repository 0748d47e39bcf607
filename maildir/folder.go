package maildir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/message"
)

// Folder is one Maildir directory (cur/, new/, tmp/).
type Folder struct {
	dir  string
	st   *Store
	kw   *keywords
	sync *folder.DirSyncer
}

var _ folder.Folder = (*Folder)(nil)

// Append implements folder.Folder.
func (f *Folder) Append(ctx context.Context, m folder.NewMessage) (folder.Entry, error) {
	if err := ctx.Err(); err != nil {
		return folder.Entry{}, err
	}
	data, _ := message.StorageLF(m.Data)
	now := time.Now()
	key := f.st.uniq.next(now, int64(len(data)), message.CRLFSize(m.Data))
	tmp := filepath.Join(f.dir, "tmp", key)
	if err := folder.WriteFileSynced(tmp, data, m.Date); err != nil {
		return folder.Entry{}, fmt.Errorf("maildir: %w", err)
	}
	name := "new/" + key
	flags := folder.Flags{Sys: m.Flags.Sys, Keywords: folder.NormalizeKeywords(m.Flags.Keywords)}
	if flags.Sys != 0 || len(flags.Keywords) > 0 {
		info, err := formatInfo(flags, f.kw)
		if err != nil {
			os.Remove(tmp)
			return folder.Entry{}, err
		}
		name = "cur/" + key + ":" + info
	}
	if m.Reserve != nil {
		m.Reserve(key)
	}
	if err := renameNoReplace(tmp, filepath.Join(f.dir, name)); err != nil {
		os.Remove(tmp)
		return folder.Entry{}, fmt.Errorf("maildir: move into place: %w", err)
	}
	if err := f.sync.Sync(filepath.Join(f.dir, filepath.Dir(name))); err != nil {
		return folder.Entry{}, err
	}
	date := m.Date
	if date.IsZero() {
		date = now
	}
	return folder.Entry{Key: key, Name: name, Flags: flags, Size: int64(len(data)), Date: date}, nil
}

// renameNoReplace moves a file without ever replacing one that exists:
// a clash would silently destroy a stored message.
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		if err = os.Link(from, to); err == nil {
			return os.Remove(from)
		}
	}
	return err
}

// Open implements folder.Folder.
func (f *Folder) Open(e folder.Entry) (io.ReadCloser, error) {
	// Maildir files are never written in place (a flag change renames),
	// so the size the index has is the file's.
	r, err := f.openRaw(e, e.Size)
	if err != nil {
		return nil, err
	}
	return folder.NewCanonicalFile(r), nil
}

// findTries bounds the look-ups of a file another session keeps
// renaming (new/ to cur/, then flag changes): each rename is atomic, so
// a file that exists is found within a few tries, and ErrGone means gone.
const findTries = 4

// openRaw opens e's file, following it through renames: at its Name
// first, then wherever its key is now.
func (f *Folder) openRaw(e folder.Entry, size int64) (*folder.RawFile, error) {
	err := folder.ErrGone
	if e.Name != "" {
		var r *folder.RawFile
		if r, err = folder.OpenRaw(filepath.Join(f.dir, e.Name), size); err == nil {
			return r, nil
		}
	}
	for try := 0; try < findTries && errors.Is(err, folder.ErrGone); try++ {
		var path string
		if path, err = f.path(folder.Entry{Key: e.Key}); err != nil {
			continue
		}
		var r *folder.RawFile
		if r, err = folder.OpenRaw(path, size); err == nil {
			return r, nil
		}
	}
	return nil, err
}

// path is where e's file is: at its Name, else wherever its key is now.
func (f *Folder) path(e folder.Entry) (string, error) {
	if e.Name != "" {
		return filepath.Join(f.dir, e.Name), nil
	}
	name, err := f.find(e.Key)
	if errors.Is(err, fs.ErrNotExist) {
		return "", folder.ErrGone
	}
	if err != nil {
		return "", fmt.Errorf("maildir: %w", err)
	}
	return filepath.Join(f.dir, name), nil
}

// ReadStored implements folder.Folder.
func (f *Folder) ReadStored(e folder.Entry) ([]byte, error) {
	r, err := f.openRaw(e, 0)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("maildir: read: %w", err)
	}
	return message.StoredForm(b), nil
}

// find locates the current name of key, or reports fs.ErrNotExist.
func (f *Folder) find(key string) (string, error) {
	for _, sub := range []string{"new", "cur"} {
		names, err := readNames(filepath.Join(f.dir, sub))
		if err != nil {
			return "", err
		}
		for _, n := range names {
			if k, _ := splitName(n); k == key {
				return sub + "/" + n, nil
			}
		}
	}
	return "", fs.ErrNotExist
}

func readNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("maildir: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("maildir: read %s: %w", dir, err)
	}
	return names, nil
}

// Token implements folder.Folder: the mtimes of new/ and cur/.
func (f *Folder) Token() (folder.Token, error) {
	tok := make(folder.Token, 0, 16)
	for _, sub := range []string{"new", "cur"} {
		st, err := os.Stat(filepath.Join(f.dir, sub))
		if err != nil {
			return nil, fmt.Errorf("maildir: %w", err)
		}
		tok = folder.AppendMtime(tok, st)
	}
	return tok, nil
}

// Settled implements folder.Folder.
func (f *Folder) Settled(tok folder.Token) bool { return folder.MtimesSettled(tok, 2) }

// Scan implements folder.Folder. Size and Date are filled from the name
// where it records them; Stat gives the rest.
func (f *Folder) Scan(ctx context.Context) ([]folder.Entry, folder.Token, error) {
	tok, err := f.Token()
	if err != nil {
		return nil, nil, err
	}
	var out []folder.Entry
	seen := make(map[string]bool)
	for _, sub := range []string{"new", "cur"} {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		names, err := readNames(filepath.Join(f.dir, sub))
		if err != nil {
			return nil, nil, err
		}
		for _, n := range names {
			if strings.HasPrefix(n, ".") {
				continue
			}
			key, info := splitName(n)
			if seen[key] {
				// Moved between our two reads: keep the first.
				continue
			}
			seen[key] = true
			e := folder.Entry{Key: key, Name: sub + "/" + n}
			if sub == "cur" {
				e.Flags = parseInfo(info, f.kw)
			}
			e.Size, _ = sizeFromKey(key, "S")
			out = append(out, e)
		}
	}
	return out, tok, nil
}

// Stat fills Size and Date of an entry from the file itself.
func (f *Folder) Stat(e folder.Entry) (folder.Entry, error) {
	st, err := os.Stat(filepath.Join(f.dir, e.Name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return e, folder.ErrGone
		}
		return e, fmt.Errorf("maildir: %w", err)
	}
	e.Size, e.Date = st.Size(), st.ModTime()
	return e, nil
}

// SetFlags implements folder.Folder. The rename is made durable by Flush.
func (f *Folder) SetFlags(e folder.Entry, fl folder.Flags) (folder.Entry, error) {
	info, err := formatInfo(fl, f.kw)
	if err != nil {
		return e, err
	}
	name := "cur/" + e.Key + ":" + info
	if name == e.Name {
		e.Flags = fl
		return e, nil
	}
	from := filepath.Join(f.dir, e.Name)
	err = os.Rename(from, filepath.Join(f.dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		var cur string
		if cur, err = f.find(e.Key); err == nil {
			err = os.Rename(filepath.Join(f.dir, cur), filepath.Join(f.dir, name))
		}
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return e, folder.ErrGone
		}
		return e, fmt.Errorf("maildir: set flags: %w", err)
	}
	e.Name, e.Flags = name, fl
	return e, nil
}

// Flush makes earlier SetFlags renames durable.
func (f *Folder) Flush() error {
	if err := f.sync.Sync(filepath.Join(f.dir, "new")); err != nil {
		return err
	}
	return f.sync.Sync(filepath.Join(f.dir, "cur"))
}

// Remove implements folder.Folder.
func (f *Folder) Remove(entries []folder.Entry) error {
	for _, e := range entries {
		err := os.Remove(filepath.Join(f.dir, e.Name))
		if errors.Is(err, fs.ErrNotExist) {
			var cur string
			if cur, err = f.find(e.Key); err == nil {
				err = os.Remove(filepath.Join(f.dir, cur))
			}
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("maildir: remove: %w", err)
		}
	}
	return f.Flush()
}
