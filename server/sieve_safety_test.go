package server_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/server"
)

// logBuf keeps every log line a server writes.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServerLogged is startServer with the log kept for the test.
func startServerLogged(t *testing.T, dir string, mutate func(*config.Config), users ...string) (*testServer, *logBuf) {
	t.Helper()
	cfg := newConfig(t, dir)
	if mutate != nil {
		mutate(cfg)
	}
	lb := &logBuf{}
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(lb, nil)), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	srv.Users.SetHashParams(cheapHash)
	for _, u := range users {
		if err := srv.Users.Add(u, "secret-"+u, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, t: t, dir: dir, cfg: cfg}
	for _, a := range srv.Addrs("lmtp") {
		if a.Network() == "tcp" {
			ts.lmtp = a.String()
		}
	}
	<-srv.Repaired()
	t.Cleanup(ts.stop)
	return ts, lb
}

// A script that does not compile, one that fails at run time, and a
// redirect with no relay all end in INBOX, each with a log line naming
// the user and the error: mail is never lost to a script.
func TestSieveSafety(t *testing.T) {
	dir := t.TempDir()
	ts, lb := startServerLogged(t, dir, func(c *config.Config) { c.Sieve.MaxSteps = 1000 }, "ann", "bob", "cat")
	// A broken script can only come from outside (Put compiles), e.g. an
	// adopted Dovecot script or an edit on disk.
	os.MkdirAll(filepath.Join(ts.cfg.Sieve.Dir, "ann"), 0o700)
	writeFile(t, filepath.Join(ts.cfg.Sieve.Dir, "ann", "broken.sieve"), "if header :is \"subject\" {\n")
	if err := ts.Sieve.SetActive("ann", "broken"); err != nil {
		t.Fatal(err)
	}
	if err := ts.Sieve.Put("bob", "loop", []byte("require \"imap4flags\";\n"+strings.Repeat("addflag \"x\";\n", 10000))); err != nil {
		t.Fatal(err)
	}
	ts.Sieve.SetActive("bob", "loop")
	ts.Sieve.Put("cat", "fwd", []byte(`redirect "elsewhere@example.com";`))
	ts.Sieve.SetActive("cat", "fwd")
	c := ts.lmtpClient()
	defer c.Close()
	for i := 0; i < 2; i++ { // the second time from the compile cache
		res, err := send(c, "a@example.net", []string{"ann@example.org", "bob@example.org", "cat@example.org"},
			[]byte("From: a@example.net\r\nSubject: s\r\n\r\nbody\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		for r, se := range res {
			if se != nil {
				t.Fatalf("%s: %v", r, se)
			}
		}
	}
	for _, u := range []string{"ann", "bob", "cat"} {
		if got := layout(ts.contents(t, u)); got != "INBOX=|" {
			t.Errorf("%s: %q", u, got)
		}
	}
	log := lb.String()
	for _, want := range []string{
		`msg="sieve: script not usable, implicit keep" user=ann`,
		`script \"broken\": line 1, column 25: block opened here is never closed`,
		`msg="sieve: run-time error, implicit keep" user=bob`,
		`limit exceeded: the script ran more than 1000 steps`,
		`msg="sieve: redirect failed, implicit keep" user=cat`,
		`no relay is configured`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q in\n%s", want, log)
		}
	}
	if hits, misses := ts.Sieve.Stats(); hits < 3 || misses != 3 {
		t.Errorf("compile cache: %d hits, %d misses", hits, misses)
	}
}

// A Dovecot user's scripts are used where they are: sieve/ and the
// .dovecot.sieve link in the user's mail directory.
func TestSieveDovecotAdoption(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, nil, "ann")
	home := filepath.Join(ts.cfg.Mail.Dir, "ann")
	// The store first (as an adopted Dovecot Maildir would be), then the
	// Dovecot scripts beside it.
	if _, err := ts.Accounts.Open(context.Background(), "ann"); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(home, "sieve"), 0o700)
	writeFile(t, filepath.Join(home, "sieve", "roundcube.sieve"), `require ["fileinto","mailbox"]; fileinto :create "FromDovecot";`)
	if err := os.Symlink("sieve/roundcube.sieve", filepath.Join(home, ".dovecot.sieve")); err != nil {
		t.Fatal(err)
	}
	list, err := ts.Sieve.List("ann")
	if err != nil || len(list) != 1 || list[0].Name != "roundcube" || !list[0].Active {
		t.Fatalf("list %+v %v", list, err)
	}
	c := ts.lmtpClient()
	defer c.Close()
	if res, err := send(c, "a@example.net", []string{"ann@example.org"}, []byte("Subject: x\r\n\r\ny\r\n")); err != nil || res["ann@example.org"] != nil {
		t.Fatalf("%v %v", res, err)
	}
	if got := layout(ts.contents(t, "ann")); got != "FromDovecot=" {
		t.Fatalf("%q", got)
	}
	// Edits go to the Dovecot files, so the user can go back.
	if err := ts.Sieve.Put("ann", "second", []byte("keep;")); err != nil {
		t.Fatal(err)
	}
	if err := ts.Sieve.SetActive("ann", "second"); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(home, ".dovecot.sieve")); err != nil || target != "sieve/second.sieve" {
		t.Fatalf("link %q %v", target, err)
	}
}
