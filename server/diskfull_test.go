package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	imap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/storaged/storaged/config"
)

// mountTmpfs mounts a tmpfs of size octets on a fresh temporary
// directory, unmounted when the test ends (after the server's shutdown,
// which is registered later and so runs first). The test is skipped when
// the mount cannot be made (not root, no CAP_SYS_ADMIN, a container).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("disk full: mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+size+",mode=0700"); err != nil {
		t.Skipf("disk full: cannot mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		err := syscall.Unmount(dir, 0)
		if errors.Is(err, syscall.EBUSY) {
			// A closed account's folder store keeps its directory open
			// until the store is collected (safefs.Dir's cleanup).
			// Cleanups run on their own goroutine, after a GC.
			for i := 0; i < 20 && errors.Is(err, syscall.EBUSY); i++ {
				runtime.GC()
				runtime.Gosched()
				err = syscall.Unmount(dir, 0)
			}
		}
		if err != nil {
			// Detached, the tmpfs goes when its last file is closed.
			t.Logf("unmount %s: %v (held: %v); detaching it", dir, err, heldUnder(dir))
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
		}
	})
	return dir
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// fullMessage is the i-th 64 KB test message, canonical.
func fullMessage(i int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: a@example.net\r\nTo: ann@example.org\r\nSubject: fill %d\r\nMessage-ID: <fill-%d@example.net>\r\n\r\n", i, i)
	line := strings.Repeat(string(rune('a'+i%26)), 72)
	for n := 0; b.Len() < 64<<10; n++ {
		fmt.Fprintf(&b, "%04d %s\r\n", n, line)
	}
	return b.Bytes()
}

// fetchAll returns INBOX's messages by UID, BODY[] whole.
func fetchAll(t *testing.T, c *imapclient.Client) map[imap.UID][]byte {
	t.Helper()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatalf("SELECT: %v", err)
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	}).Collect()
	if err != nil {
		t.Fatalf("FETCH: %v", err)
	}
	out := make(map[imap.UID][]byte)
	for _, m := range msgs {
		out[m.UID] = m.FindBodySection(&imap.FetchItemBodySection{Peek: true})
	}
	return out
}

// Disk full (issue 16 §1): with the data directory on a small tmpfs, LMTP
// refuses with 452 4.3.1 and IMAP APPEND with NO [OVERQUOTA] (never
// [SERVERBUG]); every acknowledged message is there intact and the index
// agrees with the files; once space returns, delivery resumes without a
// restart.
// It runs twice per format: with the whole data directory on the full
// disk (the message file is what no longer fits), and with only the
// index there (the file is written, the index commit fails).
func TestDiskFull(t *testing.T) {
	eachFormat(t, func(t *testing.T, format string) {
		t.Run("data", func(t *testing.T) { testDiskFull(t, format, false) })
		t.Run("index", func(t *testing.T) { testDiskFull(t, format, true) })
	})
}

func testDiskFull(t *testing.T, format string, indexOnly bool) {
	var ts *testServer
	full := mountTmpfs(t, "8m")
	leave := int64(1536 << 10) // room for about 24 messages
	if indexOnly {
		ts = startServer(t, t.TempDir(), withFormat(format, func(c *config.Config) { c.Mail.IndexDir = full }), "ann")
		leave = 64 << 10 // the index grows by doubling from 32 KB
	} else {
		ts = startServer(t, full, withFormat(format), "ann")
	}
	ctx := context.Background()

	// A filler takes most of the room, so that a few dozen messages fill
	// the rest, and removing it gives the room back.
	filler := filepath.Join(full, "filler")
	room := freeBytes(t, full) - leave
	if room <= 0 {
		t.Fatalf("the tmpfs has %d octets free", freeBytes(t, full))
	}
	if err := os.WriteFile(filler, bytes.Repeat([]byte{'x'}, int(room)), 0o600); err != nil {
		t.Fatal(err)
	}

	c := ts.lmtpClient()
	defer c.Close()
	acked := make(map[string][]byte) // Message-ID → message
	var refusal *smtp.SMTPError
	for i := 0; refusal == nil; i++ {
		if i == 200 {
			t.Fatalf("200 deliveries of 64 KB accepted on an 8 MB tmpfs (%d free)", freeBytes(t, full))
		}
		msg := fullMessage(i)
		res, err := send(c, "a@example.net", []string{"ann@example.org"}, msg)
		if err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
		se, ok := res["ann@example.org"]
		switch {
		case !ok:
			t.Fatalf("delivery %d: no reply for the recipient: %v", i, res)
		case se == nil:
			acked[fmt.Sprintf("<fill-%d@example.net>", i)] = msg
		default:
			refusal = se
		}
	}
	if refusal.Code != 452 || refusal.EnhancedCode != (smtp.EnhancedCode{4, 3, 1}) {
		t.Fatalf("delivery on a full disk: %d %v %q, want 452 4.3.1", refusal.Code, refusal.EnhancedCode, refusal.Message)
	}
	if len(acked) == 0 {
		t.Fatal("the first delivery was already refused: the filler left no room")
	}
	if !indexOnly {
		// A message over the spool threshold (1 MiB) is spooled under
		// data_dir/tmp while it is read: the full disk refuses it there,
		// in the same words.
		huge := bytes.Repeat(fullMessage(2000), 24) // about 1.5 MiB
		res, err := send(c, "a@example.net", []string{"ann@example.org"}, huge)
		if err != nil {
			t.Fatalf("spooled delivery: %v", err)
		}
		if se := res["ann@example.org"]; se == nil || se.Code != 452 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 1}) {
			t.Fatalf("spooled delivery on a full disk: %v, want 452 4.3.1", se)
		}
	}

	// IMAP APPEND on the full disk: NO [OVERQUOTA], never [SERVERBUG].
	ic := ts.login(t, "ann", nil)
	big := fullMessage(1000)
	app := ic.Append("INBOX", int64(len(big)), nil)
	app.Write(big)
	app.Close()
	if _, err := app.Wait(); imapCode(err) != imap.ResponseCodeOverQuota {
		t.Fatalf("APPEND on a full disk: %v, want NO [OVERQUOTA]", err)
	}

	// Every 250 is there, byte for byte, read while the disk is still
	// full; nothing else is.
	verify := func(when string) {
		t.Helper()
		got := fetchAll(t, ic)
		seen := make(map[string]bool)
		for uid, b := range got {
			id := ""
			for mid := range acked {
				if bytes.Contains(b, []byte("Message-ID: "+mid+"\r\n")) {
					id = mid
				}
			}
			if id == "" {
				t.Errorf("%s: UID %d is no acknowledged message (%d octets)", when, uid, len(b))
				continue
			}
			if seen[id] {
				t.Errorf("%s: %s stored twice", when, id)
			}
			seen[id] = true
			// The stored message is the sent one under the fields the
			// delivery adds (Return-Path, Delivered-To, Received).
			if !bytes.HasSuffix(b, acked[id]) {
				t.Errorf("%s: UID %d (%s) differs from what was sent (%d octets, sent %d)", when, uid, id, len(b), len(acked[id]))
			}
		}
		for id := range acked {
			if !seen[id] {
				t.Errorf("%s: %s was acknowledged and is missing", when, id)
			}
		}
		acct, err := ts.Accounts.Open(ctx, "ann")
		if err != nil {
			t.Fatal(err)
		}
		diffs, err := acct.Check(ctx, false)
		if err != nil {
			t.Fatalf("%s: check: %v", when, err)
		}
		for _, d := range diffs {
			t.Errorf("%s: check: %+v", when, d)
		}
	}
	verify("disk full")
	if t.Failed() {
		return
	}

	// Space returns: delivery resumes on the same server, and the new
	// message is readable.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	after := fullMessage(2000)
	res, err := send(c, "a@example.net", []string{"ann@example.org"}, after)
	if err != nil {
		t.Fatal(err)
	}
	if se := res["ann@example.org"]; se != nil {
		t.Fatalf("delivery once space returned: %v", se)
	}
	acked["<fill-2000@example.net>"] = after
	app = ic.Append("INBOX", int64(len(big)), nil)
	app.Write(big)
	app.Close()
	if _, err := app.Wait(); err != nil {
		t.Fatalf("APPEND once space returned: %v", err)
	}
	acked["<fill-1000@example.net>"] = big
	verify("space returned")
}

// heldUnder lists this process's open files and mappings under dir.
func heldUnder(dir string) []string {
	var out []string
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		if p, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(p, dir) {
			out = append(out, "fd "+p)
		}
	}
	maps, _ := os.ReadFile("/proc/self/maps")
	for _, l := range strings.Split(string(maps), "\n") {
		if i := strings.Index(l, dir); i >= 0 {
			out = append(out, "map "+l[i:])
		}
	}
	return out
}
