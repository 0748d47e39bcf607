package sieve

import (
	"errors"
	"strings"
	"testing"
)

// Compile errors carry the place a user must edit.
func TestErrorPositions(t *testing.T) {
	tests := []struct {
		src       string
		line, col int
		msg       string
	}{
		{"keep", 1, 5, "missing ';' after command 'keep'"},
		{"keep;\nfoo;", 2, 1, "unknown command 'foo'"},
		{"require \"fileinto\";\nif true {\n  fileinto \"a\";\n", 2, 9, "never closed with '}'"},
		{"if true { keep; }}", 1, 18, "'}' without a matching '{'"},
		{"fileinto \"x\";", 1, 1, "needs require \"fileinto\""},
		{"require \"nosuch\";", 1, 9, "\"nosuch\" is not supported"},
		{"keep;\nrequire \"fileinto\";", 2, 1, "require must come at the beginning"},
		{"if header :is :contains \"a\" \"b\" { keep; }", 1, 15, "cannot be used together"},
		{"if header :bogus \"a\" \"b\" { keep; }", 1, 11, "no tag :bogus"},
		{"if header \"a\" :is \"b\" { keep; }", 1, 15, "must come before"},
		{"if header \"a\" { keep; }", 1, 4, "takes 2 arguments, not 1"},
		{"if size 100 { keep; }", 1, 4, "needs :over or :under"},
		{"if true keep;", 1, 9, "is a '{' or ';' missing before 'keep'?"},
		{"if anyof true { keep; }", 1, 4, "needs a list of tests"},
		{"else { keep; }", 1, 1, "must follow an 'if'"},
		{"keep { }", 1, 1, "takes no block"},
		{"if true;", 1, 1, "needs a block"},
		{"header \"a\" \"b\";", 1, 1, "is a test, not a command"},
		{"if keep { }", 1, 4, "is a command, not a test"},
		{"/* open", 1, 1, "never closed with */"},
		{"redirect \"not an address\";", 1, 10, "not a valid mail address"},
		{"redirect \"a@b\n", 1, 10, "never closed with \""},
		{"reject text:\nfoo\n", 1, 8, "never ends with a line holding only '.'"},
		{"if size :over 1X { keep; }", 1, 15, "may only be followed by K, M or G"},
		{"if size :over 99999999999999999999 { keep; }", 1, 15, "number is too large"},
		{"require \"variables\";\nset \"1bad\" \"x\";", 2, 5, "not a valid variable name"},
		{"require [\"regex\"];\nif header :regex \"subject\" \"a(\" { keep; }", 2, 28, "invalid regular expression"},
		{"require \"relational\";\nif header :count \"xx\" \"a\" \"1\" { keep; }", 2, 18, "no relational operator"},
		{"if header :comparator \"i;ascii-numeric\" \"a\" \"1\" { keep; }", 1, 23, "needs require \"comparator-i;ascii-numeric\""},
		{"require \"comparator-i;ascii-numeric\";\nif header :contains :comparator \"i;ascii-numeric\" \"a\" \"1\" { keep; }", 2, 11, "cannot be used with :contains"},
		{"require \"date\";\nif date \"date\" \"century\" \"x\" { keep; }", 2, 16, "unknown date part"},
		{"require \"index\";\nif header :last \"a\" \"b\" { keep; }", 2, 11, "needs :index"},
		{"if header \"bad name\" \"x\" { keep; }", 1, 11, "not a valid header field name"},
		{"require \"variables\";\nkeep; # é\nfileinto \"${foo.bar}\";", 3, 1, "needs require \"fileinto\""},
		{"require [\"variables\", \"fileinto\"];\nfileinto \"${foo.bar}\";", 2, 10, "unknown variable namespace"},
		{"require [\"encoded-character\", \"reject\"];\nreject \"${unicode:D800}\";", 2, 8, "not a valid Unicode character"},
		{"require \"include\";\ninclude \"nothere\";", 2, 1, "included scripts are not available"},
		{"  \"é\" keep;", 1, 3, "expected a command"},
		{"keep;\n  é", 2, 3, "unexpected character"},
	}
	for _, tt := range tests {
		_, err := Compile([]byte(tt.src), Options{})
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: got %v, want an *Error", tt.src, err)
			continue
		}
		if e.Line != tt.line || e.Col != tt.col || !strings.Contains(e.Msg, tt.msg) {
			t.Errorf("%q:\n got %d:%d %s\nwant %d:%d ...%s...", tt.src, e.Line, e.Col, e.Msg, tt.line, tt.col, tt.msg)
		}
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Script: "lists", Line: 3, Col: 7, Msg: "unknown command 'foo'"}
	if got, want := e.Error(), "lists: line 3, column 7: unknown command 'foo'"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// An error in an included script names that script.
func TestIncludeErrors(t *testing.T) {
	loader := LoaderFunc(func(loc Location, name string) ([]byte, error) {
		switch name {
		case "bad":
			return []byte("keep;\nfrobnicate;"), nil
		case "self":
			return []byte("require \"include\";\ninclude \"self\";"), nil
		}
		return nil, ErrNotFound
	})
	tests := []struct{ src, want string }{
		{"require \"include\";\ninclude \"bad\";", "bad: line 2, column 1: unknown command 'frobnicate'"},
		{"require \"include\";\ninclude \"self\";", "self: line 2, column 1: the personal script \"self\" includes itself"},
		{"require \"include\";\ninclude :global \"missing\";", "line 2, column 1: the global script \"missing\" does not exist"},
	}
	for _, tt := range tests {
		_, err := Compile([]byte(tt.src), Options{Loader: loader})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.src, err, tt.want)
		}
	}
	_, err := Compile([]byte("require \"include\";\ninclude \"loop-a\";"), Options{Loader: testLoader()})
	if err == nil || !strings.Contains(err.Error(), "includes itself") {
		t.Errorf("include loop: got %v", err)
	}
	if _, err := Compile([]byte("require \"include\";\ninclude :optional \"missing\";"), Options{Loader: loader}); err != nil {
		t.Errorf(":optional missing: %v", err)
	}
}
