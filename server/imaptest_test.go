package server_test

// TestImaptest runs Dovecot's imaptest against a storaged started in-process:
// its 71 scripted compliance groups, then its stress mode. The tool, its
// build script and where it came from are in tools/imaptest; what it gave
// before and since our IMAP layer is in tools/imaptest/BASELINE.md. make
// test sets STORAGED_IMAPTEST=1: every group must pass and the stress run
// must be clean.
//
//	make imaptest
//	STORAGED_IMAPTEST=1 go test -count=1 -run TestImaptest/compliance ./server/
//	STORAGED_IMAPTEST=1 IMAPTEST_GROUPS=fetch,select go test -run TestImaptest/compliance ./server/
//
// Invariants:
//   - STORAGED_IMAPTEST=1 (make test, make imaptest) means imaptest must
//     run: a build that cannot happen (no apt-get, no network) fails the
//     test. Without it, a plain go test runs imaptest where it can be
//     built and skips it elsewhere.
//   - Every imaptest run has a deadline; a run that does not print its
//     summary fails with the output it gave so far.
//   - Each subtest starts its own server in its own temporary directory
//     and logs in as a throwaway user, so either runs alone.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	imaptestBuildTimeout      = 10 * time.Minute
	imaptestComplianceTimeout = 15 * time.Minute
	imaptestStressClients     = 10
	imaptestStressSecs        = 30
)

func TestImaptest(t *testing.T) {
	required := os.Getenv("STORAGED_IMAPTEST") == "1"
	if testing.Short() && !required {
		t.Skip("imaptest takes about 40 s; not in -short")
	}
	bin := buildImaptest(t, required)
	t.Run("compliance", func(t *testing.T) { testImaptestCompliance(t, bin) })
	// Stress twice: as a plain client, then with QRESYNC (CONDSTORE)
	// enabled and imaptest checking every session's view of flags and
	// MODSEQs against the others' at checkpoints.
	t.Run("stress", func(t *testing.T) { testImaptestStress(t, bin, imaptestStressSecs) })
	t.Run("stress-qresync", func(t *testing.T) {
		testImaptestStress(t, bin, imaptestStressSecs/2, "qresync")
	})
}

// buildImaptest builds imaptest with tools/imaptest/build.sh, once per
// version of the snapshot and the script (the build directory is named by
// their hash and reused), and returns the binary's path.
func buildImaptest(t *testing.T, required bool) string {
	t.Helper()
	fail := t.Skipf
	if required {
		fail = t.Fatalf
	}
	tools, err := filepath.Abs(filepath.Join("..", "tools", "imaptest"))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	for _, f := range []string{"imaptest-release-2.3.tar.gz", "build.sh"} {
		b, err := os.ReadFile(filepath.Join(tools, f))
		if err != nil {
			t.Fatal(err)
		}
		h.Write(b)
	}
	dir := filepath.Join(os.TempDir(), "storaged-imaptest-"+hex.EncodeToString(h.Sum(nil))[:12])
	if _, err := exec.LookPath("bash"); err != nil {
		fail("imaptest cannot be built here: no bash")
	}
	ctx, cancel := context.WithTimeout(context.Background(), imaptestBuildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(tools, "build.sh"), dir)
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		fail("imaptest cannot be built here (tools/imaptest/build.sh %s: %v):\n%s", dir, err, strings.TrimSpace(stderr.String()))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	bin := lines[len(lines)-1]
	if _, err := os.Stat(bin); err != nil {
		fail("tools/imaptest/build.sh printed no binary: %v\n%s", err, stdout.String())
	}
	t.Logf("imaptest: %s (%.0fs)", bin, time.Since(start).Seconds())
	return bin
}

// imaptestRun is the output of one imaptest run.
type imaptestRun struct {
	out      []byte // stdout and stderr, as they came
	timedOut bool
	err      error // the exit status
}

// runImaptest runs bin with args against ts's IMAP listener as user.
func runImaptest(t *testing.T, ts *testServer, bin, user string, timeout time.Duration, args ...string) imaptestRun {
	t.Helper()
	host, port, err := net.SplitHostPort(ts.imap)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args = append([]string{"host=" + host, "port=" + port, "user=" + user, "pass=secret-" + user}, args...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH=/usr/lib/dovecot")
	cmd.WaitDelay = 10 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t.Logf("imaptest %s", strings.Join(args, " "))
	err = cmd.Run()
	r := imaptestRun{out: out.Bytes(), timedOut: ctx.Err() != nil, err: err}
	// The whole output, for go test -artifacts.
	if werr := os.WriteFile(filepath.Join(t.ArtifactDir(), "imaptest.out"), r.out, 0o644); werr != nil {
		t.Log(werr)
	}
	return r
}

var (
	imaptestGroupsRe = regexp.MustCompile(`(?m)^(\d+) test groups: (\d+) failed, (\d+) skipped due to missing capabilities$`)
	imaptestCountsRe = regexp.MustCompile(`(?m)^(base protocol|extensions): (\d+)/(\d+) individual commands failed$`)
	imaptestTestRe   = regexp.MustCompile(`^\*\*\* Test (\S+) `)
)

// imaptestFailures splits compliance output into the failure reports
// imaptest prints, by group in order of appearance (a "*** Test GROUP
// command i/n (line L)" line and what follows, expected and actual replies
// with their literals, up to the next report, error line or summary line),
// and the error lines it prints besides (a BAD, a keyword missing from
// FLAGS). Those come from whichever group runs at the time, which imaptest
// does not say and which need not fail: they are returned apart. Lines are
// cut to a readable length (the id group sends 30 KB lines).
func imaptestFailures(out []byte) (groups []string, reports map[string]string, errs []string) {
	reports = make(map[string]string)
	var cur string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := shorten(sc.Text(), 400)
		switch m := imaptestTestRe.FindStringSubmatch(line); {
		case m != nil:
			cur = m[1]
			if _, ok := reports[cur]; !ok {
				groups = append(groups, cur)
			}
			reports[cur] += line + "\n"
		case imaptestErrorLine(line):
			cur = ""
			errs = append(errs, line)
		case imaptestGroupsRe.MatchString(line) || imaptestCountsRe.MatchString(line):
			cur = ""
		case cur != "":
			reports[cur] += line + "\n"
		}
	}
	for g, r := range reports {
		reports[g] = strings.TrimRight(r, "\n")
	}
	return groups, reports, errs
}

// shorten cuts s to n bytes, saying how much it left out.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s... (%d more bytes)", s[:n], len(s)-n)
}

// imaptestErrorLine reports whether line is one of imaptest's own error
// messages (libdovecot's i_error, i_fatal and i_panic on stderr).
func imaptestErrorLine(line string) bool {
	return strings.HasPrefix(line, "Error: ") || strings.HasPrefix(line, "Fatal: ") || strings.HasPrefix(line, "Panic: ")
}

// imaptestSkipped lists the groups in dir that imaptest skips, with the
// capabilities they require (their "capabilities:" header line) that has
// reports the server lacks.
func imaptestSkipped(t *testing.T, dir string, has func(string) bool) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() || strings.HasSuffix(e.Name(), ".mbox") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		// The header ends at the first blank line. imaptest checks the
		// capabilities after LOGIN only: a "state: nonauth" group runs anyway.
		hdr, _, _ := bytes.Cut(b, []byte("\n\n"))
		if bytes.Contains(hdr, []byte("\nstate: nonauth")) || bytes.HasPrefix(hdr, []byte("state: nonauth")) {
			continue
		}
		var missing []string
		for _, line := range strings.Split(string(hdr), "\n") {
			if v, ok := strings.CutPrefix(line, "capabilities:"); ok {
				for _, c := range strings.Fields(v) {
					if !has(c) {
						missing = append(missing, c)
					}
				}
			}
		}
		if len(missing) > 0 {
			out = append(out, e.Name()+"("+strings.Join(missing, ",")+")")
		}
	}
	return out
}

func testImaptestCompliance(t *testing.T, bin string) {
	const user, user2 = "imaptest", "imaptest2"
	ts := startServer(t, t.TempDir(), withFormat("maildir"), user)
	// imaptest gives every user the one password; urlauth2 logs in as user2.
	if err := ts.Users.Add(user2, "secret-"+user, nil); err != nil {
		t.Fatal(err)
	}
	tests := filepath.Join(filepath.Dir(bin), "tests")
	if only := os.Getenv("IMAPTEST_GROUPS"); only != "" {
		// Some groups, by name: a copy of those files and their .mbox.
		sel := t.TempDir()
		for _, g := range strings.Split(only, ",") {
			for _, f := range []string{g, g + ".mbox"} {
				b, err := os.ReadFile(filepath.Join(tests, f))
				if os.IsNotExist(err) && f != g {
					continue
				}
				if err != nil {
					t.Fatalf("IMAPTEST_GROUPS: %v", err)
				}
				if err := os.WriteFile(filepath.Join(sel, f), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		b, err := os.ReadFile(filepath.Join(tests, "default.mbox"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sel, "default.mbox"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		tests = sel
	}
	// imaptest skips a group whose capabilities the server lacks without
	// counting it ("0 skipped" regardless): name them here.
	caps, err := ts.login(t, user, nil).Capability().Wait()
	if err != nil {
		t.Fatal(err)
	}
	// As imaptest compares: the announced names, case-insensitively.
	announced := func(want string) bool {
		for c := range caps {
			if strings.EqualFold(string(c), want) {
				return true
			}
		}
		return false
	}
	if skipped := imaptestSkipped(t, tests, announced); len(skipped) > 0 {
		t.Logf("groups imaptest skips, for capabilities storaged does not announce: %s", strings.Join(skipped, " "))
	}

	r := runImaptest(t, ts, bin, user, imaptestComplianceTimeout, "test="+tests, "user2="+user2)
	out := string(r.out)

	sum := imaptestGroupsRe.FindStringSubmatch(out)
	counts := imaptestCountsRe.FindAllString(out, -1)
	if sum != nil {
		t.Log(sum[0])
	}
	for _, c := range counts {
		t.Log(c)
	}
	groups, reports, errs := imaptestFailures(r.out)
	for _, g := range groups {
		t.Logf("group %s:\n%s", g, reports[g])
	}
	if len(errs) > 0 {
		shown, more := errs, ""
		if len(shown) > 40 {
			shown, more = shown[:40], fmt.Sprintf("\n... and %d more", len(errs)-40)
		}
		t.Errorf("imaptest reported %d protocol errors (each from whichever group ran then, which need not be a failed one):\n%s%s",
			len(errs), strings.Join(shown, "\n"), more)
	}
	if sum == nil {
		what := "exited without its summary"
		if r.timedOut {
			what = fmt.Sprintf("did not finish within %v", imaptestComplianceTimeout)
		}
		t.Fatalf("imaptest %s (%v); its last output:\n%s", what, r.err, tail(out, 40))
	}
	failed, _ := strconv.Atoi(sum[2])
	if failed > 0 || len(groups) > 0 {
		t.Errorf("imaptest: %d of %s groups failed (reports above): %s", failed, sum[1], strings.Join(groups, " "))
	}
}

func testImaptestStress(t *testing.T, bin string, secs int, extra ...string) {
	const user = "stress"
	ts := startServer(t, t.TempDir(), withFormat("maildir"), user)
	mboxPath := filepath.Join(t.TempDir(), "append.mbox")
	if err := os.WriteFile(mboxPath, imaptestStressMbox(t, filepath.Join(filepath.Dir(bin), "tests")), 0o644); err != nil {
		t.Fatal(err)
	}

	args := append([]string{"mbox=" + mboxPath, "clients=" + strconv.Itoa(imaptestStressClients), "secs=" + strconv.Itoa(secs)}, extra...)
	r := runImaptest(t, ts, bin, user, time.Duration(secs)*time.Second+3*time.Minute, args...)
	out := string(r.out)
	var errs, stalls []string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case imaptestErrorLine(line):
			errs = append(errs, line)
		case strings.Contains(line, " stalled for "):
			stalls = append(stalls, line)
		}
	}
	// A client without a reply for 15s: a hang, or only a slow machine
	// (-race on two cores), so told but not failed.
	if len(stalls) > 0 {
		t.Logf("imaptest saw %d stalls:\n%s", len(stalls), tail(strings.Join(stalls, "\n"), 20))
	}
	total, ok := imaptestTotals(out)
	if ok {
		t.Logf("imaptest stress %v, %d clients, %ds: %s", extra, imaptestStressClients, secs, total)
	}
	if len(errs) > 0 {
		t.Errorf("imaptest stress reported %d errors, by kind:\n%s", len(errs), imaptestErrorKinds(errs, 3))
	}
	if !ok {
		what := "exited without its totals"
		if r.timedOut {
			what = "did not finish in time"
		}
		t.Fatalf("imaptest %s (%v); its last output:\n%s", what, r.err, tail(out, 40))
	}
}

// imaptestErrorKinds groups error lines by their message ("Error:
// USER[CLIENT]: MESSAGE: DETAIL", the message without its numbers), most
// frequent first, with up to n examples of each.
func imaptestErrorKinds(errs []string, n int) string {
	digits := regexp.MustCompile(`\b[0-9]+\b`)
	count := map[string]int{}
	examples := map[string][]string{}
	var kinds []string
	for _, e := range errs {
		msg := strings.TrimPrefix(e, "Error: ")
		if _, rest, ok := strings.Cut(msg, "]: "); ok {
			msg = rest
		}
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[:i]
		}
		k := digits.ReplaceAllString(shorten(msg, 100), "N")
		if count[k] == 0 {
			kinds = append(kinds, k)
		}
		count[k]++
		if len(examples[k]) < n {
			examples[k] = append(examples[k], shorten(e, 300))
		}
	}
	sort.SliceStable(kinds, func(i, j int) bool { return count[kinds[i]] > count[kinds[j]] })
	var b strings.Builder
	for _, k := range kinds {
		fmt.Fprintf(&b, "%6d  %s\n", count[k], k)
		for _, e := range examples[k] {
			fmt.Fprintf(&b, "        %s\n", e)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// imaptestStressMbox returns the messages stress mode APPENDs: every
// message of the compliance groups' mbox files (MIME structures and odd
// headers included), each under a Message-ID of its own. imaptest tracks a
// message by its Message-ID and reports an error when two differ, and the
// groups' files reuse IDs across files.
func imaptestStressMbox(t *testing.T, tests string) []byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(tests, "*.mbox"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no mbox files in %s: %v", tests, err)
	}
	var out bytes.Buffer
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range splitMbox(b) {
			from, rest, _ := bytes.Cut(msg, []byte("\n"))
			hdr, body, hasBody := bytes.Cut(rest, []byte("\n\n"))
			n++
			fmt.Fprintf(&out, "%s\nMessage-ID: <stress-%d@storaged.test>\n", from, n)
			skip := false
			for _, line := range bytes.Split(hdr, []byte("\n")) {
				if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
					if !skip {
						out.Write(line)
						out.WriteByte('\n')
					}
					continue
				}
				skip = len(line) >= 11 && strings.EqualFold(string(line[:11]), "message-id:")
				if !skip {
					out.Write(line)
					out.WriteByte('\n')
				}
			}
			if hasBody {
				out.WriteByte('\n')
				out.Write(body)
			}
			if !bytes.HasSuffix(out.Bytes(), []byte("\n\n")) {
				out.WriteByte('\n')
			}
		}
	}
	return out.Bytes()
}

// splitMbox splits an mbox file at its From_ lines: "From " at the start
// of the file or after an empty line.
func splitMbox(b []byte) [][]byte {
	var msgs [][]byte
	start := -1
	for i := 0; i < len(b); {
		if bytes.HasPrefix(b[i:], []byte("From ")) && (i == 0 || i >= 2 && b[i-2] == '\n') {
			if start >= 0 {
				msgs = append(msgs, b[start:i])
			}
			start = i
		}
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
	}
	if start >= 0 {
		msgs = append(msgs, b[start:])
	}
	return msgs
}

// imaptestTotals reads the "Totals:" table stress mode ends with (a header
// of command names, a line of percentages, maybe a second one, then the
// counts) into "N commands, N/s: Logi 123 List 45 ...".
func imaptestTotals(out string) (string, bool) {
	i := strings.LastIndex(out, "\nTotals:\n")
	if i < 0 {
		return "", false
	}
	lines := strings.Split(strings.TrimSpace(out[i+len("\nTotals:\n"):]), "\n")
	if len(lines) < 3 {
		return "", false
	}
	names := strings.Fields(lines[0])
	var counts []string
	for _, l := range lines[1:] {
		if !strings.Contains(l, "%") && len(strings.Fields(l)) == len(names) {
			counts = strings.Fields(l)
			break
		}
	}
	if counts == nil {
		return "", false
	}
	var b strings.Builder
	sum := 0
	for k, c := range counts {
		n, _ := strconv.Atoi(c)
		sum += n
		fmt.Fprintf(&b, " %s %d", names[k], n)
	}
	return fmt.Sprintf("%d commands, %d/s:%s", sum, sum/imaptestStressSecs, b.String()), true
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
