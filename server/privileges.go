package server

// Privileges ([server] user, group; issue 13 point 2).
//
// Two ways to run, as Dovecot's mail_uid and per-user uid fields:
//
//   - With server.user: serve started as root binds every listener and
//     socket (ports below 1024, the LMTP socket with its owner, group and
//     mode, the admin socket), makes the data directory's missing parts,
//     gives what it made there to that user, and drops to it for the
//     whole process; started as that user it runs as it is. Every store
//     is then that user's, and a passwd-file line whose uid/gid fields
//     name someone else is refused for that user (store.ErrOwner: LMTP
//     451 4.3.0, IMAP NO [UNAVAILABLE], logged with both ids): a process
//     that is not root cannot give files away, and files the line's
//     owner could not read are worse than a delivery the MTA retries.
//   - Without it, run as root: the process stays root, and every file
//     and directory made in a user's store (and the user's index file)
//     is given to the uid/gid of the user's passwd-file line, through
//     safefs.Owner, right after it is made and before a byte is written,
//     and every path operation in the store runs under that uid and gid
//     on its own thread (safefs creds.go). A line without them leaves
//     the file root's, as before.
//
// Invariants:
//   - Nothing is served before the drop: listeners are bound first,
//     their accept loops (and the start-up repair) start after it.
//   - setgroups, setgid, setuid, in that order (after setuid the others
//     are no longer permitted); since Go 1.16 each applies to every
//     thread of the process (syscall.AllThreadsSyscall, or libc's with
//     cgo), so no goroutine keeps root on a thread of its own.
//   - After the drop setuid(0) must fail, or serve does not start.
//   - A data directory the user cannot write is an error at start that
//     names the directory and the user, never a failure per delivery.

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/internal/safefs"
	"github.com/storaged/storaged/store"
)

// lookupID resolves a uid (group false) or gid field: a number, or a
// name as Dovecot also accepts there.
func lookupID(v string, group bool) (int, error) {
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return n, nil
	}
	if group {
		g, err := user.LookupGroup(v)
		if err != nil {
			return -1, fmt.Errorf("gid %q: no such group", v)
		}
		return strconv.Atoi(g.Gid)
	}
	u, err := user.Lookup(v)
	if err != nil {
		return -1, fmt.Errorf("uid %q: no such user", v)
	}
	return strconv.Atoi(u.Uid)
}

// userOwner is who a user's files belong to: the line's uid/gid fields
// over server.user/group, -1 for what neither gives.
func userOwner(cfg *config.Config, users *auth.DB, name string) (safefs.Owner, error) {
	uid, gid, _, err := cfg.RunAs()
	if err != nil {
		return safefs.Owner{}, err
	}
	o := safefs.Owner{UID: uid, GID: gid}
	if u, ok := users.Lookup(name); ok {
		if u.UID != "" {
			if o.UID, err = lookupID(u.UID, false); err != nil {
				return o, fmt.Errorf("%w: user %s: users file: %v", store.ErrOwner, name, err)
			}
		}
		if u.GID != "" {
			if o.GID, err = lookupID(u.GID, true); err != nil {
				return o, fmt.Errorf("%w: user %s: users file: %v", store.ErrOwner, name, err)
			}
		}
	}
	return o, nil
}

// storeOwner is store.Options.Owner: as root, the owner to give a user's
// files to; as anyone else (dropped to server.user, or started as a
// plain user), nothing to give, or ErrOwner when the ids the user's
// files must have are not the process's.
func storeOwner(cfg *config.Config, users *auth.DB) func(string) (*safefs.Owner, error) {
	return func(name string) (*safefs.Owner, error) {
		o, err := userOwner(cfg, users, name)
		if err != nil {
			return nil, err
		}
		if euid, egid := os.Geteuid(), os.Getegid(); euid != 0 {
			if o.UID >= 0 && o.UID != euid || o.GID >= 0 && o.GID != egid {
				return nil, fmt.Errorf("%w: user %s: the users file gives uid %d gid %d, but storaged runs as uid %d gid %d (server.user) and cannot give files away", store.ErrOwner, name, o.UID, o.GID, euid, egid)
			}
			return nil, nil
		}
		if o.UID < 0 && o.GID < 0 {
			return nil, nil
		}
		return &o, nil
	}
}

// runAsRoot reports whether this process, as root, is to hand the data
// directory to server.user: then what it makes there is given away.
func runAsRoot(cfg *config.Config) (uid, gid int, ok bool) {
	uid, gid, ok, err := cfg.RunAs()
	if err != nil || !ok || os.Geteuid() != 0 {
		return -1, -1, false
	}
	return uid, gid, true
}

// mkdirAllFor is os.MkdirAll that gives each directory it makes to
// uid:gid (when ok): the data directory is the server's, so the paths
// are trusted.
func mkdirAllFor(path string, perm os.FileMode, uid, gid int, ok bool) error {
	var made []string
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		if _, err := os.Stat(p); err == nil || p == filepath.Dir(p) {
			break
		}
		made = append(made, p)
	}
	if err := os.MkdirAll(path, perm); err != nil {
		return err
	}
	if !ok {
		return nil
	}
	for _, p := range made {
		if err := os.Lchown(p, uid, gid); err != nil {
			return fmt.Errorf("give %s to %d:%d: %w", p, uid, gid, err)
		}
	}
	return nil
}

// chownIfRoot gives path to uid:gid when it is root's: a file this
// server made before the drop (the lock file, a socket, the users file
// written by a first start or by `storaged user add` as root, the log
// file).
func chownIfRoot(path string, uid, gid int) error {
	fi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != 0 {
		return nil
	}
	if err := os.Lchown(path, uid, gid); err != nil {
		return fmt.Errorf("give %s to %d:%d: %w", path, uid, gid, err)
	}
	return nil
}

// within reports whether path lies in dir (or is it).
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// CheckRunAs refuses, before anything is made on disk, a serve started
// as neither root nor server.user: it could not become that user.
func CheckRunAs(cfg *config.Config) error {
	uid, _, ok, err := cfg.RunAs()
	if err != nil || !ok {
		return err
	}
	if euid := os.Geteuid(); euid != 0 && euid != uid {
		return fmt.Errorf("server.user = %q (uid %d), but storaged was started as uid %d, which cannot switch to it: start it as root or as %s", cfg.Server.User, uid, euid, cfg.Server.User)
	}
	return nil
}

// dropPrivileges becomes server.user and server.group; see the top of
// the file. Nothing happens without server.user.
func (s *Server) dropPrivileges() error {
	cfg := s.Config
	uid, gid, ok, err := cfg.RunAs()
	if err != nil || !ok {
		return err
	}
	name := cfg.Server.User
	switch euid := os.Geteuid(); {
	case euid == uid:
		if err := s.checkDataDir(name, uid, gid); err != nil {
			return err
		}
		// Supplementary groups are the starter's to give (systemd's
		// SupplementaryGroups=): say which are missing, not fail.
		keep, err := cfg.AccessGIDs()
		if err != nil {
			return err
		}
		have, _ := syscall.Getgroups()
		for _, g := range keep {
			if g != os.Getegid() && !slices.Contains(have, g) {
				s.Log.Warn("server.access_groups: started as server.user without this group, which only root could add", "gid", g)
			}
		}
		s.Log.Info("running as server.user", "user", name, "uid", uid, "gid", os.Getegid())
		return nil
	case euid != 0:
		return CheckRunAs(cfg)
	}
	// What this process made in the data directory as root is the
	// user's from now on (EnsureDataDir gave it the directories).
	give := []string{filepath.Join(cfg.DataDir, ".storaged.lock"), cfg.Admin.Socket}
	if cfg.Log.File != "" {
		give = append(give, cfg.Log.File)
	}
	// The users file root wrote (a first start, `storaged user add`):
	// reloads read it as the user. Directories the admin made are not
	// given away: one the user cannot write is an error below.
	if uf := cfg.Users.File; within(uf, cfg.DataDir) && !strings.Contains(uf, "%") {
		give = append(give, uf)
	}
	for _, p := range give {
		if p == "" {
			continue
		}
		if err := chownIfRoot(p, uid, gid); err != nil {
			return err
		}
	}
	// setgroups first: after setgid/setuid it is not permitted, and
	// root's supplementary groups (0, disk, …) must not stay.
	keep, err := cfg.AccessGIDs()
	if err != nil {
		return err
	}
	groups := append([]int{gid}, slices.DeleteFunc(keep, func(g int) bool { return g == gid })...)
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("server.user: setgroups(%v): %w", groups, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("server.group: setgid(%d): %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("server.user: setuid(%d): %w", uid, err)
	}
	if err := syscall.Setuid(0); err == nil {
		return errors.New("server.user: after dropping privileges the process could become root again; refusing to serve")
	}
	have, _ := syscall.Getgroups()
	slices.Sort(have)
	want := slices.Clone(groups)
	slices.Sort(want)
	if os.Getuid() != uid || os.Geteuid() != uid || os.Getgid() != gid || os.Getegid() != gid || !slices.Equal(have, want) {
		return fmt.Errorf("server.user: after the drop the process is uid %d/%d gid %d/%d groups %v, not %d:%d groups %v", os.Getuid(), os.Geteuid(), os.Getgid(), os.Getegid(), have, uid, gid, want)
	}
	if err := s.checkDataDir(name, uid, gid); err != nil {
		return err
	}
	s.Log.Info("dropped privileges", "user", name, "uid", uid, "gid", gid, "groups", fmt.Sprint(groups))
	return nil
}

// checkDataDir makes sure the process, as it now runs, can write where
// it keeps mail and indexes, and read the users file.
func (s *Server) checkDataDir(name string, uid, gid int) error {
	cfg := s.Config
	for _, d := range []string{cfg.DataDir, cfg.Mail.Dir, cfg.Mail.IndexDir} {
		f, err := os.CreateTemp(d, ".storaged-probe-")
		if err != nil {
			return fmt.Errorf("%s is not writable by server.user %s (uid %d gid %d): %w; give it to that user (chown -R %d:%d %s)", d, name, uid, gid, err, uid, gid, d)
		}
		f.Close()
		os.Remove(f.Name())
	}
	if uf := cfg.Users.File; !strings.Contains(uf, "%") {
		if f, err := os.Open(uf); err == nil {
			f.Close()
		} else if !errors.Is(err, os.ErrNotExist) {
			// Read already, as root: a reload would lose it.
			s.Log.Warn("server.user cannot read the users file: a reload will not see changes", "file", uf, "user", name, "err", err)
		}
	}
	// The certificates were read before the drop; a SIGHUP reads them
	// as this user. Debian's keys are root:ssl-cert 0640.
	if cfg.TLS.Enabled() {
		for _, p := range cfg.TLS.Pairs() {
			for _, f := range []string{p.Cert, p.Key} {
				if fh, err := os.Open(f); err == nil {
					fh.Close()
				} else {
					s.Log.Warn("server.user cannot read this TLS file: a reload will keep the old certificates; make it readable by a group in server.access_groups (ssl-cert)", "file", f, "user", name, "err", err)
				}
			}
		}
	}
	// A line whose ids cannot be honoured is refused at its first use;
	// say so now, once, rather than at the first delivery.
	for _, u := range s.Users.List() {
		if u.UID == "" && u.GID == "" {
			continue
		}
		if o, err := userOwner(cfg, s.Users, u.Name); err != nil || o.UID != uid || o.GID != gid {
			s.Log.Warn("user's uid/gid fields name another owner than server.user: that user is refused (451 4.3.0, NO [UNAVAILABLE])", "user", u.Name, "uid_field", u.UID, "gid_field", u.GID, "server_uid", uid, "server_gid", gid)
		}
	}
	return nil
}
