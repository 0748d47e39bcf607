package safefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"slices"
	"sync"

	"golang.org/x/sys/unix"
)

// creds are the file-system credentials a Dir's path operations run
// under when the server runs as root for a user with a uid of their own
// (Owner): the kernel then checks every open, create, rename and unlink
// beneath the store as that user, as Dovecot's per-user processes are,
// so that a link that slipped past the resolution rules (or a bug in
// them) reaches nothing the user could not reach anyway: another user's
// 0700 store or a root-only file answers EACCES.
//
// Linux keeps credentials per thread, and fsuid/fsgid exist for exactly
// this: setfsuid(2) changes only the uid that file access is checked
// against, on the calling thread, and a change from 0 drops the file
// capabilities (CAP_DAC_OVERRIDE, CAP_CHOWN, CAP_FOWNER …) from the
// thread's effective set; the change back to 0 raises them again. The
// supplementary groups are set per thread too (the raw setgroups system
// call; glibc's and Go's syscall.Setgroups change every thread). So a
// section locks its goroutine to its thread, switches, runs the
// operation and switches back before unlocking: no other goroutine ever
// runs on a thread with a user's credentials, and the Go runtime never
// clones a new thread from a locked one (it asks its template thread).
//
// Only path operations run under them: I/O on a descriptor already open
// is not checked again, and the index and journal outside the store stay
// the server's.
type creds struct {
	uid, gid int
	groups   []int // the user's supplementary groups: their gid alone
}

// base is the process's own credentials, what every section returns to.
var base = sync.OnceValues(func() (baseCreds, error) {
	groups, err := unix.Getgroups()
	if err != nil {
		return baseCreds{}, fmt.Errorf("getgroups: %w", err)
	}
	return baseCreds{uid: os.Geteuid(), gid: os.Getegid(), groups: groups}, nil
})

type baseCreds struct {
	uid, gid int
	groups   []int
}

// credsFor is the credentials for a Dir given to o, or nil when the
// process cannot or need not switch: only root switches, and only to a
// uid of its own (a gid alone is given by chown, as before).
func credsFor(o *Owner) *creds {
	if o == nil || o.UID <= 0 || os.Geteuid() != 0 {
		return nil
	}
	gid := o.GID
	if gid < 0 {
		gid = os.Getegid()
	}
	return &creds{uid: o.UID, gid: gid, groups: []int{gid}}
}

// as runs f under d's credentials (see creds), or as it is for a Dir
// without them. f must not start goroutines that touch the file system
// on its behalf: they would run as root.
func (d *Dir) as(f func() error) error {
	c := d.cred
	if c == nil {
		return f()
	}
	b, err := base()
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	cur, _ := unix.SetfsuidRetUid(-1) // -1 changes nothing and tells the current fsuid
	switch cur {
	case c.uid:
		// A section of this owner's already runs on this thread (a
		// method calling another): it switches back when it ends.
		defer runtime.UnlockOSThread()
		return f()
	case b.uid:
	default:
		runtime.UnlockOSThread()
		return fmt.Errorf("file-system uid %d on this thread, want %d or %d", cur, b.uid, c.uid)
	}
	if err := c.enter(); err != nil {
		if rerr := b.restore(); rerr != nil {
			// The thread is stuck with credentials it should not have:
			// it stays locked to this goroutine, which the runtime ends
			// with it, rather than serve any other goroutine.
			return fmt.Errorf("%w; and back: %v", err, rerr)
		}
		runtime.UnlockOSThread()
		return err
	}
	ferr := f()
	if errors.Is(ferr, fs.ErrPermission) {
		// Say whose permission it was: the admin reads it in the log.
		ferr = fmt.Errorf("%w (as uid %d, gid %d)", ferr, c.uid, c.gid)
	}
	if err := b.restore(); err != nil {
		return fmt.Errorf("restoring the thread's credentials: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// enter switches the calling (locked) thread to c: groups and gid first,
// while the thread still has CAP_SETGID, then the uid.
func (c *creds) enter() error {
	if err := unix.Setgroups(c.groups); err != nil {
		return fmt.Errorf("setgroups %v: %w", c.groups, err)
	}
	unix.Setfsgid(c.gid)
	unix.Setfsuid(c.uid)
	// setfsuid and setfsgid report no failure: ask again.
	if u, _ := unix.SetfsuidRetUid(-1); u != c.uid {
		return fmt.Errorf("setfsuid %d: the thread has %d", c.uid, u)
	}
	if g, _ := unix.SetfsgidRetGid(-1); g != c.gid {
		return fmt.Errorf("setfsgid %d: the thread has %d", c.gid, g)
	}
	return nil
}

// restore switches the calling thread back to the process's credentials:
// the uid first (which gives back the capabilities the groups need).
func (b baseCreds) restore() error {
	unix.Setfsuid(b.uid)
	unix.Setfsgid(b.gid)
	if err := unix.Setgroups(b.groups); err != nil {
		return fmt.Errorf("setgroups %v: %w", b.groups, err)
	}
	if u, _ := unix.SetfsuidRetUid(-1); u != b.uid {
		return fmt.Errorf("setfsuid %d: the thread has %d", b.uid, u)
	}
	if g, _ := unix.SetfsgidRetGid(-1); g != b.gid {
		return fmt.Errorf("setfsgid %d: the thread has %d", b.gid, g)
	}
	if groups, err := unix.Getgroups(); err != nil || !slices.Equal(groups, b.groups) {
		return fmt.Errorf("groups %v (%v), want %v", groups, err, b.groups)
	}
	return nil
}
