package folder

import (
	"encoding/binary"
	"io/fs"
	"time"
)

// SettleTime is how old a file time must be before no later change can
// share it: file times tick coarsely (ext4 a few ms, some file systems 1
// or 2 s), so a change in the same tick as the last scan leaves the
// mtime as it was.
const SettleTime = 2 * time.Second

// AppendMtime appends fi's modification time to a token. Formats build
// their tokens from these stamps, mtimes first, then whatever else they
// add (sizes, inodes), so MtimesSettled can read them back.
func AppendMtime(tok Token, fi fs.FileInfo) Token {
	return binary.BigEndian.AppendUint64(tok, uint64(fi.ModTime().UnixNano()))
}

// AppendUint appends a number (a size, an inode) to a token.
func AppendUint(tok Token, v uint64) Token { return binary.BigEndian.AppendUint64(tok, v) }

// MtimesSettled reports whether the first n mtimes in tok (fewer when tok
// is shorter) are at least SettleTime old: only then may a format trust
// an unchanged token to mean an unchanged folder. An empty token is never
// settled.
func MtimesSettled(tok Token, n int) bool {
	if len(tok) < 8 {
		return false
	}
	now := time.Now()
	for i := 0; i < n && 8*i+8 <= len(tok); i++ {
		mt := time.Unix(0, int64(binary.BigEndian.Uint64(tok[8*i:])))
		if now.Sub(mt) < SettleTime {
			return false
		}
	}
	return true
}
