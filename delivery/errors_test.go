package delivery

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/quota"
)

// How a failed append reaches the front ends: a full disk is a temporary
// DiskFull (LMTP 452 4.3.1), never an unknown failure.
func TestStoreError(t *testing.T) {
	d := &Deliverer{}
	for _, c := range []struct {
		err  error
		want Kind
	}{
		{fmt.Errorf("maildir: write: %w", &os.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}), DiskFull},
		{fmt.Errorf("store: index append: %w", syscall.EDQUOT), DiskFull},
		{fmt.Errorf("mbox: %w", folder.ErrLocked), Busy},
		{fmt.Errorf("x: %w", quota.ErrOverQuota), OverQuota},
		{fmt.Errorf("something else"), TempFail},
	} {
		if got := KindOf(d.storeError(c.err)); got != c.want {
			t.Errorf("%v: kind %d, want %d", c.err, got, c.want)
		}
	}
}
