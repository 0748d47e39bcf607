package foldertest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
)

// crashEnv carries the store root to the child process of Crash.
const crashEnv = "STORAGED_FOLDERTEST_CRASH"

// crashMessage is message i of the crash test: large enough (96 KB) that
// a kill often lands in the middle of writing it.
func crashMessage(i int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Subject: crash %d\r\nFrom: From the test <a@example.org>\r\n\r\n", i)
	line := fmt.Sprintf("From line %d of a body that mbox must quote, and more text\r\n", i)
	for b.Len() < 96<<10 {
		b.WriteString(line)
	}
	return b.Bytes()
}

var crashSubject = regexp.MustCompile(`^Subject: crash (\d+)\r\n`)

// crashLog is what the parent of Crash learns from its children: the
// messages whose append returned, those whose removal began, and those
// whose removal returned.
type crashLog struct {
	acked, removing, removed map[int]bool
}

// read takes in one line of a child's output and reports whether it was
// an acknowledged append. A line the protocol does not know is a failure
// of the child itself.
func (l *crashLog) read(t *testing.T, text string) bool {
	t.Helper()
	verb, arg, _ := strings.Cut(text, " ")
	i, err := strconv.Atoi(arg)
	if err != nil {
		t.Fatalf("crash child: %s", text)
	}
	switch verb {
	case "ack":
		l.acked[i] = true
		return true
	case "rm":
		l.removing[i] = true
	case "rmd":
		l.removed[i] = true
	default:
		t.Fatalf("crash child: %s", text)
	}
	return false
}

// Crash appends to INBOX from a child process (the test binary running
// the calling test again) and kills it with SIGKILL at random moments,
// eight times over. In the last three rounds the child also removes
// messages and changes flags as it goes, so that kills land in the middle
// of those too. After each kill the folder must hold only whole messages,
// each byte for byte as appended and at most once, every acknowledged
// one among them unless its removal had begun, none whose removal had
// returned, and must take a new append. Call it from a top-level test
// function of its own.
func Crash(t *testing.T, openAt func(root string) (folder.Store, error)) {
	if root := os.Getenv(crashEnv); root != "" {
		crashChild(root, openAt, os.Getenv("STORAGED_CRASH_REWRITE") != "")
		return
	}
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	root := t.TempDir()
	log := &crashLog{acked: map[int]bool{}, removing: map[int]bool{}, removed: map[int]bool{}}
	next := 0
	for round := 0; round < 8; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+root, "STORAGED_CRASH_FIRST="+strconv.Itoa(next))
		if round >= 5 {
			cmd.Env = append(cmd.Env, "STORAGED_CRASH_REWRITE=1")
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		want := 3 + rand.IntN(10)
		sc := bufio.NewScanner(out)
		for n := 0; n < want && sc.Scan(); {
			if log.read(t, sc.Text()) {
				n++
			}
		}
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		for sc.Scan() {
			log.read(t, sc.Text())
		}
		cmd.Wait()
		next = checkCrashed(t, root, openAt, log) + 1
	}
	s, err := openAt(root)
	if err != nil {
		t.Fatal(err)
	}
	f := inbox(t, s)
	e, err := f.Append(context.Background(), folder.NewMessage{Data: crashMessage(next)})
	if err != nil {
		t.Fatalf("append after the crashes: %v", err)
	}
	if got := readAll(t, f, e); !bytes.Equal(got, crashMessage(next)) {
		t.Fatal("append after the crashes reads back differently")
	}
}

// crashChild appends until killed. With rewrite set, it also removes
// the message two before each fourth one and, every fifth, changes the
// flags of an earlier message (its entry possibly stale by then).
func crashChild(root string, openAt func(string) (folder.Store, error), rewrite bool) {
	fail := func(what string, err error) {
		fmt.Printf("%s: %v\n", what, err)
		os.Exit(2)
	}
	s, err := openAt(root)
	if err != nil {
		fail("open", err)
	}
	f, err := s.Folder(folder.Inbox)
	if err != nil {
		fail("folder", err)
	}
	mine := map[int]folder.Entry{}
	first, _ := strconv.Atoi(os.Getenv("STORAGED_CRASH_FIRST"))
	for i := first; ; i++ {
		e, err := f.Append(context.Background(), folder.NewMessage{Data: crashMessage(i), Sender: "a@example.org", Date: time.Now()})
		if err != nil {
			fail("append", err)
		}
		mine[i] = e
		fmt.Printf("ack %d\n", i)
		if !rewrite {
			continue
		}
		if old, ok := mine[i-2]; ok && i%4 == 3 {
			fmt.Printf("rm %d\n", i-2)
			if err := f.Remove([]folder.Entry{old}); err != nil {
				fail("remove", err)
			}
			delete(mine, i-2)
			fmt.Printf("rmd %d\n", i-2)
		}
		if old, ok := mine[i-1]; ok && i%5 == 0 {
			if _, err := f.SetFlags(old, folder.Flags{Sys: folder.Seen | folder.Flagged}); err != nil {
				fail("set flags", err)
			}
			if err := f.Flush(); err != nil {
				fail("flush", err)
			}
		}
	}
}

// checkCrashed checks the folder after a kill and returns the largest
// message number in it.
func checkCrashed(t *testing.T, root string, openAt func(string) (folder.Store, error), log *crashLog) int {
	t.Helper()
	s, err := openAt(root)
	if err != nil {
		t.Fatalf("open after kill: %v", err)
	}
	f := inbox(t, s)
	entries, _, err := f.Scan(context.Background())
	if err != nil {
		t.Fatalf("scan after kill: %v", err)
	}
	seen := map[int]bool{}
	max := -1
	for _, e := range entries {
		b := readAll(t, f, e)
		m := crashSubject.FindSubmatch(b)
		if m == nil {
			t.Fatalf("after kill: a message that was never appended (%d bytes): %.80q", len(b), b)
		}
		i, _ := strconv.Atoi(string(m[1]))
		if !bytes.Equal(b, crashMessage(i)) {
			t.Fatalf("after kill: message %d is torn (%d bytes of %d)", i, len(b), len(crashMessage(i)))
		}
		if seen[i] {
			t.Fatalf("after kill: message %d is there twice", i)
		}
		seen[i] = true
		if i > max {
			max = i
		}
	}
	for i := range log.acked {
		if !seen[i] && !log.removing[i] {
			t.Fatalf("after kill: acknowledged message %d is lost", i)
		}
	}
	for i := range log.removed {
		if seen[i] {
			t.Fatalf("after kill: message %d is back after its removal returned", i)
		}
	}
	return max
}
