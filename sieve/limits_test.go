package sieve

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func mustCompile(t *testing.T, src string, opts Options) *Script {
	t.Helper()
	s, err := Compile([]byte(src), opts)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return s
}

func plainMessage(t *testing.T) *Message {
	return ParseMessage([]byte("From: a@example.org\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nbody\r\n"))
}

func TestCompileLimits(t *testing.T) {
	big := strings.Repeat("keep;\n", 200000)
	if _, err := Compile([]byte(big), Options{}); err == nil || !strings.Contains(err.Error(), "script is too large") {
		t.Errorf("size: %v", err)
	}
	// Deep nesting stops at the limit, long before the stack could.
	deep := strings.Repeat("if true {", 100000) + strings.Repeat("}", 100000)
	if _, err := Compile([]byte(deep), Options{MaxScriptSize: 1 << 22}); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Errorf("blocks: %v", err)
	}
	nots := "if " + strings.Repeat("not ", 100000) + "true { keep; }"
	if _, err := Compile([]byte(nots), Options{MaxScriptSize: 1 << 22}); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Errorf("tests: %v", err)
	}
	lists := "if " + strings.Repeat("anyof(", 1000) + "true" + strings.Repeat(")", 1000) + " { keep; }"
	if _, err := Compile([]byte(lists), Options{}); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Errorf("test lists: %v", err)
	}
	ok := "if " + strings.Repeat("not ", 20) + "true { keep; }"
	mustCompile(t, ok, Options{})
	list := "if header \"a\" [" + strings.Repeat("\"x\",", 2000) + "\"x\"] { keep; }"
	if _, err := Compile([]byte(list), Options{}); err == nil || !strings.Contains(err.Error(), "string list is too long") {
		t.Errorf("string list: %v", err)
	}
}

// A chain of includes 10,000 long stops at the include depth.
func TestIncludeChainLimit(t *testing.T) {
	loads := 0
	loader := LoaderFunc(func(loc Location, name string) ([]byte, error) {
		loads++
		var n int
		fmt.Sscanf(name, "s%d", &n)
		if n >= 10000 {
			return []byte("keep;"), nil
		}
		return []byte(fmt.Sprintf("require \"include\";\ninclude \"s%d\";", n+1)), nil
	})
	_, err := Compile([]byte("require \"include\";\ninclude \"s0\";"), Options{Loader: loader})
	if err == nil || !strings.Contains(err.Error(), "includes are nested too deeply (limit 10)") {
		t.Fatalf("got %v", err)
	}
	if loads > 11 {
		t.Errorf("loaded %d scripts before stopping", loads)
	}
}

// 10 × 10 × 10 × 10 × 10 includes (testdata/include/personal/fanout*)
// compile to five small scripts but would run 100,000 leaves: the step
// limit stops the run with an error the caller maps to implicit keep.
func TestStepLimitIncludeFanout(t *testing.T) {
	s := mustCompile(t, "require \"include\";\ninclude \"fanout\";", Options{Loader: testLoader()})
	_, err := s.Run(context.Background(), plainMessage(t), Env{})
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("got %v, want ErrLimit", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Script == "" || e.Line == 0 {
		t.Errorf("error has no place: %#v", e)
	}
	// With a higher budget the same script finishes.
	res, err := s.Run(context.Background(), plainMessage(t), Env{Limits: RunLimits{MaxSteps: 1000000}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.ImplicitKeepFlags; len(got) != 1 || got[0] != "x" {
		t.Errorf("flags %v", got)
	}
}

func TestStepLimitMatching(t *testing.T) {
	keys := strings.Repeat("\"nomatch\",", 1000) + "\"x\""
	src := strings.Repeat("if header :contains [\"subject\",\"from\",\"to\"] ["+keys+"] { keep; }\n", 50)
	s := mustCompile(t, src, Options{})
	if _, err := s.Run(context.Background(), plainMessage(t), Env{}); !errors.Is(err, ErrLimit) {
		t.Fatalf("got %v, want ErrLimit", err)
	}
}

func TestActionLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("require \"fileinto\";\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, "fileinto \"f%d\";\n", i)
	}
	s := mustCompile(t, b.String(), Options{})
	_, err := s.Run(context.Background(), plainMessage(t), Env{})
	if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "line 34, column 1: sieve: limit exceeded: more than 32 actions") {
		t.Errorf("actions: %v", err)
	}
	if _, err := s.Run(context.Background(), plainMessage(t), Env{Limits: RunLimits{MaxActions: 40}}); err != nil {
		t.Errorf("raised limit: %v", err)
	}
	r := mustCompile(t, "redirect \"a@x.org\"; redirect \"b@x.org\";", Options{})
	if _, err := r.Run(context.Background(), plainMessage(t), Env{Limits: RunLimits{MaxRedirects: 1}}); !errors.Is(err, ErrLimit) {
		t.Errorf("redirects: %v", err)
	}
}

func TestVariableLimits(t *testing.T) {
	src := `require ["variables", "fileinto"];
set "a" "` + strings.Repeat("x", 10000) + `";
set :length "n" "${a}";
set "b" "${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}${a}";
set :length "m" "${b}";
fileinto "${n}-${m}";`
	s := mustCompile(t, src, Options{})
	res, err := s.Run(context.Background(), plainMessage(t), Env{})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Actions[0].(FileInto).Mailbox; got != "4096-4096" {
		t.Errorf("got %q", got)
	}
	var many strings.Builder
	many.WriteString("require \"variables\";\n")
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&many, "set \"v%d\" \"x\";\n", i)
	}
	s = mustCompile(t, many.String(), Options{})
	if _, err := s.Run(context.Background(), plainMessage(t), Env{}); !errors.Is(err, ErrLimit) {
		t.Errorf("variables: %v", err)
	}
}

func TestContextCancel(t *testing.T) {
	s := mustCompile(t, "require \"include\";\ninclude \"fanout\";", Options{Loader: testLoader()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Run(ctx, plainMessage(t), Env{Limits: RunLimits{MaxSteps: 1 << 30}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v", err)
	}
}

// :matches with many stars costs O(pattern × value), not exponential.
func TestGlobCost(t *testing.T) {
	src := `require "variables";
if string :matches "` + strings.Repeat("a", 5000) + `" "` + strings.Repeat("*a", 200) + `c" { keep; }`
	s := mustCompile(t, src, Options{})
	res, err := s.Run(context.Background(), plainMessage(t), Env{})
	if err != nil || !res.ImplicitKeep || len(res.Actions) != 0 {
		t.Errorf("got %v %v", res, err)
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pat, val string
		ok       bool
		caps     []string
	}{
		{"[*] *", "[acme-users] [fwd] version 1.0", true, []string{"acme-users", "[fwd] version 1.0"}},
		{"*@*", "a@b@c", true, []string{"a", "b@c"}},
		{"?*?", "ab", true, []string{"a", "", "b"}},
		{"a\\*b", "a*b", true, nil},
		{"a\\*b", "axb", false, nil},
		{"a\\?", "a?", true, nil},
		{"*", "", true, []string{""}},
		{"?", "", false, nil},
		{"?", "é", true, []string{"é"}},
		{"***", "xyz", true, []string{"", "", "xyz"}},
		{"x*", "X-Y", true, []string{"-Y"}},
	}
	for _, tt := range tests {
		var caps []string
		if got := glob(cmpCasemap, tt.pat, tt.val, &caps); got != tt.ok {
			t.Errorf("%q ~ %q = %v", tt.val, tt.pat, got)
			continue
		}
		if tt.caps != nil && strings.Join(caps[1:], "|") != strings.Join(tt.caps, "|") {
			t.Errorf("%q ~ %q: caps %q, want %q", tt.val, tt.pat, caps[1:], tt.caps)
		}
	}
}
