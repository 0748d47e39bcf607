package lmtp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/auth"
	"github.com/storaged/storaged/delivery"
	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/internal/testnet"
	"github.com/storaged/storaged/maildir"
	"github.com/storaged/storaged/mbox"
	"github.com/storaged/storaged/message"
	"github.com/storaged/storaged/mh"
	"github.com/storaged/storaged/sievestore"
	"github.com/storaged/storaged/store"
)

// A message above the spool threshold is read into a file and every
// recipient's store streams it from there; these tests hold that path
// to the in-memory one.

// bigMessage is a message of more than 1 MiB (canonical) with what the
// formats treat with care: bare LFs (canonical form), From_ lines in the
// body (mbox quoting), a state field in the header (mbox escaping), a
// multipart body (the cached BODYSTRUCTURE), and a word near its end
// for Sieve's body test to miss, and one near its start to find.
func bigMessage() string {
	var b strings.Builder
	b.WriteString("From: Ann <ann@example.org>\nTo: bob@example.org\nSubject: big one\n")
	b.WriteString("Status: RO\nMIME-Version: 1.0\n")
	b.WriteString("Content-Type: multipart/mixed; boundary=\"XX\"\n\n")
	b.WriteString("--XX\r\nContent-Type: text/plain\r\n\r\nopening needle-early here\r\nFrom the start\r\n")
	for i := 0; b.Len() < 1<<20+(300<<10); i++ {
		fmt.Fprintf(&b, "line %d of filler text, with a bare LF at the end\n", i)
		if i%1000 == 0 {
			b.WriteString("From somebody in the body\r\n..a dot line\r\n")
		}
	}
	b.WriteString("--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for b.Len() < 2600<<10 {
		b.WriteString("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5\r\n")
	}
	b.WriteString("--XX--\r\nneedle-late\r\n")
	return b.String()
}

// dotStuff is the DATA form of a message, ending in CRLF.CRLF.
func dotStuff(msg string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(msg, "\n") {
		if strings.HasPrefix(l, ".") {
			b.WriteByte('.')
		}
		b.WriteString(l)
	}
	if !strings.HasSuffix(msg, "\r\n") {
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	return b.String()
}

type spoolEnv struct {
	*testEnv
	dir      string // the data directory
	spoolDir string
}

// newSpoolEnv serves users u1, u2, u3 of example.org in the given format,
// spooling messages above threshold octets; script, when set, is every
// user's active Sieve script.
func newSpoolEnv(t *testing.T, format string, threshold int64, script string) *spoolEnv {
	t.Helper()
	dir := t.TempDir()
	users, err := auth.Open(filepath.Join(dir, "users"), nil)
	if err != nil {
		t.Fatal(err)
	}
	users.SetHashParams(auth.HashParams{Memory: 64, Time: 1, Threads: 1})
	names := []string{"u1", "u2", "u3"}
	for _, u := range names {
		if err := users.Add(u, "pw", nil); err != nil {
			t.Fatal(err)
		}
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	accounts := store.NewAccounts(store.Options{
		MailDir: filepath.Join(dir, "mail"), IndexDir: filepath.Join(dir, "index"), Logger: quiet,
		Formats:    []folder.Format{maildir.Format, mbox.Format, mh.Format},
		UserFormat: func(string) (string, error) { return format, nil },
	})
	t.Cleanup(func() { accounts.Close() })
	d := &delivery.Deliverer{Users: users, Accounts: accounts, Hostname: "mx.example.org",
		Domains: []string{"example.org"}, DetailDelimiter: "+", Log: quiet}
	if script != "" {
		scripts := sievestore.New(sievestore.Options{Dir: filepath.Join(dir, "sieve"), Log: quiet})
		for _, u := range names {
			if err := scripts.Put(u, "main", []byte(script)); err != nil {
				t.Fatal(err)
			}
			if err := scripts.SetActive(u, "main"); err != nil {
				t.Fatal(err)
			}
		}
		d.Sieve = &delivery.Sieve{Scripts: scripts}
	}
	logs := &records{}
	spoolDir := filepath.Join(dir, "tmp")
	srv := New(Config{Hostname: "mx.example.org", MaxMessageSize: 8 << 20, SpoolDir: spoolDir, SpoolThreshold: threshold}, d, slog.New(logs))
	l := testnet.NewPipeListener()
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return &spoolEnv{testEnv: &testEnv{l: l, accounts: accounts, logs: logs}, dir: dir, spoolDir: spoolDir}
}

// send runs one transaction to rcpts and returns the replies after DATA.
func (e *spoolEnv) send(t *testing.T, data string, rcpts ...string) []string {
	t.Helper()
	c := e.dial(t)
	e.lhlo(t, c)
	c.do("MAIL FROM:<ann@example.org>", "250 2.1.0 sender <ann@example.org> OK")
	for _, r := range rcpts {
		c.do("RCPT TO:<"+r+">", "250 2.1.5 recipient <"+r+"> OK")
	}
	c.do("DATA", "354 go ahead; end with <CRLF>.<CRLF>")
	if _, err := io.WriteString(c.conn, data); err != nil {
		t.Fatal(err)
	}
	var out []string
	for range rcpts {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.TrimRight(line, "\r\n"))
	}
	c.do("QUIT", "221 2.0.0 mx.example.org closing connection")
	return out
}

// lhlo greets, whatever the server offers (SIZE is this test's).
func (e *spoolEnv) lhlo(t *testing.T, c *client) {
	t.Helper()
	io.WriteString(c.conn, "LHLO client.example.net\r\n")
	for {
		line, err := c.r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "250") {
			t.Fatalf("LHLO: %q %v", line, err)
		}
		if strings.HasPrefix(line, "250 ") {
			return
		}
	}
}

// What differs between two deliveries of one message: the transaction
// id and time in Received, mbox's From_ line and key, Maildir's names.
var (
	receivedID   = regexp.MustCompile(`(\tby mx\.example\.org \(storaged\) with LMTP id )\S+`)
	receivedDate = regexp.MustCompile(`(\tfor <[^>]*>; )[^\r\n]*`)
	mboxFrom     = regexp.MustCompile(`(?m)^From ann@example\.org [^\r\n]*`)
	mboxKey      = regexp.MustCompile(`X-Storaged-Key: [0-9a-f]+`)
	maildirName  = regexp.MustCompile(`^(new|cur)/[^,]*`)
)

// storedFiles is every file under the users' mail directories that holds
// a message (by its Subject), its name and bytes with what differs
// between runs replaced.
func (e *spoolEnv) storedFiles(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	root := filepath.Join(e.dir, "mail")
	err := filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil || !de.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !bytes.Contains(b, []byte("Subject: big one")) {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		user, name, _ := strings.Cut(rel, "/")
		name = maildirName.ReplaceAllString(name, "$1/*")
		s := receivedID.ReplaceAllString(string(b), "${1}ID")
		s = receivedDate.ReplaceAllString(s, "${1}DATE")
		s = mboxFrom.ReplaceAllString(s, "From ann@example.org DATE")
		s = mboxKey.ReplaceAllString(s, "X-Storaged-Key: KEY")
		out[user+"/"+name] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// indexed is what the users' INBOX indexes hold of their messages:
// sizes and the cached ENVELOPE and BODYSTRUCTURE.
func (e *spoolEnv) indexed(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, u := range []string{"u1", "u2", "u3"} {
		acct, err := e.accounts.Open(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := acct.Mailbox("INBOX")
		if err != nil {
			t.Fatal(err)
		}
		_, msgs, err := mb.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		var uids []uint32
		for _, m := range msgs {
			uids = append(uids, m.UID)
		}
		metas, err := mb.ReadBatch(uids, store.FieldEnvelope|store.FieldBodyStructure)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range metas {
			out = append(out, fmt.Sprintf("%s uid %d size %d crlf %d envelope %+v body %s",
				u, m.UID, m.Size, m.CRLFSize, *m.Envelope, partString(m.Body)))
		}
	}
	return out
}

func partString(p *message.Part) string {
	if p == nil {
		return "nil"
	}
	b, err := p.MarshalBinary()
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%x", b)
}

// spoolLeft lists what is left of spool files: names in the spool
// directory, and descriptors of this process open on one.
func (e *spoolEnv) spoolLeft(t *testing.T) []string {
	t.Helper()
	var left []string
	ents, err := os.ReadDir(e.spoolDir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, de := range ents {
		left = append(left, de.Name())
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		if target, err := os.Readlink("/proc/self/fd/" + fd.Name()); err == nil && strings.HasPrefix(target, e.spoolDir+"/") {
			left = append(left, "fd "+fd.Name()+" → "+target)
		}
	}
	return left
}

// TestSpooledSameAsInMemory: a message over the threshold, to three
// recipients, is stored on each format exactly as the in-memory path
// stores it, and indexed alike; no spool file outlives the transaction.
func TestSpooledSameAsInMemory(t *testing.T) {
	data := dotStuff(bigMessage())
	rcpts := []string{"u1@example.org", "u2@example.org", "u3@example.org"}
	for _, format := range []string{"maildir", "mbox", "mh"} {
		t.Run(format, func(t *testing.T) {
			var files []map[string]string
			var idx [][]string
			for _, threshold := range []int64{1 << 30, 1} {
				e := newSpoolEnv(t, format, threshold, "")
				for i, r := range e.send(t, data, rcpts...) {
					if !strings.HasPrefix(r, "250 2.0.0 <"+rcpts[i]+">") {
						t.Fatalf("threshold %d: reply %q", threshold, r)
					}
				}
				if left := e.spoolLeft(t); len(left) > 0 {
					t.Fatalf("threshold %d: spool left after the transaction: %v", threshold, left)
				}
				f := e.storedFiles(t)
				if len(f) != 3 {
					t.Fatalf("threshold %d: %d stored files, want 3: %v", threshold, len(f), keys(f))
				}
				files = append(files, f)
				idx = append(idx, e.indexed(t))
			}
			if !reflect.DeepEqual(keys(files[0]), keys(files[1])) {
				t.Fatalf("stored files in memory %v, spooled %v", keys(files[0]), keys(files[1]))
			}
			for name, mem := range files[0] {
				if sp := files[1][name]; sp != mem {
					t.Errorf("%s: spooled copy (%d octets) differs from the in-memory one (%d) at octet %d",
						name, len(sp), len(mem), firstDiff(sp, mem))
				}
			}
			if !reflect.DeepEqual(idx[0], idx[1]) {
				t.Errorf("index in memory:\n%v\nspooled:\n%v", idx[0], idx[1])
			}
		})
	}
}

// TestSpoolGoneAfterFailure: a refused message (too big, after its
// spool file was made) and a broken connection leave no spool behind,
// and the next transaction works.
func TestSpoolGoneAfterFailure(t *testing.T) {
	e := newSpoolEnv(t, "maildir", 1024, "")
	big := dotStuff(bigMessage() + strings.Repeat("filler line to pass the size limit\r\n", 200000))
	replies := e.send(t, big, "u1@example.org")
	if len(replies) != 1 || replies[0] != "552 5.3.4 <u1@example.org> message too big" {
		t.Fatalf("replies %q", replies)
	}
	if left := e.spoolLeft(t); len(left) > 0 {
		t.Fatalf("spool left after a refused message: %v", left)
	}
	c := e.dial(t)
	e.lhlo(t, c)
	c.do("MAIL FROM:<ann@example.org>", "250 2.1.0 sender <ann@example.org> OK")
	c.do("RCPT TO:<u1@example.org>", "250 2.1.5 recipient <u1@example.org> OK")
	c.do("DATA", "354 go ahead; end with <CRLF>.<CRLF>")
	io.WriteString(c.conn, strings.Repeat("half a message\r\n", 10000))
	c.conn.Close()
	// The session ends when it reads the closed pipe; then the spool
	// goes. A transaction on a new connection waits for nothing.
	deadline := time.Now().Add(10 * time.Second)
	for len(e.spoolLeft(t)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if left := e.spoolLeft(t); len(left) > 0 {
		t.Fatalf("spool left after a broken connection: %v", left)
	}
	if r := e.send(t, dotStuff("Subject: small\r\n\r\nx\r\n"), "u1@example.org"); !strings.HasPrefix(r[0], "250 ") {
		t.Fatalf("after the failures: %q", r)
	}
}

// TestSpooledSieveBody: Sieve's body test sees the start of a spooled
// message's body (and not what lies beyond its budget), the size test
// its whole size, and a fileinto with an edited header stores the new
// header over the spooled body.
func TestSpooledSieveBody(t *testing.T) {
	script := `require ["body", "fileinto", "editheader", "mailbox"];
if body :raw :contains "needle-late" { fileinto :create "Late"; stop; }
if allof(body :text :contains "needle-early", size :over 2M) {
	addheader "X-Sieve" "found";
	fileinto :create "Early";
}`
	for _, threshold := range []int64{1 << 30, 1} {
		e := newSpoolEnv(t, "maildir", threshold, script)
		if r := e.send(t, dotStuff(bigMessage()), "u1@example.org"); !strings.HasPrefix(r[0], "250 ") {
			t.Fatalf("threshold %d: %q", threshold, r)
		}
		acct, err := e.accounts.Open(context.Background(), "u1")
		if err != nil {
			t.Fatal(err)
		}
		mb, err := acct.Mailbox("Early")
		if err != nil {
			t.Fatalf("threshold %d: no Early mailbox: %v", threshold, err)
		}
		_, msgs, err := mb.Snapshot()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("threshold %d: Early holds %d messages (%v)", threshold, len(msgs), err)
		}
		r, err := mb.Open(msgs[0])
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(got, []byte("X-Sieve: found\r\n")) || !bytes.HasSuffix(got, []byte("needle-late\r\n")) ||
			int64(len(got)) != msgs[0].CRLFSize {
			t.Fatalf("threshold %d: stored %d octets (index %d) starting %q", threshold, len(got), msgs[0].CRLFSize, got[:min(len(got), 200)])
		}
		if _, err := acct.Mailbox("Late"); err == nil {
			t.Fatalf("threshold %d: the body test read past its budget", threshold)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func firstDiff(a, b string) int {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
