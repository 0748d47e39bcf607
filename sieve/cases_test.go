package sieve

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testCase is one case of testdata/cases.txt.
type testCase struct {
	name, msg, env, want, oracle string
	script                       string
	line                         int
}

func loadCases(t testing.TB) []testCase {
	f, err := os.Open("testdata/cases.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []testCase
	var cur *testCase
	inScript := false
	var script strings.Builder
	flush := func() {
		if cur != nil {
			cur.script = script.String()
			out = append(out, *cur)
		}
		script.Reset()
	}
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "=== "); ok {
			flush()
			cur = &testCase{name: name, line: n}
			inScript = false
			continue
		}
		if cur == nil {
			continue
		}
		if inScript {
			script.WriteString(line + "\n")
			continue
		}
		if line == "---" {
			inScript = true
			continue
		}
		k, v, _ := strings.Cut(line, ": ")
		switch k {
		case "msg":
			cur.msg = v
		case "env":
			cur.env = v
		case "want":
			cur.want = v
		case "oracle":
			cur.oracle = v
		default:
			t.Fatalf("cases.txt:%d: unknown line %q", n, line)
		}
	}
	flush()
	return out
}

func testLoader() Loader {
	return LoaderFunc(func(loc Location, name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join("testdata/include", loc.String(), name+".sieve"))
		if errors.Is(err, os.ErrNotExist) {
			return nil, ErrNotFound
		}
		return b, err
	})
}

type seenAll bool

func (s seenAll) Seen(context.Context, string) (bool, error) { return bool(s), nil }

// caseEnv reads the env: line: key=value words.
func caseEnv(t testing.TB, spec string) Env {
	env := Env{From: "alice@example.org", To: "bob@example.com",
		Now: time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)}
	for _, w := range strings.Fields(spec) {
		k, v, _ := strings.Cut(w, "=")
		switch {
		case k == "from":
			env.From = v
		case k == "to":
			env.To = v
		case k == "now":
			tm, err := time.Parse(time.RFC3339, v)
			if err != nil {
				t.Fatal(err)
			}
			env.Now = tm
		case k == "mailboxes":
			set := map[string]bool{}
			for _, m := range strings.Split(v, ",") {
				set[m] = true
			}
			env.MailboxExists = func(n string) bool { return set[n] }
		case k == "dupseen":
			env.Duplicates = seenAll(true)
		case k == "spam" || k == "virus":
			h, m, _ := strings.Cut(v, ":")
			cfg := &ScoreConfig{Header: h}
			if m != "" {
				cfg.Max, _ = strconv.ParseFloat(m, 64)
			}
			if k == "spam" {
				env.Spam = cfg
			} else {
				env.Virus = cfg
			}
		case strings.HasPrefix(k, "env."):
			if env.Environment == nil {
				env.Environment = map[string]string{}
			}
			env.Environment[k[4:]] = v
		default:
			t.Fatalf("unknown env key %q", k)
		}
	}
	return env
}

func renderFlags(f []string) string {
	if len(f) == 0 {
		return ""
	}
	return " [" + strings.Join(f, " ") + "]"
}

// render writes a result in the one-line form cases.txt uses.
func render(res *Result, err error) string {
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return "error: " + e.Error()
		}
		return "error: " + err.Error()
	}
	var parts []string
	for _, a := range res.Actions {
		switch a := a.(type) {
		case Keep:
			parts = append(parts, "keep"+renderFlags(a.Flags))
		case FileInto:
			s := "fileinto " + strconv.Quote(a.Mailbox) + renderFlags(a.Flags)
			if a.Copy {
				s += " copy"
			}
			if a.Create {
				s += " create"
			}
			parts = append(parts, s)
		case Redirect:
			s := "redirect " + strconv.Quote(a.Address)
			if a.Copy {
				s += " copy"
			}
			parts = append(parts, s)
		case Discard:
			parts = append(parts, "discard")
		case Reject:
			s := "reject "
			if a.Extended {
				s = "ereject "
			}
			parts = append(parts, s+strconv.Quote(a.Reason))
		case Vacation:
			s := "vacation " + strconv.Quote(a.Reason)
			if a.Subject != "" {
				s += " subject=" + strconv.Quote(a.Subject)
			}
			if a.From != "" {
				s += " from=" + strconv.Quote(a.From)
			}
			if len(a.Addresses) > 0 {
				s += " addresses=" + strconv.Quote(strings.Join(a.Addresses, ","))
			}
			if a.MIME {
				s += " mime"
			}
			s += " handle=" + strconv.Quote(a.Handle) + " period=" + a.Period.String()
			parts = append(parts, s)
		}
	}
	if res.ImplicitKeep {
		parts = append(parts, "implicit-keep"+renderFlags(res.ImplicitKeepFlags))
	}
	if res.Header != nil {
		var h []string
		for _, f := range res.Header {
			if f.Raw != "" {
				h = append(h, f.Name)
			} else {
				h = append(h, f.Name+": "+f.Value)
			}
		}
		parts = append(parts, "header{"+strings.Join(h, "|")+"}")
	}
	s := strings.Join(parts, " ; ")
	if len(res.Duplicates) > 0 {
		s += fmt.Sprintf(" dup=%d", len(res.Duplicates))
	}
	return s
}

func runCase(t testing.TB, c testCase) string {
	raw, err := os.ReadFile(filepath.Join("testdata/messages", c.msg))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Compile([]byte(c.script), Options{Loader: testLoader()})
	if err != nil {
		return "compile-" + render(nil, err)
	}
	return render(s.Run(context.Background(), ParseMessage(raw), caseEnv(t, c.env)))
}

func TestCases(t *testing.T) {
	cases := loadCases(t)
	if len(cases) < 60 {
		t.Errorf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := runCase(t, c)
			ok := got == c.want
			if strings.HasPrefix(c.want, "error: ") || strings.HasPrefix(c.want, "compile-error: ") {
				ok = strings.HasPrefix(got, c.want)
			}
			if !ok {
				t.Errorf("cases.txt:%d\n got: %s\nwant: %s", c.line, got, c.want)
			}
		})
	}
}
