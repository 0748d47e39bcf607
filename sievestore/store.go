package sievestore

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/storaged/storaged/internal/safefs"
	"github.com/storaged/storaged/sieve"
)

// Errors of the store; ManageSieve maps them to response codes (RFC 5804
// §1.3).
var (
	ErrNotFound = errors.New("no such script")               // NONEXISTENT
	ErrExists   = errors.New("a script of that name exists") // ALREADYEXISTS
	ErrActive   = errors.New("the script is active")         // ACTIVE
	ErrBadName  = errors.New("invalid script name")
	ErrTooBig   = errors.New("script too large") // QUOTA/MAXSIZE
	ErrTooMany  = errors.New("too many scripts") // QUOTA/MAXSCRIPTS
)

// MaxNameLen bounds a script name in characters; Pigeonhole allows 256
// octets, 128 characters keep every file name under NAME_MAX.
const MaxNameLen = 128

// Ext is the file name extension of a script.
const Ext = ".sieve"

// Options configure a Store.
type Options struct {
	// Dir holds the users' scripts (see the package doc).
	Dir string
	// Home returns the directory where a user's Dovecot layout may be
	// (sieve/ and .dovecot.sieve); nil or "" looks nowhere.
	Home func(user string) string
	// MaxScriptSize bounds one script in octets (default 1 MiB, as
	// Pigeonhole's sieve_max_script_size); MaxScripts bounds a user's
	// scripts (0: no limit).
	MaxScriptSize int64
	MaxScripts    int
	// Before and After are global scripts run around the user's: files,
	// or directories whose *.sieve run in name order.
	Before, After []string
	// GlobalDir serves include :global (RFC 6609 §3.2); "" has none.
	GlobalDir string
	// Compile is the base of every compile: extensions and limits.
	// MaxScriptSize is taken from above.
	Compile sieve.Options
	Log     *slog.Logger
	// Owner, when set, names who a user's scripts, their folder and the
	// active link belong to (as store.Options.Owner; an error refuses
	// the change). nil leaves the process's.
	Owner func(user string) (*safefs.Owner, error)
}

// Store is every user's scripts. It is safe for concurrent use.
type Store struct {
	opts  Options
	cache cache
	// none remembers users without an active script (none.go).
	none noneCache

	// mu serialises changes per user: a put racing a setactive of the
	// same user must not see half of the other.
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// New returns the store.
func New(opts Options) *Store {
	if opts.MaxScriptSize <= 0 {
		opts.MaxScriptSize = 1 << 20
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	opts.Compile.MaxScriptSize = int(opts.MaxScriptSize)
	s := &Store{opts: opts, locks: map[string]*sync.Mutex{}}
	s.cache.entries = map[string]*entry{}
	return s
}

// MaxScriptSize is the size limit of one script.
func (s *Store) MaxScriptSize() int64 { return s.opts.MaxScriptSize }

// MaxScripts is the count limit, 0 for none.
func (s *Store) MaxScripts() int { return s.opts.MaxScripts }

func (s *Store) lock(user string) func() {
	s.mu.Lock()
	l := s.locks[user]
	if l == nil {
		l = &sync.Mutex{}
		s.locks[user] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// CheckName refuses names RFC 5804 §1.6 forbids (control characters,
// U+2028, U+2029, invalid UTF-8) and those that could leave the user's
// folder or hide in it: empty, '/', '\\', a leading '.', too long.
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrBadName)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: not UTF-8", ErrBadName)
	}
	if utf8.RuneCountInString(name) > MaxNameLen {
		return fmt.Errorf("%w: longer than %d characters", ErrBadName, MaxNameLen)
	}
	if name[0] == '.' {
		return fmt.Errorf("%w: starts with '.'", ErrBadName)
	}
	for _, r := range name {
		switch {
		case r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0x2028 || r == 0x2029:
			return fmt.Errorf("%w: control character", ErrBadName)
		case r == '/' || r == '\\':
			return fmt.Errorf("%w: %q is not allowed", ErrBadName, r)
		}
	}
	return nil
}

// layout is where one user's scripts are.
type layout struct {
	scripts string        // the folder of NAME.sieve files
	active  string        // the symlink naming the active one
	adopted bool          // a Dovecot layout in the user's home
	owner   *safefs.Owner // who what is written there belongs to (Options.Owner)
}

func checkUser(user string) error {
	if user == "" || strings.ContainsAny(user, "/\\\x00") || user[0] == '.' {
		return fmt.Errorf("sievestore: invalid user name %q", user)
	}
	return nil
}

// layoutOf picks the user's layout: ours if we have anything of theirs,
// else a Dovecot one found in the home, else ours (created on the first
// write).
func (s *Store) layoutOf(user string) (layout, error) {
	if err := checkUser(user); err != nil {
		return layout{}, err
	}
	var owner *safefs.Owner
	if s.opts.Owner != nil {
		var err error
		if owner, err = s.opts.Owner(user); err != nil {
			return layout{}, err
		}
	}
	own := layout{scripts: filepath.Join(s.opts.Dir, user), active: filepath.Join(s.opts.Dir, user+Ext), owner: owner}
	if exists(own.scripts) || lexists(own.active) {
		return own, nil
	}
	if s.opts.Home != nil {
		if home := s.opts.Home(user); home != "" {
			dc := layout{scripts: filepath.Join(home, "sieve"), active: filepath.Join(home, ".dovecot.sieve"), adopted: true, owner: owner}
			if isDir(dc.scripts) || lexists(dc.active) {
				return dc, nil
			}
		}
	}
	return own, nil
}

func exists(p string) bool  { _, err := os.Stat(p); return err == nil }
func lexists(p string) bool { _, err := os.Lstat(p); return err == nil }
func isDir(p string) bool   { fi, err := os.Lstat(p); return err == nil && fi.IsDir() } // a link to one is none

// plainActive is the name a plain-file .dovecot.sieve is shown under.
const plainActive = "dovecot"

// activeName reads the active link: the script's name, "" for none. A
// link pointing outside the folder, or at something that is not a
// script, counts as none (and is logged): we never follow it.
func (s *Store) activeName(l layout) (string, error) {
	fi, err := os.Lstat(l.active)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sievestore: %w", err)
	}
	if fi.Mode().IsRegular() {
		return plainActive, nil
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return "", nil
	}
	target, err := os.Readlink(l.active)
	if err != nil {
		return "", fmt.Errorf("sievestore: %w", err)
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(l.active), target)
	}
	if filepath.Clean(filepath.Dir(target)) != filepath.Clean(l.scripts) || !strings.HasSuffix(target, Ext) {
		s.opts.Log.Warn("sieve: active link points outside the script folder; ignored", "link", l.active, "target", target)
		return "", nil
	}
	name := strings.TrimSuffix(filepath.Base(target), Ext)
	if CheckName(name) != nil {
		return "", nil
	}
	return name, nil
}

// path is where script name lives; the plain .dovecot.sieve is the link
// path itself.
func (s *Store) path(l layout, name, active string) string {
	if name == plainActive && active == plainActive {
		if fi, err := os.Lstat(l.active); err == nil && fi.Mode().IsRegular() {
			return l.active
		}
	}
	return filepath.Join(l.scripts, name+Ext)
}

// Script is one entry of a listing.
type Script struct {
	Name   string
	Active bool
	Size   int64
}

// List returns the user's scripts sorted by name.
func (s *Store) List(user string) ([]Script, error) {
	l, err := s.layoutOf(user)
	if err != nil {
		return nil, err
	}
	active, err := s.activeName(l)
	if err != nil {
		return nil, err
	}
	out, err := s.list(l, active)
	return out, err
}

func (s *Store) list(l layout, active string) ([]Script, error) {
	ents, err := os.ReadDir(l.scripts)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("sievestore: %w", err)
	}
	var out []Script
	seen := map[string]bool{}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), Ext)
		if !ok || CheckName(name) != nil || !e.Type().IsRegular() {
			continue
		}
		var size int64
		if fi, err := e.Info(); err == nil {
			size = fi.Size()
		}
		seen[name] = true
		out = append(out, Script{Name: name, Active: name == active, Size: size})
	}
	if active == plainActive && !seen[plainActive] {
		if fi, err := os.Stat(l.active); err == nil {
			out = append(out, Script{Name: plainActive, Active: true, Size: fi.Size()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Get returns a script's source.
func (s *Store) Get(user, name string) ([]byte, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	l, err := s.layoutOf(user)
	if err != nil {
		return nil, err
	}
	active, err := s.activeName(l)
	if err != nil {
		return nil, err
	}
	b, err := readNoFollow(s.path(l, name, active))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("sievestore: %w", err)
	}
	return b, nil
}

// Check compiles src as user's script would be compiled (includes
// resolved against the user's scripts and the global folder); the error
// is a *sieve.Error with line and column.
func (s *Store) Check(user string, src []byte) error {
	if int64(len(src)) > s.opts.MaxScriptSize {
		return fmt.Errorf("%w: %d octets, the limit is %d", ErrTooBig, len(src), s.opts.MaxScriptSize)
	}
	var l layout
	if user != "" {
		var err error
		if l, err = s.layoutOf(user); err != nil {
			return err
		}
	}
	_, _, err := s.compile(l, "", src)
	return err
}

// HaveSpace says whether a script of size octets could be stored under
// name (RFC 5804 §2.3).
func (s *Store) HaveSpace(user, name string, size int64) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if size > s.opts.MaxScriptSize {
		return fmt.Errorf("%w: %d octets, the limit is %d", ErrTooBig, size, s.opts.MaxScriptSize)
	}
	list, err := s.List(user)
	if err != nil {
		return err
	}
	return s.countOK(list, name)
}

func (s *Store) countOK(list []Script, name string) error {
	if s.opts.MaxScripts <= 0 {
		return nil
	}
	for _, sc := range list {
		if sc.Name == name {
			return nil // a replacement adds nothing
		}
	}
	if len(list) >= s.opts.MaxScripts {
		return fmt.Errorf("%w: the limit is %d", ErrTooMany, s.opts.MaxScripts)
	}
	return nil
}

// Put stores src as name once it compiles; the compile error comes back
// as it is (a *sieve.Error). Replacing the active script keeps it
// active.
func (s *Store) Put(user, name string, src []byte) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if int64(len(src)) > s.opts.MaxScriptSize {
		return fmt.Errorf("%w: %d octets, the limit is %d", ErrTooBig, len(src), s.opts.MaxScriptSize)
	}
	defer s.lock(user)()
	s.forgetNone(user)
	l, err := s.layoutOf(user)
	if err != nil {
		return err
	}
	// Compiled without its name: the errors of the script itself then
	// start "line N, column M", as ManageSieve clients show them.
	if _, _, err := s.compile(l, "", src); err != nil {
		return err
	}
	active, err := s.activeName(l)
	if err != nil {
		return err
	}
	list, err := s.list(l, active)
	if err != nil {
		return err
	}
	if err := s.countOK(list, name); err != nil {
		return err
	}
	if err := safefs.MkdirOwned(l.scripts, 0o700, l.owner); err != nil {
		return fmt.Errorf("sievestore: %w", err)
	}
	return writeAtomic(s.path(l, name, active), src, l.owner)
}

// SetActive makes name the active script; "" deactivates (RFC 5804
// §2.8).
func (s *Store) SetActive(user, name string) error {
	if name != "" {
		if err := CheckName(name); err != nil {
			return err
		}
	}
	defer s.lock(user)()
	s.forgetNone(user)
	l, err := s.layoutOf(user)
	if err != nil {
		return err
	}
	active, err := s.activeName(l)
	if err != nil {
		return err
	}
	if name == active {
		return nil
	}
	if active == plainActive {
		// The plain .dovecot.sieve becomes an ordinary script first, so
		// that switching away loses nothing.
		if err := s.adoptPlain(l); err != nil {
			return err
		}
	}
	if name == "" {
		if err := os.Remove(l.active); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sievestore: %w", err)
		}
		return syncDir(filepath.Dir(l.active))
	}
	if _, err := os.Stat(filepath.Join(l.scripts, name+Ext)); err != nil {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return s.link(l, filepath.Join(l.scripts, name+Ext))
}

// link points the active link at target: a new symlink renamed over the
// old one, so there is never a moment without one.
func (s *Store) link(l layout, target string) error {
	rel, err := filepath.Rel(filepath.Dir(l.active), target)
	if err != nil {
		return fmt.Errorf("sievestore: %w", err)
	}
	tmp := l.active + ".tmp-" + randHex()
	if err := os.Symlink(rel, tmp); err != nil {
		return fmt.Errorf("sievestore: %w", err)
	}
	if err := safefs.LchownNew(tmp, l.owner); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("sievestore: %w", err)
	}
	if err := os.Rename(tmp, l.active); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("sievestore: %w", err)
	}
	return syncDir(filepath.Dir(l.active))
}

func (s *Store) adoptPlain(l layout) error {
	if err := safefs.MkdirOwned(l.scripts, 0o700, l.owner); err != nil {
		return fmt.Errorf("sievestore: %w", err)
	}
	dst := filepath.Join(l.scripts, plainActive+Ext)
	if exists(dst) {
		dst = filepath.Join(l.scripts, plainActive+"-"+randHex()+Ext)
	}
	if err := os.Rename(l.active, dst); err != nil {
		return fmt.Errorf("sievestore: %w", err)
	}
	return syncDir(l.scripts)
}

// Delete removes a script that is not active (RFC 5804 §2.10).
func (s *Store) Delete(user, name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	defer s.lock(user)()
	s.forgetNone(user)
	l, err := s.layoutOf(user)
	if err != nil {
		return err
	}
	active, err := s.activeName(l)
	if err != nil {
		return err
	}
	if name == active {
		return fmt.Errorf("%w: %s", ErrActive, name)
	}
	if err := os.Remove(filepath.Join(l.scripts, name+Ext)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		return fmt.Errorf("sievestore: %w", err)
	}
	return syncDir(l.scripts)
}

// Rename renames a script, keeping it active if it was (RFC 5804
// §2.11.1).
func (s *Store) Rename(user, oldName, newName string) error {
	if err := CheckName(oldName); err != nil {
		return err
	}
	if err := CheckName(newName); err != nil {
		return err
	}
	defer s.lock(user)()
	s.forgetNone(user)
	l, err := s.layoutOf(user)
	if err != nil {
		return err
	}
	active, err := s.activeName(l)
	if err != nil {
		return err
	}
	if active == plainActive && oldName == plainActive {
		if err := s.adoptPlain(l); err != nil {
			return err
		}
	}
	oldP, newP := filepath.Join(l.scripts, oldName+Ext), filepath.Join(l.scripts, newName+Ext)
	if !exists(oldP) {
		return fmt.Errorf("%w: %s", ErrNotFound, oldName)
	}
	if exists(newP) {
		return fmt.Errorf("%w: %s", ErrExists, newName)
	}
	// A hard link, then the switch, then the unlink: the active link
	// never points at nothing, and the new name never replaces another.
	if err := os.Link(oldP, newP); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, newName)
		}
		return fmt.Errorf("sievestore: %w", err)
	}
	if oldName == active {
		if err := s.link(l, newP); err != nil {
			os.Remove(newP)
			return err
		}
	}
	if err := os.Remove(oldP); err != nil {
		return fmt.Errorf("sievestore: %w", err)
	}
	return syncDir(l.scripts)
}

func randHex() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// writeAtomic writes data to path through a temp file in the same
// folder: fsync, rename, fsync of the folder. The new file is owner's
// before a byte is written.
func writeAtomic(path string, data []byte, owner *safefs.Owner) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("sievestore: %w", err)
	}
	tmp := f.Name()
	err = safefs.ChownFile(f, owner)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("sievestore: write %s: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sievestore: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sievestore: fsync %s: %w", dir, err)
	}
	return nil
}
