package auth

import (
	"bytes"
	"context"
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

// Errors of the user database.
var (
	ErrAuthFailed = errors.New("authentication failed")
	ErrNoUser     = errors.New("no such user")
	ErrUserExists = errors.New("user exists")
	ErrBadName    = errors.New("invalid user name")
)

// User is one line of the passwd-file.
type User struct {
	Name  string
	Hash  string
	UID   string
	GID   string
	Gecos string
	Home  string
	Shell string
	// Extra holds key=value fields (userdb_mail=…), ExtraRaw the field as
	// written.
	Extra    map[string]string
	ExtraRaw string
}

// ValidName refuses names that could not be a line of the file or a
// directory of the store.
func ValidName(name string) error {
	if name == "" || len(name) > 255 || name == "." || name == ".." || strings.HasPrefix(name, ".") {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f || r == ':' || r == '/' || r == '\\' || r == '#' {
			return fmt.Errorf("%w: %q", ErrBadName, name)
		}
	}
	return nil
}

// line is one line of the file: a user or anything else, kept verbatim.
type line struct {
	raw  string
	user *User
}

// parseLine reads one passwd-file line; non-user lines come back with a
// nil user.
func parseLine(s string) (*User, error) {
	t := strings.TrimSpace(s)
	if t == "" || strings.HasPrefix(t, "#") {
		return nil, nil
	}
	f := strings.SplitN(s, ":", 8)
	if ValidName(f[0]) != nil {
		return nil, fmt.Errorf("%w: %q", ErrBadName, f[0])
	}
	get := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	u := &User{Name: f[0], Hash: get(1), UID: get(2), GID: get(3), Gecos: get(4), Home: get(5), Shell: get(6), ExtraRaw: get(7)}
	if u.ExtraRaw != "" {
		u.Extra = make(map[string]string)
		for _, kv := range strings.Fields(u.ExtraRaw) {
			k, v, _ := strings.Cut(kv, "=")
			u.Extra[k] = v
		}
	}
	return u, nil
}

func (u *User) String() string {
	return strings.Join([]string{u.Name, u.Hash, u.UID, u.GID, u.Gecos, u.Home, u.Shell, u.ExtraRaw}, ":")
}

// DB is the passwd-file user database.
type DB struct {
	path string
	log  *slog.Logger

	mu      sync.RWMutex
	lines   []line
	byName  map[string]*User // lower-case name
	modTime time.Time
	size    int64
	checked time.Time
	params  HashParams

	cache     *verifyCache
	slots     verifySlots
	dummyOnce sync.Once
	dummy     string
	// kdfCalls counts slow verifications, for tests of the cache.
	kdfCalls int64
}

// Open reads the file at path; a missing file is an empty database.
func Open(path string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.Default()
	}
	db := &DB{path: path, log: logger, params: DefaultHashParams, cache: newVerifyCache(10000, time.Hour),
		slots: make(verifySlots, DefaultMaxParallel())}
	if err := db.load(); err != nil {
		return nil, err
	}
	return db, nil
}

// SetMaxParallel bounds how many password verifications run at once
// (n <= 0: DefaultMaxParallel). Call it before the DB is in use.
func (db *DB) SetMaxParallel(n int) {
	if n <= 0 {
		n = DefaultMaxParallel()
	}
	db.slots = make(verifySlots, n)
}

// SetHashParams sets the argon2id costs of new hashes.
func (db *DB) SetHashParams(p HashParams) {
	db.mu.Lock()
	db.params = p
	db.mu.Unlock()
}

func (db *DB) load() error {
	data, err := os.ReadFile(db.path)
	var st os.FileInfo
	if err == nil {
		st, err = os.Stat(db.path)
	}
	if errors.Is(err, fs.ErrNotExist) {
		db.lines, db.byName, db.modTime, db.size = nil, map[string]*User{}, time.Time{}, -1
		return nil
	}
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	var lines []line
	byName := make(map[string]*User)
	for i, s := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if s == "" && len(data) == 0 {
			break
		}
		u, err := parseLine(s)
		if err != nil {
			db.log.Warn("passwd-file line ignored", "file", db.path, "line", i+1, "err", err)
		}
		if u != nil {
			if _, dup := byName[strings.ToLower(u.Name)]; dup {
				db.log.Warn("passwd-file duplicate user ignored", "file", db.path, "line", i+1, "user", u.Name)
				u = nil
			} else {
				byName[strings.ToLower(u.Name)] = u
			}
		}
		lines = append(lines, line{raw: s, user: u})
	}
	db.lines, db.byName, db.modTime, db.size = lines, byName, st.ModTime(), st.Size()
	return nil
}

// refresh reloads the file when another process changed it; it stats at
// most once a second.
func (db *DB) refresh() {
	db.mu.RLock()
	fresh := time.Since(db.checked) < time.Second
	db.mu.RUnlock()
	if fresh {
		return
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	db.refreshLocked()
}

// Refresh reads the file again now if it changed (SIGHUP), instead of at
// the next lookup a second from now.
func (db *DB) Refresh() {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.refreshLocked()
}

func (db *DB) refreshLocked() {
	db.checked = time.Now()
	st, err := os.Stat(db.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if db.size == -1 {
			return
		}
	case err != nil:
		return
	case st.ModTime().Equal(db.modTime) && st.Size() == db.size:
		return
	}
	if err := db.load(); err != nil {
		db.log.Error("reloading the user database", "err", err)
	}
}

// Lookup finds a user by name, case-insensitively.
func (db *DB) Lookup(name string) (User, bool) {
	db.refresh()
	db.mu.RLock()
	defer db.mu.RUnlock()
	u, ok := db.byName[strings.ToLower(name)]
	if !ok {
		return User{}, false
	}
	return *u, true
}

// Len is the number of users.
func (db *DB) Len() int {
	db.refresh()
	db.mu.RLock()
	defer db.mu.RUnlock()
	return len(db.byName)
}

// List returns every user, sorted by name.
func (db *DB) List() []User {
	db.refresh()
	db.mu.RLock()
	out := make([]User, 0, len(db.byName))
	for _, u := range db.byName {
		out = append(out, *u)
	}
	db.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// dummyHash is verified for unknown users so that they cost as much as
// known ones and the timing does not tell which names exist.
func (db *DB) dummyHash() string {
	db.dummyOnce.Do(func() {
		db.mu.RLock()
		p := db.params
		db.mu.RUnlock()
		db.dummy, _ = Hash("storaged-no-such-user", p)
	})
	return db.dummy
}

// Verify checks a user's password. Unknown user and wrong password give
// the same ErrAuthFailed, after the same work: the dummy hash has the
// costs of a real one and waits for a slot like one. ctx ending while
// the verification waits for its slot returns ctx's error.
func (db *DB) Verify(ctx context.Context, name, password string) (User, error) {
	u, ok := db.Lookup(name)
	if ok && db.cache.hit(db.cache.key(name, password, u.Hash)) {
		return u, nil
	}
	if err := db.slots.acquire(ctx); err != nil {
		return User{}, fmt.Errorf("auth: waiting to verify: %w", err)
	}
	defer db.slots.release()
	hash := u.Hash
	if !ok {
		// Made under the slot too: the first one is an argon2id run.
		hash = db.dummyHash()
	}
	db.mu.Lock()
	db.kdfCalls++
	db.mu.Unlock()
	good, err := VerifyHash(hash, password)
	if err != nil {
		db.log.Warn("password hash cannot be verified", "user", name, "err", err)
	}
	if !ok || !good || err != nil {
		return User{}, ErrAuthFailed
	}
	db.cache.add(db.cache.key(name, password, hash))
	return u, nil
}

// Add creates a user with a new argon2id hash.
func (db *DB) Add(name, password string, extra map[string]string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	db.mu.RLock()
	p := db.params
	db.mu.RUnlock()
	hash, err := Hash(password, p)
	if err != nil {
		return err
	}
	var raw []string
	for k, v := range extra {
		raw = append(raw, k+"="+v)
	}
	sort.Strings(raw)
	return db.modify(func() error {
		if _, dup := db.byName[strings.ToLower(name)]; dup {
			return fmt.Errorf("%w: %s", ErrUserExists, name)
		}
		u := &User{Name: name, Hash: hash, ExtraRaw: strings.Join(raw, " "), Extra: extra}
		db.lines = append(db.lines, line{raw: u.String(), user: u})
		db.byName[strings.ToLower(name)] = u
		return nil
	})
}

// SetPassword replaces a user's hash.
func (db *DB) SetPassword(name, password string) error {
	db.mu.RLock()
	p := db.params
	db.mu.RUnlock()
	hash, err := Hash(password, p)
	if err != nil {
		return err
	}
	return db.modify(func() error {
		u, ok := db.byName[strings.ToLower(name)]
		if !ok {
			return fmt.Errorf("%w: %s", ErrNoUser, name)
		}
		u.Hash = hash
		for i := range db.lines {
			if db.lines[i].user == u {
				db.lines[i].raw = u.String()
			}
		}
		return nil
	})
}

// SetExtra sets one of a user's extra fields (userdb_quota_rule=…), or
// removes it when value is "". The other fields keep their order.
func (db *DB) SetExtra(name, key, value string) error {
	// The extra fields are the line's last, space separated: a value may
	// hold ':' (quota rules do), never white space.
	if key == "" || strings.ContainsAny(key, "=: \t\r\n") || strings.ContainsAny(value, " \t\r\n") {
		return fmt.Errorf("auth: extra field %q=%q cannot be written", key, value)
	}
	return db.modify(func() error {
		u, ok := db.byName[strings.ToLower(name)]
		if !ok {
			return fmt.Errorf("%w: %s", ErrNoUser, name)
		}
		var fields []string
		found := false
		for _, kv := range strings.Fields(u.ExtraRaw) {
			k, _, _ := strings.Cut(kv, "=")
			if k == key {
				found = true
				if value != "" {
					fields = append(fields, key+"="+value)
				}
				continue
			}
			fields = append(fields, kv)
		}
		if !found && value != "" {
			fields = append(fields, key+"="+value)
		}
		u.ExtraRaw = strings.Join(fields, " ")
		for i := range db.lines {
			if db.lines[i].user == u {
				db.lines[i].raw = u.String()
			}
		}
		return nil
	})
}

// Delete removes a user from the file (their mail stays).
func (db *DB) Delete(name string) error {
	return db.modify(func() error {
		u, ok := db.byName[strings.ToLower(name)]
		if !ok {
			return fmt.Errorf("%w: %s", ErrNoUser, name)
		}
		delete(db.byName, strings.ToLower(name))
		out := db.lines[:0]
		for _, l := range db.lines {
			if l.user != u {
				out = append(out, l)
			}
		}
		db.lines = out
		return nil
	})
}

// modify applies change to a freshly loaded copy and writes it out
// atomically; on any error the in-memory state is reloaded from disk.
func (db *DB) modify(change func() error) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.load(); err != nil {
		return err
	}
	if err := change(); err != nil {
		db.load()
		return err
	}
	var b bytes.Buffer
	for _, l := range db.lines {
		b.WriteString(l.raw)
		b.WriteByte('\n')
	}
	if err := writeAtomic(db.path, b.Bytes()); err != nil {
		db.load()
		return err
	}
	return db.load()
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

// MailFormat is the storage format the user's extra fields ask for:
// "userdb_mail=FORMAT" or "mail=FORMAT", as Dovecot's passwd-file writes
// them ("mbox:~/mail:INBOX=/var/mail/%u" gives "mbox": locations are
// storaged's own, under mail.dir). "" when the fields say nothing.
func (u *User) MailFormat() string {
	v := u.Extra["userdb_mail"]
	if v == "" {
		v = u.Extra["mail"]
	}
	f, _, _ := strings.Cut(v, ":")
	return strings.ToLower(f)
}
