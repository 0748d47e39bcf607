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

// Crash appends to INBOX from a child process (the test binary running
// the calling test again) and kills it with SIGKILL at random moments,
// five times over. After each kill the folder must hold only whole
// messages, each byte for byte as appended and at most once, every
// acknowledged one among them, and must take a new append. Call it from
// a top-level test function of its own.
func Crash(t *testing.T, openAt func(root string) (folder.Store, error)) {
	if root := os.Getenv(crashEnv); root != "" {
		crashChild(root, openAt)
		return
	}
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	root := t.TempDir()
	acked := map[int]bool{}
	next := 0
	for round := 0; round < 5; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+root, "STORAGED_CRASH_FIRST="+strconv.Itoa(next))
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
			if i, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
				v, _ := strconv.Atoi(i)
				acked[v] = true
				n++
			}
		}
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		for sc.Scan() {
			if i, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
				v, _ := strconv.Atoi(i)
				acked[v] = true
			}
		}
		cmd.Wait()
		next = checkCrashed(t, root, openAt, acked) + 1
	}
	s, err := openAt(root)
	if err != nil {
		t.Fatal(err)
	}
	f := inbox(t, s)
	e, err := f.Append(context.Background(), folder.NewMessage{Canonical: crashMessage(next)})
	if err != nil {
		t.Fatalf("append after the crashes: %v", err)
	}
	if got := readAll(t, f, e); !bytes.Equal(got, crashMessage(next)) {
		t.Fatal("append after the crashes reads back differently")
	}
}

func crashChild(root string, openAt func(string) (folder.Store, error)) {
	s, err := openAt(root)
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	f, err := s.Folder(folder.Inbox)
	if err != nil {
		fmt.Println("folder:", err)
		os.Exit(2)
	}
	i, _ := strconv.Atoi(os.Getenv("STORAGED_CRASH_FIRST"))
	for ; ; i++ {
		if _, err := f.Append(context.Background(), folder.NewMessage{Canonical: crashMessage(i), Sender: "a@example.org", Date: time.Now()}); err != nil {
			fmt.Println("append:", err)
			os.Exit(2)
		}
		fmt.Printf("ack %d\n", i)
	}
}

// checkCrashed checks the folder after a kill and returns the largest
// message number in it.
func checkCrashed(t *testing.T, root string, openAt func(string) (folder.Store, error), acked map[int]bool) int {
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
	for i := range acked {
		if !seen[i] {
			t.Fatalf("after kill: acknowledged message %d is lost", i)
		}
	}
	return max
}
