package admin

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/config"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func testServer(t *testing.T) (path string, env *Env, log *syncBuf) {
	t.Helper()
	dir := t.TempDir()
	users, err := auth.Open(filepath.Join(dir, "users"), nil)
	if err != nil {
		t.Fatal(err)
	}
	users.SetHashParams(auth.HashParams{Memory: 64, Time: 1, Threads: 1})
	if err := users.Add("ann", "s3cret-pw", nil); err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.DataDir = dir
	env = &Env{Config: &cfg, Users: users,
		Reload: func() (string, error) { return "", errors.New("certificate unreadable") }}
	path = filepath.Join(dir, SocketName)
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	log = &syncBuf{}
	s := &Server{Env: env, Log: slog.New(slog.NewTextHandler(log, nil))}
	go s.Serve(l)
	t.Cleanup(s.Close)
	return path, env, log
}

// Output on both streams arrives in order and the exit status is the
// verb's; a password given on the command line or on standard input is
// never logged.
func TestSocket(t *testing.T) {
	path, _, log := testServer(t)
	for _, tc := range []struct {
		args        []string
		stdin       string
		code        int
		out, errout string
	}{
		{[]string{"auth", "test", "ann", "s3cret-pw"}, "", 0, "auth succeeded: ann\n", ""},
		{[]string{"auth", "test", "ann"}, "s3cret-pw\n", 0, "auth succeeded: ann\n", ""},
		{[]string{"auth", "test", "ann", "nope-pw"}, "", ExNoPerm, "auth failed: ann: wrong password\n", ""},
		{[]string{"reload"}, "", ExSoftware, "", "storaged: reload: certificate unreadable\n"},
		{[]string{"stop"}, "", ExTempFail, "", "storaged: stop: no server is running on "},
		{[]string{"frobnicate"}, "", ExUsage, "", "storaged: unknown admin verb \"frobnicate\""},
	} {
		var out, errout bytes.Buffer
		code, err := Call(path, tc.args, strings.NewReader(tc.stdin), &out, &errout)
		if err != nil || code != tc.code || out.String() != tc.out || !strings.HasPrefix(errout.String(), tc.errout) {
			t.Errorf("%v: %d %v out %q err %q", tc.args, code, err, out.String(), errout.String())
		}
	}
	if strings.Contains(log.String(), "pw") {
		t.Fatalf("a password reached the log:\n%s", log)
	}
	if !strings.Contains(log.String(), "verb=\"auth test ann (password)\"") {
		t.Fatalf("the verb is not logged:\n%s", log)
	}
}

// Nothing listening is ErrNoServer (the CLI then runs the verb itself);
// a malformed or endless request ends the connection without running
// anything.
func TestSocketFailures(t *testing.T) {
	if _, err := Call(filepath.Join(t.TempDir(), SocketName), []string{"who"}, nil, io.Discard, io.Discard); !errors.Is(err, ErrNoServer) {
		t.Fatalf("no socket: %v", err)
	}
	path, _, _ := testServer(t)
	for _, req := range []string{"not json\n", "{\"args\":[]}\n", strings.Repeat("x", maxRequest+10)} {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go io.WriteString(c, req)
		b, err := io.ReadAll(c)
		c.Close()
		if len(b) != 0 {
			t.Fatalf("%.20q: answered %q (%v)", req, b, err)
		}
	}
	// A second server on the same path is refused while the first runs.
	if _, err := Listen(path); err == nil {
		t.Fatal("a second admin socket replaced a live one")
	}
}
