package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/index"
	"github.com/storaged/storaged/server"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds storaged once for the tests that run it as a process.
func binary(t testing.TB) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "storaged-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "storaged")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		if t == nil {
			panic(buildErr)
		}
		t.Fatal(buildErr)
	}
	return binPath
}

// env is a data directory with a config that listens on a unix socket only.
type env struct {
	t      testing.TB
	dir    string
	cfg    string
	sock   string
	format string
}

func newEnv(t *testing.T, users ...string) *env { return newEnvFormat(t, "maildir", users...) }

// newEnvFormat is newEnv with the users' mail in a given storage format.
func newEnvFormat(t *testing.T, format string, users ...string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, cfg: filepath.Join(dir, "storaged.toml"), sock: filepath.Join(dir, "lmtp.sock"), format: format}
	conf := fmt.Sprintf("data_dir = %q\nlocal_domains = [\"example.org\"]\n[mail]\nformat = %q\n[lmtp]\nlisten = [\"unix:%s\"]\n[imap]\nlisten = [\"127.0.0.1:0\"]\n[pop3]\nlisten = [\"127.0.0.1:0\"]\n", dir, format, e.sock)
	if err := os.WriteFile(e.cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		cmd := exec.Command(binary(t), "-config", e.cfg, "user", "add", "-password-stdin", u)
		cmd.Stdin = strings.NewReader("pw-" + u + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("user add %s: %v\n%s", u, err, out)
		}
	}
	return e
}

// Flags may follow the name, as the usage shows, and -format records the
// user's storage format.
func TestUserAddFlags(t *testing.T) {
	e := newEnv(t)
	cmd := exec.Command(binary(t), "-config", e.cfg, "user", "add", "ann", "-password-stdin", "-format", "mbox")
	cmd.Stdin = strings.NewReader("pw\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("user add: %v\n%s", err, out)
	}
	out, err := exec.Command(binary(t), "-config", e.cfg, "user", "list").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "userdb_mail=mbox") {
		t.Fatalf("user list: %v\n%s", err, out)
	}
	if err := exec.Command(binary(t), "-config", e.cfg, "user", "add", "bob", "-format", "xyz").Run(); err == nil {
		t.Fatal("an unknown format was accepted")
	}
}

// proc is a running storaged serve.
type proc struct {
	cmd  *exec.Cmd
	done chan error
}

// start runs serve and returns once its start-up repair has finished,
// which it reads from the log, not from a clock.
func (e *env) startB(b *testing.B) *proc {
	e.t = b
	return e.start()
}

func (e *env) start() *proc {
	e.t.Helper()
	cmd := exec.Command(binary(e.t), "-config", e.cfg, "serve")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan error, 1)}
	ready := make(chan struct{})
	var logTail []string
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		signalled := false
		for sc.Scan() {
			mu.Lock()
			logTail = append(logTail, sc.Text())
			mu.Unlock()
			if !signalled && strings.Contains(sc.Text(), "startup repair finished") {
				close(ready)
				signalled = true
			}
		}
		io.Copy(io.Discard, stderr)
		p.done <- cmd.Wait()
		if !signalled {
			close(ready)
		}
	}()
	select {
	case <-ready:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		mu.Lock()
		e.t.Fatalf("server did not become ready:\n%s", strings.Join(logTail, "\n"))
	}
	if cmd.ProcessState != nil {
		e.t.Fatalf("server exited at start:\n%s", strings.Join(logTail, "\n"))
	}
	return p
}

func (p *proc) kill9() {
	p.cmd.Process.Kill()
	<-p.done
}

func (p *proc) term(t *testing.T) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil && t != nil {
		t.Fatalf("server exit after SIGTERM: %v", err)
	}
}

func (e *env) client() (*smtp.Client, error) {
	conn, err := net.Dial("unix", e.sock)
	if err != nil {
		return nil, err
	}
	c := smtp.NewClientLMTP(conn)
	if err := c.Hello("test.example.net"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// state reads every user's INBOX from the index: key → UID.
func (e *env) state(user string) (uidvalidity, uidnext uint32, keys map[string]uint32) {
	e.t.Helper()
	db, err := index.Open(filepath.Join(e.dir, "index", user, "index.db"), time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	keys = map[string]uint32{}
	err = db.View(func(tx *index.Tx) error {
		mb, err := tx.Mailbox("INBOX")
		if err != nil {
			return err
		}
		uidvalidity, uidnext = mb.UIDValidity, mb.UIDNext
		return tx.ForEachMessage(mb.ID, func(m *index.Message) error {
			keys[m.Key] = m.UID
			return nil
		})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return
}

// files maps the Message-IDs found in a user's INBOX, read through the
// storage format's own code as a second program would, to their keys.
func (e *env) files(user string) map[string][]string {
	e.t.Helper()
	var st folder.Store
	for _, f := range server.Formats {
		if f.Name == e.format {
			var err error
			if st, err = f.Open(filepath.Join(e.dir, "mail", user), folder.Options{LockWait: time.Second}); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	fo, err := st.Folder(folder.Inbox)
	if err != nil {
		e.t.Fatal(err)
	}
	ents, _, err := fo.Scan(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string][]string{}
	for _, ent := range ents {
		r, err := fo.Open(ent)
		if err != nil {
			e.t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			e.t.Fatal(err)
		}
		i := strings.Index(string(b), "Message-ID: <")
		if i < 0 {
			e.t.Fatalf("no Message-ID in %s", ent.Name)
		}
		id := string(b[i+13 : i+13+strings.IndexByte(string(b[i+13:]), '>')])
		out[id] = append(out[id], ent.Key)
	}
	return out
}

// Crash: deliveries from several clients, kill -9 mid-stream, restart.
// Every acknowledged message is there exactly once with a UID, and no UID
// is ever given to two messages.
// Three loads, each on every format: 4 connections to 3 users, and
// Postfix's default destination concurrency, 20 connections, to 1 user
// (batched appends) and to 100 users (the index commits of early
// appends waiting for company, lazycommit.go).
func TestCrashRecovery(t *testing.T) {
	many := make([]string, 100)
	for i := range many {
		many[i] = fmt.Sprintf("u%03d", i)
	}
	loads := []struct {
		name          string
		conns         int
		users         []string
		cycles, acked int
	}{
		{"4conn-3users", 4, []string{"ann", "ben", "cat"}, 5, 60},
		{"20conn-1user", 20, []string{"ann"}, 3, 200},
		{"20conn-100users", 20, many, 3, 200},
	}
	for _, f := range []string{"maildir", "mbox", "mh"} {
		for _, l := range loads {
			t.Run(f+"/"+l.name, func(t *testing.T) { testCrashRecovery(t, f, l.conns, l.users, l.cycles, l.acked) })
		}
	}
}

// testCrashRecovery: conns clients deliver round robin to users; once
// perCycle messages are acknowledged in a cycle, kill -9, restart, check.
func testCrashRecovery(t *testing.T, format string, conns int, users []string, cycles, perCycle int) {
	var e *env
	if len(users) > 10 {
		// Written directly: `user add` hashes each password (argon2id).
		e = newEnvFormat(t, format)
		var b strings.Builder
		for _, u := range users {
			fmt.Fprintf(&b, "%s:{PLAIN}pw-%s:::::\n", u, u)
		}
		if err := os.WriteFile(filepath.Join(e.dir, "users"), []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	} else {
		e = newEnvFormat(t, format, users...)
	}
	acked := map[string]string{} // Message-ID → user
	var mu sync.Mutex
	uidOfKey := map[string]map[string]uint32{}
	validity := map[string]uint32{}
	for _, u := range users {
		uidOfKey[u] = map[string]uint32{}
	}
	seq := 0
	for cycle := 0; cycle < cycles; cycle++ {
		p := e.start()
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var total sync.WaitGroup
		total.Add(1)
		var once sync.Once
		var count int
		for w := 0; w < conns; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				c, err := e.client()
				if err != nil {
					return
				}
				defer c.Close()
				for ctx.Err() == nil {
					mu.Lock()
					seq++
					id := fmt.Sprintf("c%d-w%d-%d@test", cycle, w, seq)
					user := users[seq%len(users)]
					mu.Unlock()
					if c.Mail("s@example.net", nil) != nil || c.Rcpt(user+"@example.org", nil) != nil {
						return
					}
					wr, err := c.Data()
					if err != nil {
						return
					}
					fmt.Fprintf(wr, "Subject: crash %s\r\nMessage-ID: <%s>\r\n\r\n%s\r\n", id, id, strings.Repeat("body line\r\n", 50))
					if ok, err := wr.CloseWithLMTPResponse(); err != nil || len(ok) != 1 {
						return
					}
					mu.Lock()
					acked[id] = user
					count++
					if count == perCycle {
						once.Do(total.Done)
					}
					mu.Unlock()
				}
			}(w)
		}
		total.Wait() // perCycle acknowledged in this cycle: now crash mid-stream
		p.kill9()
		stop()
		wg.Wait()

		p = e.start()
		p.term(t)
		for _, u := range users {
			if _, err := os.Stat(filepath.Join(e.dir, "index", u, "index.db")); err != nil {
				continue // no delivery reached u yet
			}
			uv, next, keys := e.state(u)
			if validity[u] != 0 && uv != validity[u] {
				t.Fatalf("cycle %d: %s UIDVALIDITY changed %d → %d", cycle, u, validity[u], uv)
			}
			validity[u] = uv
			files := e.files(u)
			seenUID := map[uint32]string{}
			for k, uid := range keys {
				if other, dup := seenUID[uid]; dup {
					t.Fatalf("cycle %d: %s UID %d on %s and %s", cycle, u, uid, k, other)
				}
				seenUID[uid] = k
				if uid >= next {
					t.Fatalf("cycle %d: %s UID %d ≥ UIDNEXT %d", cycle, u, uid, next)
				}
				if old, ok := uidOfKey[u][k]; ok && old != uid {
					t.Fatalf("cycle %d: %s message %s moved from UID %d to %d", cycle, u, k, old, uid)
				}
			}
			for uid, k := range seenUID {
				for k2, uid2 := range uidOfKey[u] {
					if uid2 == uid && k2 != k {
						t.Fatalf("cycle %d: %s UID %d reused: was %s, now %s", cycle, u, uid, k2, k)
					}
				}
			}
			nfiles := 0
			for id, ks := range files {
				nfiles += len(ks)
				for _, k := range ks {
					if _, ok := keys[k]; !ok {
						t.Fatalf("cycle %d: %s file %s (%s) not indexed after repair", cycle, u, k, id)
					}
				}
			}
			if nfiles != len(keys) {
				t.Fatalf("cycle %d: %s has %d files, %d index records", cycle, u, nfiles, len(keys))
			}
			for id, owner := range acked {
				if owner == u && len(files[id]) != 1 {
					t.Fatalf("cycle %d: acknowledged %s is in %d files", cycle, id, len(files[id]))
				}
			}
			for k, uid := range keys {
				uidOfKey[u][k] = uid
			}
		}
	}
	t.Logf("%d messages acknowledged over %d crash cycles", len(acked), cycles)
}
