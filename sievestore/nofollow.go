package sievestore

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// maxGetScript bounds what GETSCRIPT reads of a script file.
const maxGetScript = 16 << 20

// readNoFollow reads a script file that must be a regular file itself:
// a script folder adopted from a Dovecot layout lives in the user's
// store, where the user may have made NAME.sieve a link to any file
// (another user's script, /etc/shadow); that is not followed. O_NONBLOCK
// keeps a FIFO there from blocking the session.
func readNoFollow(p string) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	return io.ReadAll(io.LimitReader(f, maxGetScript))
}
