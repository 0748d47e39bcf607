package mbox

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/message"
)

// The tests here drive mail tools that read and write mbox files beside
// us. Each skips, saying which package to install, when its tool is
// missing (make test-deps installs them).

func needTool(t *testing.T, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("%s not installed (Debian package %s): interop test skipped", tool, pkg)
	}
	return p
}

// interopMessages are messages other tools must not bend: From lines in
// the body, a state field of the message's own, no final line break.
var interopMessages = [][]byte{
	[]byte("From: a@example.org\r\nSubject: one\r\n\r\nplain\r\n"),
	[]byte("From: a@example.org\r\nSubject: two\r\n\r\nFrom here\r\n>From there\r\n\r\nFrom x@example.org Thu Jan  1 00:00:00 2015\r\n"),
	[]byte("From: a@example.org\r\nSubject: three\r\nLines: 7\r\nStatus: RO\r\n\r\nbody\r\n"),
	[]byte("From: a@example.org\r\nSubject: four\r\n\r\nno final line break"),
}

func appendAll(t *testing.T, f *Folder, msgs [][]byte, flags []folder.Flags) []folder.Entry {
	t.Helper()
	var es []folder.Entry
	for i, m := range msgs {
		nm := folder.NewMessage{Data: m, Sender: "a@example.org", Date: time.Date(2024, 3, 1, 12, 0, i, 0, time.UTC)}
		if flags != nil {
			nm.Flags = flags[i]
		}
		e, err := f.Append(context.Background(), nm)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	return es
}

func readEntry(t *testing.T, f *Folder, e folder.Entry) []byte {
	t.Helper()
	r, err := f.Open(e)
	if err != nil {
		t.Fatalf("Open(%s): %v", e.Key, err)
	}
	defer r.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// procmail delivers into a mailbox we hold locked only once we let go,
// and what it writes reads back; our messages keep their keys.
func TestInteropProcmail(t *testing.T) {
	procmail := needTool(t, "procmail", "procmail")
	root := t.TempDir()
	s, _ := Open(root)
	f := inboxOf(t, s)
	es := appendAll(t, f, interopMessages[:2], nil)
	path := filepath.Join(root, "INBOX")
	rc := filepath.Join(root, "rc")
	// LOCKSLEEP: procmail retries a held dotlock every 8 s by default.
	os.WriteFile(rc, []byte("LOCKSLEEP=1\n:0:\n"+path+"\n"), 0o600)

	l, err := f.lockWrite()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(procmail, "-m", "-f", "p@example.org", rc)
	cmd.Env = append(os.Environ(), "HOME="+root)
	cmd.Stdin = strings.NewReader("Subject: via procmail\n\nFrom the body\n")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		l.release()
		t.Fatalf("procmail finished (%v) while we held the lock", err)
	case <-time.After(1500 * time.Millisecond):
	}
	l.release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("procmail: %v", err)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatal("procmail did not deliver after the lock went")
	}

	ents, _, err := f.Scan(context.Background())
	if err != nil || len(ents) != 3 {
		t.Fatalf("after procmail: %d entries, %v", len(ents), err)
	}
	for i := range es {
		if ents[i].Key != es[i].Key || !bytes.Equal(readEntry(t, f, ents[i]), interopMessages[i]) {
			t.Fatalf("message %d changed under procmail's delivery", i)
		}
	}
	// procmail writes mboxo: its ">From" reads back as the author's From.
	if got := string(readEntry(t, f, ents[2])); got != "Subject: via procmail\r\n\r\nFrom the body\r\n" {
		t.Fatalf("procmail's message reads %q", got)
	}
}

// formail, splitting our file, finds the messages we wrote.
func TestInteropFormail(t *testing.T) {
	formail := needTool(t, "formail", "procmail")
	root := t.TempDir()
	s, _ := Open(root)
	f := inboxOf(t, s)
	appendAll(t, f, interopMessages, nil)
	out := filepath.Join(root, "split")
	os.Mkdir(out, 0o700)
	in, _ := os.Open(filepath.Join(root, "INBOX"))
	defer in.Close()
	cmd := exec.Command(formail, "-s", "sh", "-c", `cat > "$0/$FILENO"`, out)
	cmd.Stdin = in
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("formail: %v\n%s", err, b)
	}
	parts, _ := filepath.Glob(filepath.Join(out, "*"))
	if len(parts) != len(interopMessages) {
		t.Fatalf("formail split our file into %d messages, want %d", len(parts), len(interopMessages))
	}
	for i, p := range parts {
		b, _ := os.ReadFile(p)
		recs := Split(b)
		if len(recs) != 1 {
			t.Fatalf("formail's message %d splits into %d", i, len(recs))
		}
		if got := message.Canonical(Content(b, recs[0])); !bytes.Equal(got, interopMessages[i]) {
			t.Errorf("formail's message %d:\n%q\nwant\n%q", i, got, interopMessages[i])
		}
	}
}

// neomuttRun runs neomutt on a mailbox with the given commands pushed, in
// a pseudo-terminal (script(1)), and waits for it to quit.
func neomuttRun(t *testing.T, home, mbox, keys string) {
	t.Helper()
	neomutt := needTool(t, "neomutt", "neomutt")
	script := needTool(t, "script", "util-linux")
	rc := filepath.Join(home, "neomuttrc")
	os.WriteFile(rc, []byte(strings.Join([]string{
		// folder: without it neomutt first asks to create ~/Mail, and
		// that question eats the keys pushed.
		"set folder=" + home, "set editor=false",
		"set mbox_type=mbox", "set delete=yes", "set quit=yes", "set move=no", "set mark_old=no",
		"set wait_key=no", "set confirmappend=no", "set confirmcreate=no", "set header_cache=''",
		`push "` + keys + `"`, ""}, "\n")), 0o600)
	cmd := exec.Command(script, "-qec", neomutt+" -n -F "+rc+" -f "+mbox, "/dev/null")
	cmd.Env = append(os.Environ(), "HOME="+home, "TERM=xterm")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("neomutt: %v", err)
		}
	case <-ctx.Done():
		cmd.Process.Kill()
		t.Fatal("neomutt did not quit")
	}
}

// neomutt deletes a message and flags another, rewriting the file from
// the first change on (adding Content-Length and Lines everywhere): our
// messages keep their keys and read back byte for byte; we append after
// its rewrite and rewrite ourselves; neomutt then copies every message
// out, and each still is the message we were given.
func TestInteropNeomutt(t *testing.T) {
	needTool(t, "neomutt", "neomutt")
	root := t.TempDir()
	s, _ := Open(root)
	f := inboxOf(t, s)
	path := filepath.Join(root, "INBOX")
	es := appendAll(t, f, interopMessages, []folder.Flags{{}, {}, {}, {Sys: folder.Seen}})

	neomuttRun(t, root, path, "<delete-pattern>~s one<enter><limit>~s two<enter><flag-message><sync-mailbox><quit>")
	b, _ := os.ReadFile(path)
	if !bytes.Contains(b, []byte("\nLines: ")) {
		t.Fatalf("neomutt did not rewrite the file as expected:\n%s", b)
	}
	ents, _, err := f.Scan(context.Background())
	if err != nil || len(ents) != 3 {
		t.Fatalf("after neomutt: %d entries, %v\n%s", len(ents), err, b)
	}
	for i, e := range ents {
		if e.Key != es[i+1].Key {
			t.Fatalf("entry %d: key %q, was %q", i, e.Key, es[i+1].Key)
		}
		// The old entries are stale (offsets moved): found by key.
		if got := readEntry(t, f, es[i+1]); !bytes.Equal(got, interopMessages[i+1]) {
			t.Fatalf("message %d after neomutt:\n%q\nwant\n%q", i+1, got, interopMessages[i+1])
		}
	}
	if !ents[0].Flags.Sys.Has(folder.Flagged) || !ents[2].Flags.Sys.Has(folder.Seen) {
		t.Fatalf("flags after neomutt: %+v", ents)
	}

	// Our turn: an append after neomutt's tail, a removal, a flag.
	extra := []byte("Subject: five\r\n\r\nafter neomutt\r\n")
	e5 := appendAll(t, f, [][]byte{extra}, nil)[0]
	if err := f.Remove([]folder.Entry{ents[1]}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.SetFlags(ents[2], folder.Flags{Sys: folder.Seen | folder.Answered}); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	want := [][]byte{interopMessages[1], interopMessages[3], extra}
	for i, e := range []folder.Entry{es[1], es[3], e5} {
		if got := readEntry(t, f, e); !bytes.Equal(got, want[i]) {
			t.Fatalf("after our rewrite, message %d reads %q", i, got)
		}
	}

	// neomutt reads our file: it copies all messages to another one.
	copyTo := filepath.Join(root, "copy")
	neomuttRun(t, root, path, "<tag-pattern>~A<enter><tag-prefix><copy-message>"+copyTo+"<enter><quit>")
	cb, err := os.ReadFile(copyTo)
	if err != nil {
		t.Fatalf("neomutt copied nothing: %v", err)
	}
	recs := Split(cb)
	if len(recs) != len(want) {
		t.Fatalf("neomutt copied %d messages, want %d:\n%s", len(recs), len(want), cb)
	}
	// neomutt copies in its own order (by date).
	for _, r := range recs {
		got := message.Canonical(Content(cb, r))
		i := slices.IndexFunc(want, func(w []byte) bool { return bytes.Equal(w, got) })
		if i < 0 {
			t.Fatalf("neomutt's copy holds a message we never had:\n%q", got)
		}
		if fl := Flags(cb, r); bytes.Equal(got, interopMessages[3]) && !fl.Sys.Has(folder.Answered) {
			t.Errorf("neomutt did not see our Answered flag: %+v", fl)
		}
		want = slices.Delete(want, i, i+1)
	}
}

// A dotlock made by lockfile(1), procmail's tool, holds our append off.
func TestInteropLockfile(t *testing.T) {
	lockfile := needTool(t, "lockfile", "procmail")
	root := t.TempDir()
	s, _ := Open(root)
	s.LockWait = 300 * time.Millisecond
	f := inboxOf(t, s)
	lock := filepath.Join(root, "INBOX.lock")
	if b, err := exec.Command(lockfile, "-r", "0", lock).CombinedOutput(); err != nil {
		t.Fatalf("lockfile: %v\n%s", err, b)
	}
	_, err := f.Append(context.Background(), folder.NewMessage{Data: []byte("Subject: x\r\n\r\n")})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("append under lockfile's lock: %v", err)
	}
	os.Remove(lock)
	add(t, f, "Subject: y\r\n\r\n")
}
