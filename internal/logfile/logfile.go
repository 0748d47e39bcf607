// Package logfile is a log file that a rotation can move away: Reopen
// (on SIGHUP, what logrotate's postrotate sends) starts a new file at the
// configured path, and writes in between go to the old one, never lost.
package logfile

import (
	"fmt"
	"os"
	"sync"
)

// File appends to the file at a path.
type File struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// Open opens (creating, 0640) path for appending.
func Open(path string) (*File, error) {
	lf := &File{path: path}
	if err := lf.Reopen(); err != nil {
		return nil, err
	}
	return lf, nil
}

// Write appends p; one call is one log line, written whole.
func (lf *File) Write(p []byte) (int, error) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	return lf.f.Write(p)
}

// Reopen opens the path again and closes the previous file.
func (lf *File) Reopen() error {
	f, err := os.OpenFile(lf.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	lf.mu.Lock()
	old := lf.f
	lf.f = f
	lf.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Close closes the file.
func (lf *File) Close() error {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	return lf.f.Close()
}
