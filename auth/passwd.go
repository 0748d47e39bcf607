package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
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
	// Name is the user's full name: "alice", or "alice@example.org" for
	// a full-address user (in a domain's own file too, whose lines may
	// leave the domain out). It names the user's store directory.
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
// directory of the store. A full address has one '@', with something on
// both sides: "alice@example.org" is one user and one directory, and no
// plain name can be mistaken for it.
func ValidName(name string) error {
	if name == "" || len(name) > 255 || name == "." || name == ".." || strings.HasPrefix(name, ".") {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f || r == ':' || r == '/' || r == '\\' || r == '#' {
			return fmt.Errorf("%w: %q", ErrBadName, name)
		}
	}
	if at := strings.Count(name, "@"); at > 1 || at == 1 && (name[0] == '@' || name[len(name)-1] == '@') {
		return fmt.Errorf("%w: %q (a full address has one '@' between its local part and its domain)", ErrBadName, name)
	}
	return nil
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

// DomainVar is what users.file holds in place of the domain when each
// domain has a file of its own (Dovecot's passwd-file /etc/dovecot/users/%d).
const DomainVar = "%d"

// DB is the passwd-file user database: one file for every user, or, when
// its path holds %d, one file per domain whose users are all full
// addresses.
type DB struct {
	path string
	log  *slog.Logger
	// main is the one file; nil when each domain has one (perDomain).
	main      *passwdFile
	perDomain bool
	dmu       sync.Mutex
	// byDomain holds the domain files that exist (or that Add made):
	// never one per name a client made up.
	byDomain map[string]*passwdFile

	mu     sync.Mutex
	params HashParams

	cache     *verifyCache
	slots     verifySlots
	dummyOnce sync.Once
	dummy     string
	// kdfCalls counts slow verifications, for tests of the cache.
	kdfCalls int64
}

// Open reads the file at path; a missing file is an empty database. A
// path with %d in its last element ("users/%d") is a file per domain;
// they are read when a name of their domain is looked up.
func Open(path string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.Default()
	}
	db := &DB{path: path, log: logger, params: DefaultHashParams, cache: newVerifyCache(10000, time.Hour),
		slots: make(verifySlots, DefaultMaxParallel())}
	if strings.Contains(path, DomainVar) {
		if err := CheckUsersPath(path); err != nil {
			return nil, err
		}
		db.perDomain, db.byDomain = true, map[string]*passwdFile{}
		return db, nil
	}
	db.main = newPasswdFile(path, "", logger)
	db.main.mu.Lock()
	err := db.main.load()
	db.main.checked = time.Now()
	db.main.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return db, nil
}

// CheckUsersPath accepts a users.file value: a path, or one with %d once,
// in its last element, as in "users/%d" or "/etc/dovecot/users/%d.passwd".
func CheckUsersPath(path string) error {
	n := strings.Count(path, DomainVar)
	if n == 0 {
		return nil
	}
	if n > 1 || strings.Contains(filepath.Dir(path), DomainVar) {
		return fmt.Errorf("auth: %q: %s may stand once, in the file name (users/%s)", path, DomainVar, DomainVar)
	}
	return nil
}

// PerDomain reports whether each domain has a file of its own.
func (db *DB) PerDomain() bool { return db.perDomain }

// domainPath is the file of one (valid, lower-case) domain.
func (db *DB) domainPath(domain string) string {
	return strings.Replace(db.path, DomainVar, domain, 1)
}

// domainFile is the file of a domain, nil when there is none (and create
// is false). Only files that exist are remembered, so names made up by a
// client cost a stat, never memory.
func (db *DB) domainFile(domain string, create bool) *passwdFile {
	domain = strings.ToLower(domain)
	if !validDomain(domain) {
		return nil
	}
	db.dmu.Lock()
	defer db.dmu.Unlock()
	if f, ok := db.byDomain[domain]; ok {
		return f
	}
	path := db.domainPath(domain)
	if _, err := os.Stat(path); err != nil && !create {
		return nil
	}
	f := newPasswdFile(path, domain, db.log)
	f.mu.Lock()
	err := f.load()
	f.checked = time.Now()
	f.mu.Unlock()
	if err != nil {
		db.log.Error("reading a domain's users file", "file", path, "err", err)
		return nil
	}
	db.byDomain[domain] = f
	return f
}

// fileFor is the file that holds (or would hold) name, nil for a name no
// file can hold (a plain name when each domain has its own file).
func (db *DB) fileFor(name string, create bool) *passwdFile {
	if !db.perDomain {
		return db.main
	}
	_, domain, ok := splitAddress(name)
	if !ok {
		return nil
	}
	return db.domainFile(domain, create)
}

// domainFiles are every domain's file, those on disk now included.
func (db *DB) domainFiles() []*passwdFile {
	dir, base := filepath.Split(db.path)
	pre, suf, _ := strings.Cut(base, DomainVar)
	ents, _ := os.ReadDir(filepath.Clean(dir))
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || len(n) <= len(pre)+len(suf) || !strings.HasPrefix(n, pre) || !strings.HasSuffix(n, suf) {
			continue
		}
		// Temporary files (".NAME.tmp-…") and names in upper case are
		// not valid domains: skipped.
		db.domainFile(n[len(pre):len(n)-len(suf)], false)
	}
	db.dmu.Lock()
	defer db.dmu.Unlock()
	out := make([]*passwdFile, 0, len(db.byDomain))
	for _, f := range db.byDomain {
		out = append(out, f)
	}
	return out
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

// Refresh reads the files again now if they changed (SIGHUP), instead of
// at the next lookup a second from now.
func (db *DB) Refresh() {
	files := []*passwdFile{db.main}
	if db.perDomain {
		files = db.domainFiles()
	}
	for _, f := range files {
		f.mu.Lock()
		f.refreshLocked()
		f.mu.Unlock()
	}
}

// Lookup finds a user by full name, case-insensitively: "alice", or
// "alice@example.org" in the main file or in example.org's own. It never
// takes an address for a plain user (Authenticator and delivery's
// Resolve do that for the local domains).
func (db *DB) Lookup(name string) (User, bool) {
	f := db.fileFor(name, false)
	if f == nil {
		return User{}, false
	}
	return f.lookup(name)
}

// HasDomain reports whether some user of the database is of domain: it
// has a file of its own, or a full-address user in the main file.
func (db *DB) HasDomain(domain string) bool {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if db.perDomain {
		f := db.domainFile(domain, false)
		return f != nil && f.exists()
	}
	return db.main.hasDomain(domain)
}

// Len is the number of users.
func (db *DB) Len() int {
	if !db.perDomain {
		return db.main.len()
	}
	n := 0
	for _, f := range db.domainFiles() {
		n += f.len()
	}
	return n
}

// List returns every user, sorted by name.
func (db *DB) List() []User {
	if !db.perDomain {
		out := db.main.list()
		sortUsers(out)
		return out
	}
	var out []User
	for _, f := range db.domainFiles() {
		out = append(out, f.list()...)
	}
	sortUsers(out)
	return out
}

// dummyHash is verified for unknown users so that they cost as much as
// known ones and the timing does not tell which names exist.
func (db *DB) dummyHash() string {
	db.dummyOnce.Do(func() {
		db.mu.Lock()
		p := db.params
		db.mu.Unlock()
		db.dummy, _ = Hash("storaged-no-such-user", p)
	})
	return db.dummy
}

// Verify checks a user's password. Unknown user and wrong password give
// the same ErrAuthFailed, after the same work: the dummy hash has the
// costs of a real one and waits for a slot like one. ctx ending while
// the verification waits for its slot returns ctx's error.
func (db *DB) Verify(ctx context.Context, name, password string) (User, error) {
	u, _, err := db.check(ctx, name, password)
	return u, err
}

// check is Verify that also says why it failed, for the log: unknown
// user, wrong password, or a hash that cannot be verified.
func (db *DB) check(ctx context.Context, name, password string) (User, Reason, error) {
	u, ok := db.Lookup(name)
	if ok && db.cache.hit(db.cache.key(name, password, u.Hash)) {
		return u, "", nil
	}
	if err := db.slots.acquire(ctx); err != nil {
		return User{}, "", fmt.Errorf("auth: waiting to verify: %w", err)
	}
	defer db.slots.release()
	hash := u.Hash
	if !ok || disabledHash(hash) {
		// Made under the slot too: the first one is an argon2id run.
		hash = db.dummyHash()
	}
	db.mu.Lock()
	db.kdfCalls++
	db.mu.Unlock()
	good, err := VerifyHash(hash, password)
	switch {
	case !ok:
		return User{}, ReasonUnknownUser, ErrAuthFailed
	case disabledHash(u.Hash):
		return User{}, ReasonDisabled, ErrAuthFailed
	case err != nil:
		db.log.Warn("password hash cannot be verified", "user", name, "err", err)
		return User{}, ReasonBadHash, ErrAuthFailed
	case !good:
		return User{}, ReasonWrongPassword, ErrAuthFailed
	}
	db.cache.add(db.cache.key(name, password, hash))
	return u, "", nil
}

// Add creates a user with a new argon2id hash. When each domain has its
// own file, name must be a full address; its domain's file is created
// if need be.
func (db *DB) Add(name, password string, extra map[string]string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	f := db.fileFor(name, true)
	if f == nil {
		return fmt.Errorf("%w: %q: the users file is per domain (%s), so a user is a full address (user@domain)", ErrBadName, name, db.path)
	}
	db.mu.Lock()
	p := db.params
	db.mu.Unlock()
	hash, err := Hash(password, p)
	if err != nil {
		return err
	}
	var raw []string
	for k, v := range extra {
		raw = append(raw, k+"="+v)
	}
	sort.Strings(raw)
	return f.add(&User{Name: name, Hash: hash, ExtraRaw: strings.Join(raw, " "), Extra: extra})
}

// existing is the file that holds an existing user name.
func (db *DB) existing(name string) (*passwdFile, error) {
	f := db.fileFor(name, false)
	if f == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoUser, name)
	}
	return f, nil
}

// SetPassword replaces a user's hash.
func (db *DB) SetPassword(name, password string) error {
	f, err := db.existing(name)
	if err != nil {
		return err
	}
	db.mu.Lock()
	p := db.params
	db.mu.Unlock()
	hash, err := Hash(password, p)
	if err != nil {
		return err
	}
	return f.change(name, func(u *User) { u.Hash = hash })
}

// SetHash replaces a user's hash with one made elsewhere, such as
// `doveadm pw -s SCRAM-SHA-256` (the scheme in braces included).
func (db *DB) SetHash(name, hash string) error {
	if hash == "" || strings.ContainsAny(hash, ":\r\n") {
		return fmt.Errorf("auth: a hash %.20q cannot be written into the users file", hash)
	}
	f, err := db.existing(name)
	if err != nil {
		return err
	}
	return f.change(name, func(u *User) { u.Hash = hash })
}

// SetExtra sets one of a user's extra fields (userdb_quota_rule=…), or
// removes it when value is "". The other fields keep their order.
func (db *DB) SetExtra(name, key, value string) error {
	// The extra fields are the line's last, space separated: a value may
	// hold ':' (quota rules do), never white space.
	if key == "" || strings.ContainsAny(key, "=: \t\r\n") || strings.ContainsAny(value, " \t\r\n") {
		return fmt.Errorf("auth: extra field %q=%q cannot be written", key, value)
	}
	f, err := db.existing(name)
	if err != nil {
		return err
	}
	return f.change(name, func(u *User) {
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
		// Extra is parsed again when the file is read back (modify).
		u.ExtraRaw = strings.Join(fields, " ")
	})
}

// Delete removes a user from the file (their mail stays).
func (db *DB) Delete(name string) error {
	f, err := db.existing(name)
	if err != nil {
		return err
	}
	return f.remove(name)
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
