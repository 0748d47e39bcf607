package auth

import "testing"

func TestUsernameFormat(t *testing.T) {
	for _, c := range []struct{ format, in, want string }{
		{"%Lu", "Alice@Example.ORG", "alice@example.org"},
		{"", "Alice@Example.ORG", "Alice@Example.ORG"},
		{"%u", "Alice", "Alice"},
		{"%Ln", "Alice@Example.ORG", "alice"},
		{"%n@%Ld", "Alice@Example.ORG", "Alice@example.org"},
		{"%Uu", "ann", "ANN"},
		{"%d", "ann", ""},
		{"%{user}", "Ann@X", "Ann@X"},
		{"%L{username}+%{domain}", "Ann@X", "ann+X"},
		{"%%%Lu", "A", "%a"},
		{"x-%n", "a@b@c", "x-a"},
	} {
		f, err := ParseUsernameFormat(c.format)
		if err != nil {
			t.Errorf("%q: %v", c.format, err)
			continue
		}
		if got := f.Apply(c.in); got != c.want {
			t.Errorf("%q on %q = %q, want %q", c.format, c.in, got, c.want)
		}
	}
	for _, bad := range []string{"%", "%L", "%x", "%Lx", "%{user", "%{realm}"} {
		if _, err := ParseUsernameFormat(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestValidDomain(t *testing.T) {
	for _, d := range []string{"example.org", "a", "x-y.z_1"} {
		if !validDomain(d) {
			t.Errorf("%q refused", d)
		}
	}
	for _, d := range []string{"", ".", "..", "../x", "a/b", ".hidden", "a..b", "a.", "Example.org", "a b", "a\x00", "%d", "~x"} {
		if validDomain(d) {
			t.Errorf("%q accepted", d)
		}
	}
}
