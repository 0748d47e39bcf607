package sieve

import (
	"context"
	"errors"
	"os"
	"testing"
)

// fuzzMessage is rich enough for every test to find something.
func fuzzMessage(t testing.TB) []byte {
	b, err := os.ReadFile("testdata/messages/multipart.eml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fuzzEnv() Env {
	return Env{From: "alice@example.org", To: "bob+x@example.com",
		Spam: &ScoreConfig{Header: "X-Spam-Score", Max: 10}, Virus: &ScoreConfig{Header: "X-Virus", Max: 5},
		Duplicates: seenAll(false), MailboxExists: func(string) bool { return true },
		Limits: RunLimits{MaxSteps: 20000}}
}

// FuzzCompile: no script, however broken, panics the compiler or the
// interpreter; what compiles runs to a result or an *Error.
func FuzzCompile(f *testing.F) {
	for _, c := range loadCases(f) {
		f.Add([]byte(c.script))
	}
	msg := fuzzMessage(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		s, err := Compile(src, Options{Loader: testLoader(), MaxScriptSize: 64 << 10})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || errors.Is(err, ErrInternal) {
				t.Fatalf("compile: %v", err)
			}
			return
		}
		_, err = s.Run(context.Background(), ParseMessage(msg), fuzzEnv())
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || errors.Is(err, ErrInternal) {
				t.Fatalf("run: %v", err)
			}
		}
	})
}

// FuzzRun: no message breaks a script that uses every test.
func FuzzRun(f *testing.F) {
	for _, name := range []string{"plain", "list", "encoded", "multipart", "addresses"} {
		b, err := os.ReadFile("testdata/messages/" + name + ".eml")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	src, err := os.ReadFile("testdata/fuzz/everything.sieve")
	if err != nil {
		f.Fatal(err)
	}
	s, err := Compile(src, Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		_, err := s.Run(context.Background(), ParseMessage(msg), fuzzEnv())
		if err != nil && errors.Is(err, ErrInternal) {
			t.Fatal(err)
		}
	})
}
