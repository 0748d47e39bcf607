// Command storaged-bench drives any LMTP, IMAP and POP3 server with a lean
// client of its own and prints one JSON line per measurement, so that
// storaged and another server (bench/peer.sh runs Dovecot) are measured by
// the same client in the same run. The client is built not to be the
// bottleneck: raw connections, bufio, replies read as bytes with
// ReadSlice, literals counted and skipped, messages built into reused
// buffers.
//
//	storaged-bench run -scenario lmtp -lmtp ADDR -to a@dom[,b@dom...] -n N -size S -conns C
//	storaged-bench run -scenario imap-meta|imap-body|imap-search|imap-sort -imap ADDR -user U -password P
//	storaged-bench run -scenario imap-idle -imap ADDR -lmtp ADDR -user U -password P -to U@dom -conns K [-pids PID,...]
//	storaged-bench run -scenario pop3-retr -pop3 ADDR -user U -password P
//	storaged-bench run -scenario lmtp-big -lmtp ADDR -to a@dom[,...] -size S -conns C -pids PID,...  (peak RSS of a fresh server)
//	storaged-bench run -scenario tls-handshake -imaps ADDR -cafile CERT -n N -conns C
//	storaged-bench run -scenario imaps-body -imaps ADDR -cafile CERT -user U -password P
//	storaged-bench run -scenario login-rss -imap ADDR -user U -password P -conns C -pids PID,... [-distinct -first F]
//	storaged-bench report [-servers storaged,dovecot-optimized] FILE.jsonl...
//	storaged-bench ports N        print N free loopback TCP ports
//	storaged-bench wait ADDR...   wait until every address accepts connections
//	storaged-bench maildir -dir D write generated messages into a Maildir
//	storaged-bench disk -dir D    the file system's ceiling: files made durable per second
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

const usage = `storaged-bench: a side-by-side LMTP/IMAP/POP3 benchmark client

Usage:
  storaged-bench run -scenario LIST [flags]   measure; one JSON line per result
  storaged-bench report [-servers A,B,...] [-base A] FILE...
                                              a Markdown table of median (min–max)
  storaged-bench ports N                      print N free loopback ports
  storaged-bench wait [-timeout D] ADDR...    wait for listeners
  storaged-bench maildir -dir D -n N -size S [-seed S -to A -uid U -gid G]
                                              write the messages lmtp would deliver into D/cur
  storaged-bench disk -dir D [-n N -size S -conns 1,4,20]
                                              files created, written, fsynced (and renamed,
                                              directory fsynced) per second: the disk's ceiling

Scenarios: lmtp, lmtp-big, imap-meta, imap-body, imap-search, imap-sort, imap-idle, pop3-retr,
tls-handshake, imaps-body, login-rss.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 64
	}
	switch args[0] {
	case "run":
		return runCmd(args[1:], stdout, stderr)
	case "report":
		return reportCmd(args[1:], stdout, stderr)
	case "ports":
		return portsCmd(args[1:], stdout, stderr)
	case "wait":
		return waitCmd(args[1:], stderr)
	case "maildir":
		return maildirCmd(args[1:], stderr)
	case "disk":
		return diskCmd(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "storaged-bench: unknown command %q\n%s", args[0], usage)
	return 64
}

// Result is one measurement, written as one JSON line.
type Result struct {
	Server   string  `json:"server"`
	Scenario string  `json:"scenario"`
	Run      int     `json:"run,omitempty"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Better   string  `json:"better"` // "higher" or "lower"
	N        int     `json:"n,omitempty"`
	Bytes    int64   `json:"bytes,omitempty"`
	Hits     int     `json:"hits,omitempty"`
	Ms       float64 `json:"ms,omitempty"`
	P50Ms    float64 `json:"p50_ms,omitempty"`
	P99Ms    float64 `json:"p99_ms,omitempty"`
	PssMB    float64 `json:"pss_mb,omitempty"` // proportional set size, shared pages split
	Procs    int     `json:"procs,omitempty"`  // processes measured
	// login-rss: the RSS before the logins and how many samples the
	// peak is the largest of.
	BeforeMB float64 `json:"before_mb,omitempty"`
	Samples  int     `json:"samples,omitempty"`
	// Suffix tells apart the results of one scenario run; not written.
	Suffix string `json:"-"`
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenarios := fs.String("scenario", "", "comma-separated: lmtp, lmtp-big, imap-meta, imap-body, imap-search, imap-sort, imap-idle, pop3-retr, tls-handshake, imaps-body, login-rss")
	server := fs.String("server", "server", "label of the server under test, copied into each result")
	runN := fs.Int("run", 0, "run number, copied into each result")
	lmtpAddr := fs.String("lmtp", "", "LMTP address host:port")
	imapAddr := fs.String("imap", "", "IMAP address host:port")
	pop3Addr := fs.String("pop3", "", "POP3 address host:port")
	imapsAddr := fs.String("imaps", "", "tls-handshake, imaps-body: implicit-TLS IMAP address host:port")
	caFile := fs.String("cafile", "", "tls-handshake, imaps-body: the servers' certificate (PEM), verified")
	serverName := fs.String("servername", "localhost", "tls-handshake, imaps-body: SNI and the name verified")
	to := fs.String("to", "", "lmtp: comma-separated recipients, delivered to round robin")
	n := fs.Int("n", 1000, "lmtp: messages to deliver; tls-handshake: handshakes, sequential and concurrent each")
	first := fs.Int("first", 0, "lmtp: number of the first message; imap-search: of the mailbox's first message; login-rss -distinct: of the first user")
	size := fs.Int("size", 4096, "lmtp: message size in octets")
	conns := fs.Int("conns", 4, "lmtp, tls-handshake, login-rss: concurrent connections")
	seed := fs.String("seed", "", "lmtp: tag in Message-ID (default: the time)")
	user := fs.String("user", "", "imap, pop3: user name")
	password := fs.String("password", "", "imap, pop3: password")
	mailbox := fs.String("mailbox", "INBOX", "imap: mailbox")
	expect := fs.Int("expect", 0, "imap, pop3: messages the mailbox must hold (0: any)")
	keyword := fs.Int("keyword", 42, "imap-search: keyword number to search for (0-99)")
	rounds := fs.Int("rounds", 5, "imap-idle: messages delivered, one at a time, while idle")
	pids := fs.String("pids", "", "imap-idle, lmtp-big, login-rss: comma-separated server process ids; their memory (children included) is measured with every connection idle")
	wait := fs.Duration("wait", 60*time.Second, "imap-idle: how long a round waits for every * EXISTS")
	distinct := fs.Bool("distinct", false, "login-rss: connection i logs in as USER<first+i> instead of USER")
	name := fs.String("name", "", "scenario name in the results instead of the generated one")
	if err := fs.Parse(args); err != nil {
		return 64
	}
	if *scenarios == "" {
		fmt.Fprintln(stderr, "storaged-bench run: -scenario is required")
		return 64
	}
	if *seed == "" {
		*seed = fmt.Sprint(time.Now().UnixNano())
	}
	enc := json.NewEncoder(stdout)
	ip := imapParams{addr: *imapAddr, user: *user, password: *password, mailbox: *mailbox, expect: *expect, first: *first, keyword: *keyword}
	for _, sc := range strings.Split(*scenarios, ",") {
		var rs []Result
		var err error
		switch sc {
		case "lmtp":
			rcpts := splitList(*to)
			var r Result
			r, err = runLMTP(lmtpParams{addr: *lmtpAddr, rcpts: rcpts, n: *n, first: *first, size: *size, conns: *conns, seed: *seed})
			r.Scenario = fmt.Sprintf("LMTP %s, %d conn, %d %s", human(*size), *conns, len(rcpts), plural(len(rcpts), "user"))
			rs = []Result{r}
		case "imap-meta":
			var r Result
			r, err = runIMAPMeta(ip)
			r.Scenario = fmt.Sprintf("IMAP SELECT + FETCH (FLAGS RFC822.SIZE ENVELOPE), %d msgs", r.N)
			rs = []Result{r}
		case "imap-body":
			rs, err = runIMAPBody(ip)
			for i := range rs {
				rs[i].Scenario = fmt.Sprintf("IMAP FETCH BODY.PEEK[], %d msgs", rs[i].N)
			}
		case "imap-search":
			rs, err = runIMAPSearch(ip)
			for i := range rs {
				what := "HEADER Subject"
				if rs[i].Suffix == "text" {
					what = "TEXT"
				}
				rs[i].Scenario = fmt.Sprintf("IMAP SEARCH %s, %d msgs", what, rs[i].N)
			}
		case "imap-sort":
			rs, err = runIMAPSort(ip)
			for i := range rs {
				what := map[string]string{
					"sort-date": "UID SORT (DATE)", "sort-subject": "UID SORT (SUBJECT)",
					"thread-references": "UID THREAD REFERENCES", "thread-refs": "UID THREAD REFS", "changedsince": "UID FETCH 1:* (FLAGS) (CHANGEDSINCE), 10 changed of",
				}[rs[i].Suffix]
				rs[i].Scenario = fmt.Sprintf("IMAP %s, %d msgs", what, rs[i].N)
			}
		case "imap-idle":
			pl, ok := parsePids(*pids, stderr)
			if !ok {
				return 64
			}
			rcpt := ""
			if l := splitList(*to); len(l) > 0 {
				rcpt = l[0]
			}
			if rcpt == "" && *rounds > 0 {
				fmt.Fprintln(stderr, "storaged-bench run: imap-idle needs -to, the idle user's address")
				return 64
			}
			rs, err = runIMAPIdle(idleParams{imap: ip, lmtpAddr: *lmtpAddr, rcpt: rcpt, conns: *conns, rounds: *rounds, pids: pl, wait: *wait})
			for i := range rs {
				switch rs[i].Suffix {
				case "rss":
					rs[i].Scenario = fmt.Sprintf("memory with %d idle IMAP connections", rs[i].N)
				default:
					rs[i].Scenario = fmt.Sprintf("IDLE latency LMTP 250 → * EXISTS, %d conns, %s", rs[i].N, rs[i].Suffix)
				}
			}
		case "lmtp-big":
			pl, ok := parsePids(*pids, stderr)
			if !ok {
				return 64
			}
			rcpts := splitList(*to)
			rs, err = runLMTPBig(lmtpParams{addr: *lmtpAddr, rcpts: rcpts, first: *first, size: *size, conns: *conns, seed: *seed}, pl)
			for i := range rs {
				rs[i].Scenario = fmt.Sprintf("LMTP %s × %d at once, %d %s: server peak RSS", human(*size), *conns, len(rcpts), plural(len(rcpts), "user"))
			}
		case "tls-handshake", "imaps-body":
			var tc *tls.Config
			if tc, err = benchTLS(*caFile, *serverName); err != nil {
				break
			}
			if sc == "tls-handshake" {
				rs, err = runTLSHandshake(*imapsAddr, tc, *n, *conns)
				for i := range rs {
					who := "1 client"
					if rs[i].Suffix == "concurrent" {
						who = fmt.Sprintf("%d clients", *conns)
					}
					rs[i].Scenario = fmt.Sprintf("IMAPS full TLS 1.3 handshake to greeting, %s", who)
				}
				break
			}
			tp := ip
			tp.addr, tp.tls = *imapsAddr, tc
			rs, err = runIMAPBody(tp)
			for i := range rs {
				rs[i].Scenario = fmt.Sprintf("IMAPS FETCH BODY.PEEK[], %d msgs", rs[i].N)
			}
		case "login-rss":
			pl, ok := parsePids(*pids, stderr)
			if !ok {
				return 64
			}
			rs, err = runLoginRSS(ip, *conns, pl, *distinct)
			for i := range rs {
				what := map[string]string{"rss": "server peak RSS", "time": "until the last answer", "failed": "failed"}[rs[i].Suffix]
				rs[i].Scenario = fmt.Sprintf("%d parallel IMAP LOGINs: %s", rs[i].N, what)
			}
		case "pop3-retr":
			var r Result
			r, err = runPOP3Retr(*pop3Addr, *user, *password, *expect)
			r.Scenario = fmt.Sprintf("POP3 login + RETR all, %d msgs", r.N)
			rs = []Result{r}
		default:
			fmt.Fprintf(stderr, "storaged-bench run: unknown scenario %q\n", sc)
			return 64
		}
		if err != nil {
			fmt.Fprintf(stderr, "storaged-bench: %s %s: %v\n", *server, sc, err)
			return 1
		}
		for _, r := range rs {
			r.Server, r.Run = *server, *runN
			if *name != "" {
				r.Scenario = *name
				if r.Suffix != "" {
					r.Scenario += " " + r.Suffix
				}
			}
			r.Scenario += " (" + r.Unit + ")"
			if err := enc.Encode(r); err != nil {
				fmt.Fprintln(stderr, "storaged-bench:", err)
				return 1
			}
		}
	}
	return 0
}

// parsePids reads -pids, saying on stderr what is wrong with it.
func parsePids(list string, stderr io.Writer) ([]int, bool) {
	var pl []int
	for _, f := range splitList(list) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			fmt.Fprintf(stderr, "storaged-bench run: -pids: %q is not a process id\n", f)
			return nil, false
		}
		pl = append(pl, pid)
	}
	return pl, true
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func human(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KB", n>>10)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%d KB", n/1000)
	}
	return fmt.Sprintf("%d B", n)
}

func plural(n int, w string) string {
	if n == 1 {
		return w
	}
	return w + "s"
}

func portsCmd(args []string, stdout, stderr io.Writer) int {
	n := 1
	if len(args) > 0 {
		if _, err := fmt.Sscan(args[0], &n); err != nil || n < 1 {
			fmt.Fprintln(stderr, "storaged-bench ports: N must be a positive number")
			return 64
		}
	}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(stderr, "storaged-bench ports:", err)
			return 1
		}
		ls = append(ls, l)
		fmt.Fprintln(stdout, l.Addr().(*net.TCPAddr).Port)
	}
	return 0
}

func waitCmd(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait in all")
	if err := fs.Parse(args); err != nil {
		return 64
	}
	deadline := time.Now().Add(*timeout)
	for _, addr := range fs.Args() {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(stderr, "storaged-bench wait: %s: %v\n", addr, err)
				return 1
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return 0
}
