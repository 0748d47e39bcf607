package folder

import (
	"errors"
	"strings"
	"testing"

	"github.com/storaged/storaged/internal/safefs"
)

func TestCheckName(t *testing.T) {
	good := []string{"INBOX", "Sent", "Archive/2024", "Entwürfe", "日本語/メール", "a b", "x&y", "a~b"}
	for _, n := range good {
		if err := CheckName(n); err != nil {
			t.Errorf("CheckName(%q) = %v, want nil", n, err)
		}
	}
	bad := []string{"", "..", "../x", "a/../b", "a//b", "/a", "a/", ".hidden", "a.b", "a\x00b",
		"a\nb", "a\\b", "a*", "%", "\xff\xfe", " lead", "trail ", string(make([]byte, 600)),
		"~", "~root", "a/~b", "%2e%2e", "a%2fb", "\x00", "INBOX/..", "./a", "a/.", "/", "//"}
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

// TestEncodedEscapes: modified UTF-7 that would decode to the characters
// CheckName refuses never decodes.
func TestEncodedEscapes(t *testing.T) {
	for _, s := range []string{
		"&AC4ALgAv-",     // "../"
		"&AC4ALg-",       // ".."
		"&AC8-etc",       // "/etc"
		"&AFw-",          // "\"
		"&AH4-root",      // "~root"
		"&ACU-2e",        // "%2e"
		"a&AC4ALgAv-etc", // "a../etc"
	} {
		if d, err := DecodeMUTF7(s); err == nil {
			t.Errorf("DecodeMUTF7(%q) = %q, want an error", s, d)
		}
	}
	// NUL encoded decodes, and CheckName refuses it.
	if d, err := DecodeMUTF7("a&AAA-b"); err != nil || CheckName(d) == nil {
		t.Errorf("encoded NUL: %q, %v, CheckName %v", d, err, CheckName(d))
	}
}

// FuzzWireName: whatever a client sends, a name that decodes and passes
// CheckName gives, level by level as the formats write them, components
// the store's file access accepts, none hidden or escaping.
func FuzzWireName(f *testing.F) {
	for _, s := range []string{"INBOX", "Archive/2024", "&AC4ALgAv-etc", "a/../b", "~root", "%2e%2e", "a&AAA-b",
		"Entw&APw-rfe/x", "INBOX/51", "a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, wire string) {
		name, err := DecodeMUTF7(wire)
		if err != nil || CheckName(name) != nil {
			return
		}
		for _, level := range strings.Split(CanonicalName(name), Separator) {
			enc := EncodeMUTF7(level)
			// Length is each format's to bound (CheckOnDisk): a Maildir++
			// folder holds all levels in one file name.
			if len(enc) > 255 {
				if CheckOnDisk(enc) == nil {
					t.Fatalf("%q: a level of %d octets passes CheckOnDisk", wire, len(enc))
				}
				continue
			}
			if err := safefs.CheckPath(enc); err != nil || strings.ContainsAny(enc, "/\\\x00") ||
				strings.HasPrefix(enc, ".") || strings.HasPrefix(enc, "~") {
				t.Fatalf("%q: level %q is on disk %q (%v)", wire, level, enc, err)
			}
		}
	})
}

func TestCheckOnDisk(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, rel := range []string{"", "inbox", ".Archive.2024", "A.sbd/B"} {
		if err := CheckOnDisk(rel); err != nil {
			t.Errorf("CheckOnDisk(%q) = %v", rel, err)
		}
	}
	for _, rel := range []string{long, "A.sbd/" + long, "." + long} {
		if err := CheckOnDisk(rel); !errors.Is(err, ErrBadName) {
			t.Errorf("CheckOnDisk(%.20q…) = %v, want ErrBadName", rel, err)
		}
	}
}
