package imap

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
)

// benchSortMailbox is a mailbox of n messages shaped as bench/peer.sh's
// (cmd/storaged-bench): subjects that differ in a number, dates a
// minute apart, threads of four by In-Reply-To. STORAGED_SORT_BENCH_N
// sets n (default 10,000; the peer bench's figure is for 100,000).
func benchSortMailbox(b *testing.B) (net.Conn, *bufio.Reader, int) {
	b.Helper()
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("STORAGED_SORT_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	e, root := newFetchEnv(b)
	fetchTestAppend(b, e, "Subject: first\r\n\r\nx\r\n", folder.Flags{}, fetchDate)
	epoch := time.Date(2006, 1, 2, 15, 4, 5, 0, time.UTC)
	for i := 1; i < n; i++ {
		reply := ""
		if i%4 != 0 {
			reply = fmt.Sprintf("In-Reply-To: <%d.fill@bench.example>\n", i-1)
		}
		msg := fmt.Sprintf("From: Bench Sender <sender@bench.example>\nTo: <big@localhost>\n"+
			"Subject: bench message %d kw%04d\nDate: %s\nMessage-ID: <%d.fill@bench.example>\n%s"+
			"MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nbodykw%04d opens message %d\n",
			i, i%100, epoch.Add(time.Duration(i)*time.Minute).Format(time.RFC1123Z), i, reply, i%100, i)
		if err := os.WriteFile(filepath.Join(root, "new", fmt.Sprintf("%d.sort%d.example", 1700000000+i, i)), []byte(msg), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	c := e.l.Dial()
	b.Cleanup(func() { c.Close() })
	r := bufio.NewReaderSize(c, 256<<10)
	r.ReadString('\n')
	benchDo(b, c, r, "l LOGIN u p")
	benchDo(b, c, r, "s SELECT INBOX (CONDSTORE)")
	// The first SORT and THREAD fill the server's sort cache, as the
	// peer bench's warm-up does.
	benchDo(b, c, r, "w1 UID SORT (SUBJECT) UTF-8 ALL")
	benchDo(b, c, r, "w2 UID THREAD REFERENCES UTF-8 ALL")
	return c, r, n
}

func benchSortCommand(b *testing.B, cmd string) {
	c, r, _ := benchSortMailbox(b)
	benchSortTimed(b, c, r, cmd)
}

func benchSortTimed(b *testing.B, c net.Conn, r *bufio.Reader, cmd string) {
	defer profileTimed(b)()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		benchDo(b, c, r, "b"+strconv.Itoa(i)+" "+cmd)
	}
}

func BenchmarkSortDate(b *testing.B)    { benchSortCommand(b, "UID SORT (DATE) UTF-8 ALL") }
func BenchmarkSortSubject(b *testing.B) { benchSortCommand(b, "UID SORT (SUBJECT) UTF-8 ALL") }
func BenchmarkThreadReferences(b *testing.B) {
	benchSortCommand(b, "UID THREAD REFERENCES UTF-8 ALL")
}
func BenchmarkThreadRefs(b *testing.B) { benchSortCommand(b, "UID THREAD REFS UTF-8 ALL") }

// The peer bench's CHANGEDSINCE: ten messages changed since a MODSEQ
// taken before, out of the whole mailbox.
func BenchmarkFetchChangedSince(b *testing.B) {
	c, r, n := benchSortMailbox(b)
	io.WriteString(c, "m0 STATUS INBOX (HIGHESTMODSEQ)\r\n")
	var highest uint64
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		if _, v, ok := strings.Cut(line, "HIGHESTMODSEQ "); ok {
			highest, _ = strconv.ParseUint(strings.TrimRight(v, ")\r\n"), 10, 64)
		}
		if strings.HasPrefix(line, "m0 ") {
			break
		}
	}
	if highest == 0 {
		b.Fatal("no HIGHESTMODSEQ")
	}
	benchDo(b, c, r, "m1 UID STORE "+strconv.Itoa(n-9)+":* +FLAGS.SILENT (\\Flagged)")
	benchSortTimed(b, c, r, "UID FETCH 1:* (FLAGS) (CHANGEDSINCE "+strconv.FormatUint(highest, 10)+")")
}

// As the peer bench runs it: each CHANGEDSINCE right after the STORE
// that changed ten messages (with a keyword new to the mailbox).
func BenchmarkFetchChangedSinceAfterStore(b *testing.B) {
	c, r, n := benchSortMailbox(b)
	defer profileTimed(b)()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		io.WriteString(c, "h"+strconv.Itoa(i)+" STATUS INBOX (HIGHESTMODSEQ)\r\n")
		var highest string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				b.Fatal(err)
			}
			if _, v, ok := strings.Cut(line, "HIGHESTMODSEQ "); ok {
				highest = strings.TrimRight(v, ")\r\n")
			}
			if strings.HasPrefix(line, "h"+strconv.Itoa(i)+" ") {
				break
			}
		}
		set := ""
		for k := 0; k < 10; k++ {
			if set != "" {
				set += ","
			}
			set += strconv.Itoa(1 + k*(n/10))
		}
		benchDo(b, c, r, "s"+strconv.Itoa(i)+" STORE "+set+" +FLAGS.SILENT ($b"+highest+")")
		b.StartTimer()
		benchDo(b, c, r, "f"+strconv.Itoa(i)+" UID FETCH 1:* (FLAGS) (CHANGEDSINCE "+highest+")")
	}
}

// profileTimed starts a CPU profile into STORAGED_SORT_BENCH_PROFILE,
// when set, of what follows: the timed commands only, which the
// mailbox's setup would drown in -cpuprofile. It returns the stop.
func profileTimed(b *testing.B) func() {
	p := os.Getenv("STORAGED_SORT_BENCH_PROFILE")
	if p == "" {
		return func() {}
	}
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	pprof.StartCPUProfile(f)
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
