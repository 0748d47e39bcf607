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
