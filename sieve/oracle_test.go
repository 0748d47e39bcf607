package sieve

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestPigeonholeOracle runs the cases of testdata/cases.txt through
// Dovecot Pigeonhole's sieve-test and compares the actions both decide:
// stores (keep is a store into INBOX, as Pigeonhole prints it), their
// flags, redirects, discard, reject, vacation (subject and handle) and
// the implicit keep. Cases marked "oracle: no" depend on things
// sieve-test cannot be given (our environment, time, score
// configuration, edited headers) and are left out.
func TestPigeonholeOracle(t *testing.T) {
	bin, err := exec.LookPath("sieve-test")
	if err != nil {
		t.Skip("sieve-test (Debian dovecot-sieve) is not installed")
	}
	dir := t.TempDir()
	// sieve-test drops root privileges to mail_uid; the files it reads
	// must be readable then, and it saves compiled binaries beside them.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "dovecot.conf")
	abs, _ := filepath.Abs("testdata/include")
	cfg := fmt.Sprintf(`base_dir = %[1]s/run
mail_location = mbox:%[1]s/mail
plugin {
  sieve = file:%[2]s/personal
  sieve_global = %[2]s/global
  sieve_extensions = +editheader +vacation-seconds +spamtest +spamtestplus +virustest +ereject
}
`, dir, abs)
	if os.Geteuid() == 0 {
		cfg = "mail_uid = nobody\nmail_gid = nogroup\n" + cfg
	}
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	agree, compared := 0, 0
	for i, c := range loadCases(t) {
		if strings.HasPrefix(c.oracle, "no") {
			continue
		}
		script := filepath.Join(dir, fmt.Sprintf("case%d.sieve", i))
		if err := os.WriteFile(script, []byte(c.script), 0o644); err != nil {
			t.Fatal(err)
		}
		msgPath, _ := filepath.Abs(filepath.Join("testdata/messages", c.msg))
		env := caseEnv(t, c.env)
		from := env.From
		if from == "" {
			from = "<>"
		}
		cmd := exec.Command(bin, "-c", conf, "-f", from, "-r", env.To, script, msgPath)
		out, _ := cmd.CombinedOutput()
		theirs := pigeonholeActions(string(out))
		ours := ourActions(t, c)
		compared++
		if theirs == ours {
			agree++
			continue
		}
		t.Errorf("%s (cases.txt:%d):\n pigeonhole: %s\n storaged:   %s\n--- sieve-test output:\n%s", c.name, c.line, theirs, ours, out)
	}
	t.Logf("Pigeonhole agrees on %d of %d cases", agree, compared)
}

func normFlagsForOracle(f []string) string {
	if len(f) == 0 {
		return ""
	}
	l := make([]string, len(f))
	for i, x := range f {
		l[i] = strings.ToLower(x)
	}
	sort.Strings(l)
	return " [" + strings.Join(l, " ") + "]"
}

func ourActions(t *testing.T, c testCase) string {
	raw, err := os.ReadFile(filepath.Join("testdata/messages", c.msg))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Compile([]byte(c.script), Options{Loader: testLoader()})
	if err != nil {
		return "compile-error"
	}
	res, err := s.Run(context.Background(), ParseMessage(raw), caseEnv(t, c.env))
	if err != nil {
		return "error"
	}
	var parts []string
	for _, a := range res.Actions {
		switch a := a.(type) {
		case Keep:
			parts = append(parts, "store INBOX"+normFlagsForOracle(a.Flags))
		case FileInto:
			parts = append(parts, "store "+a.Mailbox+normFlagsForOracle(a.Flags))
		case Redirect:
			parts = append(parts, "redirect "+a.Address)
		case Discard:
			parts = append(parts, "discard")
		case Reject:
			parts = append(parts, "reject "+sanitize(a.Reason))
		case Vacation:
			h := strings.ReplaceAll(a.Handle, "\r\n", "\n")
			parts = append(parts, fmt.Sprintf("vacation subject=%q handle=%q", a.Subject, h))
		}
	}
	if len(res.Duplicates) > 0 {
		parts = append(parts, "track duplicate")
	}
	if res.ImplicitKeep {
		parts = append(parts, "implicit-keep"+normFlagsForOracle(res.ImplicitKeepFlags))
	}
	return strings.Join(parts, " ; ")
}

// sanitize writes control characters as '?', the way sieve-test prints
// a reason.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 {
			return '?'
		}
		return r
	}, s)
}

// pigeonholeActions reads sieve-test's "Performed actions" and "Implicit
// keep" sections into the form ourActions writes.
func pigeonholeActions(out string) string {
	if strings.Contains(out, "failed to compile") {
		return "compile-error"
	}
	if strings.Contains(out, "final result: failed") {
		return "error"
	}
	var parts []string
	section := ""
	var vac struct{ subject, handle string }
	inVac, inBody, inHandle := false, false, false
	flush := func() {
		if inVac {
			parts = append(parts, fmt.Sprintf("vacation subject=%q handle=%q", vac.subject, vac.handle))
			inVac = false
			vac.subject, vac.handle = "", ""
		}
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		trim := strings.TrimSpace(line)
		switch {
		case trim == "START MESSAGE":
			inBody, inHandle = true, false
			vac.handle = strings.TrimRight(vac.handle, "\n")
			continue
		case inHandle:
			// A handle holding the reason runs over several lines.
			vac.handle += "\n" + line
			continue
		case trim == "END MESSAGE":
			inBody = false
			continue
		case inBody:
			continue
		case trim == "Performed actions:":
			section = "actions"
			continue
		case trim == "Implicit keep:":
			flush()
			section = "keep"
			continue
		case section == "":
			continue
		}
		switch {
		case strings.HasPrefix(trim, "* "):
			flush()
			a := strings.TrimPrefix(trim, "* ")
			switch {
			case strings.HasPrefix(a, "store message in folder: "):
				mb := strings.TrimPrefix(a, "store message in folder: ")
				if section == "keep" {
					parts = append(parts, "implicit-keep")
				} else {
					parts = append(parts, "store "+mb)
				}
			case strings.HasPrefix(a, "redirect message to: "):
				parts = append(parts, "redirect "+strings.Trim(strings.TrimPrefix(a, "redirect message to: "), "<>"))
			case a == "discard" || a == "track duplicate":
				parts = append(parts, a)
			case strings.HasPrefix(a, "reject message with reason: "):
				parts = append(parts, "reject "+strings.TrimPrefix(a, "reject message with reason: "))
			case strings.HasPrefix(a, "send vacation message"):
				inVac = true
			default:
				parts = append(parts, "?"+a)
			}
		case strings.HasPrefix(trim, "+ add IMAP flags: ") && len(parts) > 0:
			fl := strings.Fields(strings.TrimPrefix(trim, "+ add IMAP flags: "))
			parts[len(parts)-1] += normFlagsForOracle(fl)
		case strings.HasPrefix(trim, "=> subject"):
			_, v, _ := strings.Cut(trim, ": ")
			vac.subject = v
		case strings.HasPrefix(trim, "=> handle"):
			_, v, _ := strings.Cut(trim, ": ")
			vac.handle, inHandle = v, true
		}
	}
	flush()
	return strings.Join(parts, " ; ")
}
