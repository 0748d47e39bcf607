package server_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/storaged/storaged/config"
)

// TestPOP3SessionsPython runs, with Python's poplib, the sessions after
// which a login half a second later got -ERR [IN-USE] (issue 16): each
// ends with QUIT (USER/PASS, AUTH PLAIN with and without an initial
// response, a failed AUTH), then a session is dropped without QUIT; the
// next login gets the maildrop every time. Two sessions at once share it
// by default and exclude each other with [pop3] lock_session.
func TestPOP3SessionsPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	for _, lock := range []bool{false, true} {
		mode := "shared"
		if lock {
			mode = "lock"
		}
		t.Run(mode, func(t *testing.T) {
			ts := startServer(t, t.TempDir(), func(cfg *config.Config) { cfg.POP3.LockSession = lock }, "ann")
			deliverMsgs(t, ts, "ann", testMessage(1), testMessage(2))
			out, err := exec.Command(py, "testdata/poplib_sessions.py", ts.pop3, "ann", "secret-ann", "2", mode).CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), "ok ") {
				t.Fatalf("poplib sessions: %v\n%s", err, out)
			}
			t.Log(strings.TrimSpace(string(out)))
			if n := ts.stored(t, "ann", "INBOX"); n != 2 {
				t.Errorf("%d messages after the sessions, want 2 (a dropped session deletes nothing)", n)
			}
		})
	}
}
