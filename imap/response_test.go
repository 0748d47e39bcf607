package imap

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"syscall"
	"testing"
)

// A full disk is NO [OVERQUOTA], never NO [SERVERBUG].
func TestMapErrDiskFull(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	err := mapErr(log, "append", fmt.Errorf("store: %w", &os.PathError{Op: "write", Path: "/m", Err: syscall.ENOSPC}))
	r, ok := err.(*response)
	if !ok || r.kind != "NO" || r.code != codeOverQuota {
		t.Fatalf("ENOSPC: %v", err)
	}
}

// A permission the kernel refused in a store is NO [NOPERM], not a
// SERVERBUG.
func TestMapErrPermission(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	err := mapErr(log, "select", fmt.Errorf("maildir: %w (as uid 1001, gid 1001)", &os.PathError{Op: "stat", Path: "new", Err: syscall.EACCES}))
	r, ok := err.(*response)
	if !ok || r.kind != "NO" || r.code != codeNoPerm {
		t.Fatalf("EACCES: %v", err)
	}
}
