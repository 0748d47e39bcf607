package server_test

import (
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestMblazeInterop: mblaze's mlist and mshow read the Maildir storaged
// writes, flags included. Skips without mblaze (make test installs it
// when apt-get can).
func TestMblazeInterop(t *testing.T) {
	mlist, err := exec.LookPath("mlist")
	mshow, err2 := exec.LookPath("mshow")
	if err != nil || err2 != nil {
		t.Skip("mblaze is not installed; make test installs it when apt-get can")
	}
	dir := t.TempDir()
	ts := startServer(t, dir, withFormat("maildir"), "ann")
	deliverMsgs(t, ts, "ann", testMessage(1), testMessage(2), testMessage(3))
	c := ts.login(t, "ann", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	md := filepath.Join(dir, "mail", "ann")
	run := func(name string, args ...string) []string {
		t.Helper()
		out, err := exec.Command(name, args...).Output()
		if err != nil {
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return strings.Fields(string(out))
	}
	all := run(mlist, md)
	if len(all) != 3 {
		t.Fatalf("mlist: %v", all)
	}
	if seen := run(mlist, "-S", md); len(seen) != 1 {
		t.Fatalf("mlist -S (seen): %v", seen)
	}
	var subjects []string
	for _, p := range all {
		out, err := exec.Command(mshow, "-q", p).Output()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if s, ok := strings.CutPrefix(l, "Subject: "); ok {
				subjects = append(subjects, s)
			}
		}
	}
	sort.Strings(subjects)
	if strings.Join(subjects, ",") != "m1,m2,m3" {
		t.Fatalf("mshow subjects: %v", subjects)
	}
}
