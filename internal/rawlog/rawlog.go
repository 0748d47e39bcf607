package rawlog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/storaged/storaged/internal/safefs"
)

// maxQueued bounds what one trace holds in memory while its goroutine
// writes: a session faster than the disk stops its trace rather than
// wait for it or grow without bound.
const maxQueued = 8 << 20

// The two streams of a trace.
const (
	in  = 0 // what the session read: the .in file
	out = 1 // what it wrote: the .out file
)

// Tracer decides which sessions are traced and starts their traces. A
// nil *Tracer traces nobody.
type Tracer struct {
	dir   string
	users atomic.Pointer[map[string]bool]
}

// New returns a tracer writing beneath dir for the users listed (login
// names as the Authenticator normalised them).
func New(dir string, users []string) *Tracer {
	t := &Tracer{dir: dir}
	t.SetUsers(users)
	return t
}

// SetUsers replaces the list of traced users; sessions that log in from
// now on use it.
func (t *Tracer) SetUsers(users []string) {
	m := make(map[string]bool, len(users))
	for _, u := range users {
		m[u] = true
	}
	t.users.Store(&m)
}

// Traced reports whether a session of user would be traced.
func (t *Tracer) Traced(user string) bool {
	return t != nil && (*t.users.Load())[user]
}

// Start opens the trace of one session that has just logged in as user,
// or returns nil when user is not listed or the files cannot be made
// (logged on log, the session's logger: the session goes on untraced).
func (t *Tracer) Start(proto, session, user string, log *slog.Logger) *Trace {
	if !t.Traced(user) {
		return nil
	}
	base, files, err := t.create(proto, session, user)
	if err != nil {
		log.Warn("rawlog not started", "dir", t.dir, "err", err)
		return nil
	}
	tr := &Trace{log: log, path: base, files: files, cut: -1, done: make(chan struct{})}
	tr.wake = sync.NewCond(&tr.mu)
	go tr.run()
	log.Info("rawlog started", "path", base+".in", "out", base+".out")
	return tr
}

// create makes the user's directory and the two files, and returns the
// files' common path without its suffix.
func (t *Tracer) create(proto, session, user string) (string, [2]*os.File, error) {
	var files [2]*os.File
	// User names are auth.ValidName's already; one path component is
	// asked for again here, since it becomes a directory name.
	if user == "" || user == "." || user == ".." || strings.ContainsAny(user, "/\x00") {
		return "", files, fmt.Errorf("user name %q cannot name a directory", user)
	}
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return "", files, err
	}
	// The rawlog directory is the administrator's, trusted as it is;
	// beneath it nothing is followed (a link planted as the user's
	// directory or as a file name is an error, never a way out).
	d, err := safefs.OpenDir(t.dir)
	if err != nil {
		return "", files, err
	}
	defer d.Close()
	if err := d.Mkdir(user, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", files, err
	}
	// Dovecot's rawlog names files 20061102-143506-12345.in; the session
	// id makes the name unique, O_EXCL makes sure of it. The same
	// session logging in again within the second (after UNAUTHENTICATE)
	// gets -2, -3 ….
	stem := user + "/" + proto + "-" + time.Now().Format("20060102-150405") + "-" + session
	name := stem
	for try := 2; ; try++ {
		f, err := d.Create(name+".in", 0o600)
		if errors.Is(err, fs.ErrExist) && try < 100 {
			name = fmt.Sprintf("%s-%d", stem, try)
			continue
		}
		if err != nil {
			return "", files, err
		}
		files[in] = f
		break
	}
	f, err := d.Create(name+".out", 0o600)
	if err != nil {
		// No .in without its .out.
		files[in].Close()
		d.Remove(name + ".in")
		return "", [2]*os.File{}, err
	}
	files[out] = f
	return d.Join(name), files, nil
}

// Trace is one session's recording. A nil *Trace records nothing, and
// its methods do nothing: protocols call them unconditionally.
type Trace struct {
	log   *slog.Logger
	path  string
	files [2]*os.File

	mu   sync.Mutex
	wake *sync.Cond // signalled when there is work for run
	// pending is what waits for run, queued its size; handed counts the
	// octets of each stream given to run so far, so that cut (>= 0) can
	// name the size .in is truncated to before run writes more.
	pending         [2][]byte
	queued          int
	handed          [2]int64
	cut             int64
	stopped, closed bool
	done            chan struct{} // closed when run has closed the files
}

// In returns r with what is read through it recorded as the session's
// input.
func (t *Trace) In(r io.Reader) io.Reader {
	if t == nil {
		return r
	}
	return &tapReader{t: t, r: r}
}

// Out returns w with what is written through it recorded as the
// session's output.
func (t *Trace) Out(w io.Writer) io.Writer {
	if t == nil {
		return w
	}
	return &tapWriter{t: t, w: w}
}

type tapReader struct {
	t *Trace
	r io.Reader
}

func (r *tapReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.t.record(in, p[:n])
	return n, err
}

type tapWriter struct {
	t *Trace
	w io.Writer
}

func (w *tapWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.t.record(out, p[:n])
	return n, err
}

// Attach puts the trace under a session's buffered reader and writer:
// src is what br reads from now (bufio does not say, the protocol
// knows: the connection, TLS, the inflater), dst what bw writes to.
// What bw holds is flushed first, unrecorded: it answers the login.
// What br holds is recorded at once, since the session will consume it
// from now on, and read before anything from src. bw may be nil (a
// session that holds no write buffer between answers).
func (t *Trace) Attach(br *bufio.Reader, src io.Reader, bw *bufio.Writer, dst io.Writer) {
	if t == nil {
		return
	}
	// A failed flush leaves bw's error sticky, for the session to see
	// at its own next flush; Reset would clear it.
	if bw != nil && bw.Flush() == nil {
		bw.Reset(t.Out(dst))
	}
	n := br.Buffered()
	if n == 0 {
		br.Reset(t.In(src))
		return
	}
	held, _ := br.Peek(n)
	held = bytes.Clone(held)
	t.record(in, held)
	br.Reset(io.MultiReader(bytes.NewReader(held), t.In(src)))
}

// Detach ends the trace of a session that leaves the authenticated
// state: what bw holds is flushed (and recorded), what br holds was read
// ahead but belongs to what comes next (a new login, its password) and
// is taken out of the trace again. The taps stay under br and bw but
// record nothing any more.
func (t *Trace) Detach(br *bufio.Reader, bw *bufio.Writer) {
	if t == nil {
		return
	}
	if bw != nil {
		bw.Flush()
	}
	t.Unread(br.Buffered())
	t.Close()
}

// Unread takes the last n octets recorded as input out of the trace:
// the session had read them ahead and will read them again through
// another layer (COMPRESS's inflater), or must not have them recorded.
func (t *Trace) Unread(n int) {
	if t == nil || n <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pending[in]
	if n <= len(p) {
		t.pending[in] = p[:len(p)-n]
		t.queued -= n
		return
	}
	// Some were handed to run already: it truncates .in before it
	// writes anything else.
	rest := int64(n - len(p))
	t.pending[in] = p[:0]
	t.queued -= len(p)
	t.handed[in] = max(t.handed[in]-rest, 0)
	t.cut = t.handed[in]
	t.wake.Signal()
}

// record queues p for stream i; it copies p and never waits for the
// disk.
func (t *Trace) record(i int, p []byte) {
	if len(p) == 0 {
		return
	}
	t.mu.Lock()
	if t.stopped || t.closed {
		t.mu.Unlock()
		return
	}
	if t.queued+len(p) > maxQueued {
		t.stopped = true
		t.wake.Signal()
		t.mu.Unlock()
		t.log.Warn("rawlog stopped", "path", t.path, "reason",
			fmt.Sprintf("more than %d MiB waiting for the disk", maxQueued>>20))
		return
	}
	t.pending[i] = append(t.pending[i], p...)
	t.queued += len(p)
	t.wake.Signal()
	t.mu.Unlock()
}

// run writes what is queued until the trace is closed or stopped, then
// closes the files.
func (t *Trace) run() {
	defer close(t.done)
	var spare [2][]byte
	for {
		t.mu.Lock()
		for t.queued == 0 && t.cut < 0 && !t.closed && !t.stopped {
			t.wake.Wait()
		}
		batch, cut := t.pending, t.cut
		t.pending, t.cut, t.queued = spare, -1, 0
		t.handed[in] += int64(len(batch[in]))
		t.handed[out] += int64(len(batch[out]))
		end := t.closed || t.stopped
		t.mu.Unlock()
		var err error
		if cut >= 0 {
			if err = t.files[in].Truncate(cut); err == nil {
				_, err = t.files[in].Seek(cut, io.SeekStart)
			}
		}
		for i := range batch {
			if err == nil && len(batch[i]) > 0 {
				_, err = t.files[i].Write(batch[i])
			}
		}
		if err != nil {
			t.fail(err)
			end = true
		}
		spare = [2][]byte{batch[in][:0], batch[out][:0]}
		if end {
			break
		}
	}
	for _, f := range t.files {
		if err := f.Close(); err != nil {
			t.fail(err)
		}
	}
}

// fail stops the trace after a write error, logged once.
func (t *Trace) fail(err error) {
	t.mu.Lock()
	already := t.stopped
	t.stopped = true
	t.mu.Unlock()
	if !already {
		t.log.Warn("rawlog stopped", "path", t.path, "err", err)
	}
}

// Close writes out what is queued, closes the files and waits for both;
// later calls return at once. It is the session's last word on its
// trace: a test, or an administrator, reading the files after the
// session ended reads all of it.
func (t *Trace) Close() {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.closed = true
	t.wake.Signal()
	t.mu.Unlock()
	<-t.done
}
