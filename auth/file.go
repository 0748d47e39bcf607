package auth

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// passwdFile is one passwd-file: the main users file, or one domain's
// file (users.file = "users/%d"). In a domain's file a line names its
// user by the local part ("alice", as Dovecot's username_format=%n
// writes them) or by the full address of that domain; either way the
// user's Name is the full address, local part as written and the
// domain as the file is named.
type passwdFile struct {
	path   string
	domain string // "" for the main file
	log    *slog.Logger

	mu      sync.RWMutex
	lines   []line
	byName  map[string]*User // lower-case full name
	domains map[string]bool  // the domains of full-address names (main file)
	modTime time.Time
	size    int64 // -1: the file does not exist
	checked time.Time
}

// line is one line of the file: a user or anything else, kept verbatim.
// written is the user's name as the line spells it.
type line struct {
	raw     string
	user    *User
	written string
}

func newPasswdFile(path, domain string, log *slog.Logger) *passwdFile {
	return &passwdFile{path: path, domain: domain, log: log, byName: map[string]*User{}, size: -1}
}

// name is the full name of a user the file writes as written.
func (f *passwdFile) name(written string) (string, error) {
	if f.domain == "" {
		return written, nil
	}
	local, domain, ok := splitAddress(written)
	if !ok {
		return written + "@" + f.domain, nil
	}
	if !strings.EqualFold(domain, f.domain) {
		return "", fmt.Errorf("%w: %q is not of the domain %s this file is for", ErrBadName, written, f.domain)
	}
	return local + "@" + f.domain, nil
}

// written is how the file writes a user of the full name name.
func (f *passwdFile) written(name string) string {
	if f.domain == "" {
		return name
	}
	local, _, _ := splitAddress(name)
	return local
}

func (f *passwdFile) format(u *User, written string) string {
	c := *u
	c.Name = written
	return c.String()
}

func (f *passwdFile) load() error {
	data, err := os.ReadFile(f.path)
	var st os.FileInfo
	if err == nil {
		st, err = os.Stat(f.path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		f.lines, f.byName, f.domains, f.modTime, f.size = nil, map[string]*User{}, nil, time.Time{}, -1
		return nil
	}
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	var lines []line
	byName := make(map[string]*User)
	domains := map[string]bool{}
	for i, s := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if s == "" && len(data) == 0 {
			break
		}
		u, err := parseLine(s)
		var written string
		if err == nil && u != nil {
			written = u.Name
			u.Name, err = f.name(written)
			if err != nil {
				u = nil
			}
		}
		if err != nil {
			f.log.Warn("passwd-file line ignored", "file", f.path, "line", i+1, "err", err)
		}
		if u != nil {
			key := strings.ToLower(u.Name)
			if _, dup := byName[key]; dup {
				f.log.Warn("passwd-file duplicate user ignored", "file", f.path, "line", i+1, "user", u.Name)
				u = nil
			} else {
				byName[key] = u
				if _, d, ok := splitAddress(key); ok {
					domains[d] = true
				}
			}
		}
		lines = append(lines, line{raw: s, user: u, written: written})
	}
	f.lines, f.byName, f.domains, f.modTime, f.size = lines, byName, domains, st.ModTime(), st.Size()
	return nil
}

// refresh reloads the file when another process changed it; it stats at
// most once a second.
func (f *passwdFile) refresh() {
	f.mu.RLock()
	fresh := time.Since(f.checked) < time.Second
	f.mu.RUnlock()
	if fresh {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refreshLocked()
}

func (f *passwdFile) refreshLocked() {
	f.checked = time.Now()
	st, err := os.Stat(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if f.size == -1 {
			return
		}
	case err != nil:
		return
	case st.ModTime().Equal(f.modTime) && st.Size() == f.size:
		return
	}
	if err := f.load(); err != nil {
		f.log.Error("reloading the user database", "file", f.path, "err", err)
	}
}

func (f *passwdFile) lookup(name string) (User, bool) {
	f.refresh()
	f.mu.RLock()
	defer f.mu.RUnlock()
	u, ok := f.byName[strings.ToLower(name)]
	if !ok {
		return User{}, false
	}
	return *u, true
}

func (f *passwdFile) hasDomain(d string) bool {
	f.refresh()
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.domains[d]
}

func (f *passwdFile) list() []User {
	f.refresh()
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]User, 0, len(f.byName))
	for _, u := range f.byName {
		out = append(out, *u)
	}
	return out
}

func (f *passwdFile) len() int {
	f.refresh()
	f.mu.RLock()
	defer f.mu.RUnlock()
	return len(f.byName)
}

func (f *passwdFile) exists() bool {
	f.refresh()
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.size >= 0
}

// add appends a new user line; u.Name is the full name.
func (f *passwdFile) add(u *User) error {
	return f.modify(func() error {
		key := strings.ToLower(u.Name)
		if _, dup := f.byName[key]; dup {
			return fmt.Errorf("%w: %s", ErrUserExists, u.Name)
		}
		w := f.written(u.Name)
		f.lines = append(f.lines, line{raw: f.format(u, w), user: u, written: w})
		f.byName[key] = u
		return nil
	})
}

// change edits one user in place and rewrites its line.
func (f *passwdFile) change(name string, edit func(u *User)) error {
	return f.modify(func() error {
		u, ok := f.byName[strings.ToLower(name)]
		if !ok {
			return fmt.Errorf("%w: %s", ErrNoUser, name)
		}
		edit(u)
		for i := range f.lines {
			if f.lines[i].user == u {
				f.lines[i].raw = f.format(u, f.lines[i].written)
			}
		}
		return nil
	})
}

func (f *passwdFile) remove(name string) error {
	return f.modify(func() error {
		key := strings.ToLower(name)
		u, ok := f.byName[key]
		if !ok {
			return fmt.Errorf("%w: %s", ErrNoUser, name)
		}
		delete(f.byName, key)
		out := f.lines[:0]
		for _, l := range f.lines {
			if l.user != u {
				out = append(out, l)
			}
		}
		f.lines = out
		return nil
	})
}

// modify applies change to a freshly loaded copy and writes it out
// atomically; on any error the in-memory state is reloaded from disk.
func (f *passwdFile) modify(change func() error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.load(); err != nil {
		return err
	}
	if err := change(); err != nil {
		f.load()
		return err
	}
	var b bytes.Buffer
	for _, l := range f.lines {
		b.WriteString(l.raw)
		b.WriteByte('\n')
	}
	if f.domain != "" {
		// A domain's first user makes its file; the directory is the
		// users.file pattern's.
		if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := writeAtomic(f.path, b.Bytes()); err != nil {
		f.load()
		return err
	}
	f.checked = time.Now()
	return f.load()
}

// writeAtomic replaces path with data (a temporary file, fsynced, renamed
// over it). The new file keeps the old one's mode, owner and group: a
// 0640 root:dovecot file that Dovecot reads stays readable to it. A new
// file is 0600. When the owner or group cannot be kept (not root, not
// the owner), nothing is replaced.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	mode, uid, gid := os.FileMode(0o600), -1, -1
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil && uid >= 0 {
		err = keepOwner(f, uid, gid)
	}
	if err == nil {
		// After the chown, which may clear set-id bits.
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("auth: write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("auth: fsync %s: %w", dir, err)
	}
	return nil
}

// keepOwner gives f the owner and group uid:gid, if it has not got them.
func keepOwner(f *os.File, uid, gid int) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) == uid && int(st.Gid) == gid {
		return nil
	}
	if err := f.Chown(uid, gid); err != nil {
		return fmt.Errorf("the file belongs to %d:%d and this process (uid %d) cannot keep that: run as root or as its owner (%w)", uid, gid, os.Geteuid(), err)
	}
	return nil
}

// sortUsers orders users by name, as List returns them.
func sortUsers(us []User) {
	sort.Slice(us, func(i, j int) bool { return us[i].Name < us[j].Name })
}
