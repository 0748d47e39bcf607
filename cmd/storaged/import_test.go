package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// writeMbox writes n small distinct messages as one mbox file.
func writeMbox(t testing.TB, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "From sender@example.net Mon Jan  1 00:00:00 2024\nFrom: s%d@example.net\nTo: ann@example.org\nSubject: generated %d\nMessage-ID: <%d@gen.test>\n\nbody of message %d\n\n", i%97, i, i, i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// openPty opens a pseudo-terminal pair, 120 columns wide: the client's
// standard error is the terminal a person would watch.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("ptsname: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("open pts: %v", err)
	}
	unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 120})
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// ptyReader collects what the client draws and tells when a bar shows at
// least min messages processed.
type ptyReader struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want int
	hit  chan struct{}
	done chan struct{}
}

var barCount = regexp.MustCompile(`\rimport \[[=> ]+\] +\d+% ETA \S+ (\d+)(?:/\d+)? msgs`)

func readPty(m *os.File, want int) *ptyReader {
	r := &ptyReader{want: want, hit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		b := make([]byte, 32<<10)
		hit := false
		for {
			n, err := m.Read(b)
			r.mu.Lock()
			r.buf.Write(b[:n])
			if !hit {
				for _, mm := range barCount.FindAllStringSubmatch(r.buf.String(), -1) {
					if k, _ := strconv.Atoi(mm[1]); k >= r.want {
						hit = true
						close(r.hit)
						break
					}
				}
			}
			r.mu.Unlock()
			if err != nil { // EIO once the client, the last holder of the slave, exits
				if !hit {
					close(r.hit)
				}
				return
			}
		}
	}()
	return r
}

func (r *ptyReader) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// Through the running server, the client draws the server's progress as
// a bar on a terminal and as plain lines elsewhere.
func TestImportProgress(t *testing.T) {
	e := newEnv(t, "ann", "bob")
	src := filepath.Join(t.TempDir(), "in.mbox")
	writeMbox(t, src, 1500)
	p := e.start()
	defer p.term(t)

	cmd := exec.Command(binary(t), "-config", e.cfg, "import", "ann", src)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("import: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if strings.ContainsAny(stderr.String(), "\r\x1b") || len(lines) < 2 ||
		!strings.HasPrefix(lines[0], "import: 0 msgs") || !strings.Contains(lines[len(lines)-1], "import: 1500 msgs") || !strings.Contains(lines[len(lines)-1], "100%, done in") {
		t.Errorf("plain progress on a pipe:\n%q", stderr.String())
	}
	if k := importedCount(t, stdout.String()); k != 1500 {
		t.Errorf("summary says %d added:\n%s", k, stdout.String())
	}

	m, s := openPty(t)
	cmd = exec.Command(binary(t), "-config", e.cfg, "import", "bob", src)
	stdout.Reset()
	cmd.Stdout, cmd.Stderr = &stdout, s
	r := readPty(m, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("import on a terminal: %v\n%s", err, r.String())
	}
	<-r.done
	out := r.String()
	if !barCount.MatchString(out) || !strings.Contains(out, "] 100% done in 0:") || !strings.Contains(out, " 1500 msgs, ") || !strings.HasSuffix(out, "\x1b[K\r\n") {
		t.Errorf("bar on a terminal:\n%q", out)
	}
	if strings.Contains(stdout.String(), "\r") {
		t.Errorf("the bar went to standard output: %q", stdout.String())
	}
}

// SIGINT to the client mid-import stops the import in the server, which
// reports what it did; the same command again adds the rest, nothing
// twice: the INBOX then holds every message once under UIDs 1..n, as one
// clean run leaves it.
func TestImportInterruptResume(t *testing.T) {
	const n = 4000
	e := newEnv(t, "ann")
	src := filepath.Join(t.TempDir(), "in.mbox")
	writeMbox(t, src, n)
	p := e.start()
	// Stopped below; a failure before that must not leave it running.
	t.Cleanup(func() { p.cmd.Process.Kill() })

	m, s := openPty(t)
	cmd := exec.Command(binary(t), "-config", e.cfg, "import", "ann", src)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, s
	r := readPty(m, 500)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	<-r.hit
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	<-r.done
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != exTempFail || !strings.Contains(r.String(), "interrupted; run the same command again") {
		t.Fatalf("interrupted import: %v\n%s\n%q", err, stdout.String(), r.String())
	}
	first := importedCount(t, stdout.String())
	if first == 0 || first >= n {
		t.Fatalf("the first run added %d of %d:\n%s", first, n, stdout.String())
	}

	out, code := e.run("", "import", "ann", src)
	if code != 0 {
		t.Fatalf("second run: %d\n%s", code, out)
	}
	if importedCount(t, out) != n-first {
		t.Errorf("the second run did not add exactly the rest (%d):\n%s", n-first, out)
	}
	p.term(t)
	_, uidnext, keys := e.state("ann")
	if len(keys) != n || uidnext != n+1 {
		t.Fatalf("after interrupt and resume: %d messages, UIDNEXT %d; want %d, %d", len(keys), uidnext, n, n+1)
	}
	ids := e.files("ann")
	for i := 0; i < n; i++ {
		if k := ids[fmt.Sprintf("%d@gen.test", i)]; len(k) != 1 {
			t.Fatalf("message %d stored %d times", i, len(k))
		}
	}
}

var (
	addedTotal = regexp.MustCompile(`(?m)^mbox +\(\d+ folders\) +(\d+) `)
	importRate = regexp.MustCompile(`(?m)^mbox +\(\d+ folders\) .* (\d+) msg/s$`)
)

func importedCount(t *testing.T, summary string) int {
	t.Helper()
	mm := addedTotal.FindStringSubmatch(summary)
	if mm == nil {
		t.Fatalf("no totals in:\n%s", summary)
	}
	k, _ := strconv.Atoi(mm[1])
	return k
}

// genMailbox writes n realistic messages (1 KiB to 64 KiB, mean about
// 11 KiB, attachments, threads) as an mbox with the project's
// deterministic generator, testdata/gen-mailbox.py; it skips the test
// when python3 is missing.
func genMailbox(t *testing.T, path string, n int) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skipf("python3 is missing, needed by testdata/gen-mailbox.py: %v", err)
	}
	cmd := exec.Command(py, filepath.Join("..", "..", "testdata", "gen-mailbox.py"),
		"--count", strconv.Itoa(n), "--seed", "1", "--format", "mbox", "--out", path, "--quiet")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gen-mailbox.py: %v\n%s", err, out)
	}
}

// 50,000 generated messages through the running server: the server's
// peak RSS stays bounded (streaming, batches), read from its /proc status.
func TestImport50kRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("50,000 messages: not with -short")
	}
	const n = 50000
	e := newEnv(t, "ann")
	src := filepath.Join(t.TempDir(), "big.mbox")
	genMailbox(t, src, n)
	p := e.start()
	defer p.term(t)
	before := vmHWM(t, p.cmd.Process.Pid)
	out, code := e.run("", "import", "ann", src)
	if code != 0 || importedCount(t, out) != n {
		t.Fatalf("import: %d\n%s", code, out)
	}
	peak := vmHWM(t, p.cmd.Process.Pid)
	rate := "?"
	if mm := importRate.FindStringSubmatch(out); mm != nil {
		rate = mm[1]
	}
	t.Logf("server peak RSS: %d MiB before, %d MiB after importing %d messages at %s msg/s", before>>10, peak>>10, n, rate)
	if peak > 150<<10 {
		t.Errorf("peak RSS %d MiB importing %d messages, want under 150 MiB", peak>>10, n)
	}
}

// vmHWM is a process's peak resident set, in KiB.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			k, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("VmHWM %q", v)
			}
			return k
		}
	}
	t.Skip("no VmHWM in /proc status")
	return 0
}
