package server_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestIMAPPython runs testdata/imaplib_suite.py: an independent client
// (IMAP4rev1 only) covering login, mailboxes, LSUB, \Recent, SEARCH
// NEW/OLD/RECENT, FETCH, STORE, IDLE woken by LMTP, COPY/MOVE, EXPUNGE
// across sessions and RENAME INBOX.
func TestIMAPPython(t *testing.T) { eachFormat(t, testIMAPPython) }

func testIMAPPython(t *testing.T, format string) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	ts := startServer(t, t.TempDir(), withFormat(format), "ann")
	out, err := exec.Command(py, "testdata/imaplib_suite.py", ts.imap, ts.lmtp, "ann", "secret-ann").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok ") {
		t.Fatalf("imaplib suite: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(string(out)))
}
