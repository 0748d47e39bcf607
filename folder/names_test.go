package folder

import (
	"errors"
	"testing"
)

func TestCheckName(t *testing.T) {
	good := []string{"INBOX", "Sent", "Archive/2024", "Entwürfe", "日本語/メール", "a b", "x&y"}
	for _, n := range good {
		if err := CheckName(n); err != nil {
			t.Errorf("CheckName(%q) = %v, want nil", n, err)
		}
	}
	bad := []string{"", "..", "../x", "a/../b", "a//b", "/a", "a/", ".hidden", "a.b", "a\x00b",
		"a\nb", "a\\b", "a*", "%", "\xff\xfe", " lead", "trail ", string(make([]byte, 600))}
	for _, n := range bad {
		if err := CheckName(n); !errors.Is(err, ErrBadName) {
			t.Errorf("CheckName(%q) = %v, want ErrBadName", n, err)
		}
	}
}

func TestMUTF7(t *testing.T) {
	cases := map[string]string{
		"INBOX":          "INBOX",
		"Entwürfe":       "Entw&APw-rfe",
		"a&b":            "a&-b",
		"日本語":            "&ZeVnLIqe-",
		"~peter/mail/台北": "~peter/mail/&U,BTFw-",
		"😀":              "&2D3eAA-",
	}
	for in, want := range cases {
		got := EncodeMUTF7(in)
		if got != want {
			t.Errorf("EncodeMUTF7(%q) = %q, want %q", in, got, want)
		}
		back, err := DecodeMUTF7(got)
		if err != nil || back != in {
			t.Errorf("DecodeMUTF7(%q) = %q, %v, want %q", got, back, err, in)
		}
	}
	for _, bad := range []string{"&", "&Jjo", "&AGE-", "a\x01", "&U,BTF-"} {
		if _, err := DecodeMUTF7(bad); err == nil {
			t.Errorf("DecodeMUTF7(%q) accepted", bad)
		}
	}
}

func FuzzMUTF7(f *testing.F) {
	for _, s := range []string{"INBOX", "Entw&APw-rfe", "&-", "&ZeVnLIqe-", "&2D3eAA-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		dec, err := DecodeMUTF7(s)
		if err != nil {
			return
		}
		if back, err := DecodeMUTF7(EncodeMUTF7(dec)); err != nil || back != dec {
			t.Fatalf("round trip of %q: %q %v", dec, back, err)
		}
	})
}
