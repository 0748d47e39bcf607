package quota

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseRule(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Rule
		err  bool
	}{
		{in: "*:storage=1G", want: Rule{Mailbox: "*", Storage: Value{Set: true, N: 1 << 30}}},
		// Dovecot: a bare storage number is kilobytes, bytes= is octets.
		{in: "*:storage=1048576", want: Rule{Mailbox: "*", Storage: Value{Set: true, N: 1 << 30}}},
		{in: "*:bytes=1000", want: Rule{Mailbox: "*", Storage: Value{Set: true, N: 1000}}},
		{in: "*:messages=10000", want: Rule{Mailbox: "*", Messages: Value{Set: true, N: 10000}}},
		{in: "*:storage=100M:messages=50", want: Rule{Mailbox: "*", Storage: Value{Set: true, N: 100 << 20}, Messages: Value{Set: true, N: 50}}},
		{in: "Trash:storage=+100M", want: Rule{Mailbox: "Trash", Storage: Value{Set: true, Relative: true, N: 100 << 20}}},
		{in: "Trash:storage=-10%", want: Rule{Mailbox: "Trash", Storage: Value{Set: true, Relative: true, Percent: true, N: -10}}},
		{in: "Big:storage=200%", want: Rule{Mailbox: "Big", Storage: Value{Set: true, Percent: true, N: 200}}},
		{in: "Spam:ignore", want: Rule{Mailbox: "Spam", Ignore: true}},
		{in: "a:b:ignore", want: Rule{Mailbox: "a:b", Ignore: true}},
		{in: "*:storage=512KiB", want: Rule{Mailbox: "*", Storage: Value{Set: true, N: 512 << 10}}},
		{in: "*:storage=2T", want: Rule{Mailbox: "*", Storage: Value{Set: true, N: 2 << 40}}},
		{in: "*:storage=100b", want: Rule{Mailbox: "*", Storage: Value{Set: true, N: 100}}},
		{in: "*:storage=none", want: Rule{Mailbox: "*", Storage: Value{Set: true}}},
		{in: "*:ignore", err: true},
		{in: "*:storage=lots", err: true},
		{in: "*:messages=1M", err: true},
		{in: "*:color=red", err: true},
		{in: "storage=1G", err: true},
		{in: ":storage=1G", err: true},
		{in: "", err: true},
	} {
		got, err := ParseRule(c.in)
		if c.err {
			if err == nil {
				t.Errorf("ParseRule(%q) = %+v, want an error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParseRule(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
}

func TestFromFields(t *testing.T) {
	def := Limits{Storage: 2 << 30}
	l, err := FromFields(def, map[string]string{
		"userdb_quota_rule":  "*:storage=1G",
		"userdb_quota_rule2": "Trash:storage=+100M",
		"userdb_quota_rule3": "Spam:ignore",
		"quota_rule10":       "*:messages=10000",
		"userdb_mail":        "maildir:~/Maildir",
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.Storage != 1<<30 || l.Messages != 10000 || len(l.Rules) != 2 {
		t.Fatalf("limits %+v", l)
	}
	if s, m := l.For("Trash"); s != 1<<30+100<<20 || m != 10000 {
		t.Errorf("For(Trash) = %d, %d", s, m)
	}
	if s, _ := l.For("INBOX"); s != 1<<30 {
		t.Errorf("For(INBOX) = %d", s)
	}
	if !l.Ignored("Spam") || l.Ignored("Trash") {
		t.Errorf("Ignored: Spam %v, Trash %v", l.Ignored("Spam"), l.Ignored("Trash"))
	}
	if got, err := FromFields(def, nil); err != nil || got.Storage != def.Storage {
		t.Errorf("no fields: %+v, %v", got, err)
	}
	if _, err := FromFields(def, map[string]string{"userdb_quota_rule": "*:storage=lots"}); err == nil {
		t.Error("a bad rule was taken")
	}
	// A relative rule for the user is relative to the default.
	if got, _ := FromFields(def, map[string]string{"quota_rule": "*:storage=+1G"}); got.Storage != 3<<30 {
		t.Errorf("relative: %d", got.Storage)
	}
}

func TestCheck(t *testing.T) {
	l := Limits{Storage: 1000, Messages: 3, Rules: []Rule{
		{Mailbox: "Trash", Storage: Value{Set: true, Relative: true, N: 500}},
		{Mailbox: "Spam", Ignore: true},
		{Mailbox: "inbox", Messages: Value{Set: true, N: 2}},
	}}
	for _, c := range []struct {
		u       Usage
		mailbox string
		add     Usage
		want    string // "" or the resource
	}{
		{Usage{0, 0}, "INBOX", Usage{1000, 1}, ""},
		{Usage{1, 0}, "INBOX", Usage{1000, 1}, Storage},
		{Usage{900, 1}, "Trash", Usage{500, 1}, ""},
		{Usage{900, 1}, "Trash", Usage{601, 1}, Storage},
		{Usage{5000, 9}, "Spam", Usage{5000, 1}, ""},
		{Usage{0, 2}, "INBOX", Usage{1, 1}, Message},
		{Usage{0, 2}, "Sent", Usage{1, 1}, ""},
		// Over a lowered limit: freeing and moving are never refused.
		{Usage{5000, 9}, "INBOX", Usage{-100, -1}, ""},
		{Usage{5000, 9}, "INBOX", Usage{0, 0}, ""},
	} {
		err := l.Check(c.u, c.mailbox, c.add)
		var ex *Exceeded
		switch {
		case c.want == "" && err != nil:
			t.Errorf("Check(%+v, %s, %+v) = %v, want nil", c.u, c.mailbox, c.add, err)
		case c.want != "" && (!errors.As(err, &ex) || ex.Resource != c.want || !errors.Is(err, ErrOverQuota)):
			t.Errorf("Check(%+v, %s, %+v) = %v, want %s exceeded", c.u, c.mailbox, c.add, err, c.want)
		}
	}
	if !l.Full(Usage{1000, 0}, "INBOX") || l.Full(Usage{999, 0}, "INBOX") {
		t.Error("Full")
	}
	if (Limits{}).Check(Usage{1 << 50, 1 << 40}, "INBOX", Usage{1 << 40, 1}) != nil || !(Limits{}).None() || l.None() {
		t.Error("no limits")
	}
}

func TestCrossed(t *testing.T) {
	l := Limits{Storage: 1000}
	th := []int{80, 95}
	for _, c := range []struct {
		before, after int64
		want          int
	}{
		{0, 100, 0}, {700, 800, 80}, {800, 900, 0}, {700, 990, 95}, {960, 990, 0}, {990, 700, 0}, {940, 950, 95},
	} {
		if got := l.Crossed(Usage{Storage: c.before}, Usage{Storage: c.after}, th); got != c.want {
			t.Errorf("Crossed(%d → %d) = %d, want %d", c.before, c.after, got, c.want)
		}
	}
}

func TestSizes(t *testing.T) {
	for in, want := range map[string]int64{"10G": 10 << 30, "100M": 100 << 20, "512k": 512 << 10, "1048576": 1048576, "2TiB": 2 << 40, "5MB": 5 << 20, "7B": 7} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "G", "-1", "1.5G", "12Q"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) took it", bad)
		}
	}
	for n, want := range map[int64]string{0: "0B", 900: "900B", 1536: "1.5K", 100 << 20: "100M", 1<<30 + 1<<29: "1.5G", 150 << 30: "150G"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestWarningMessage(t *testing.T) {
	when := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	got := string(WarningMessage("mx.example.org", "bob@example.org", 80, Usage{Storage: 820 << 20, Messages: 12}, Limits{Storage: 1 << 30, Messages: 100}, when))
	for _, want := range []string{
		"From: Mail System <postmaster@mx.example.org>\r\n", "To: <bob@example.org>\r\n", "Subject: Your mailbox is 80% full\r\n",
		"Date: Wed, 02 Dec 2026 10:00:00 +0000\r\n", "Auto-Submitted: auto-generated\r\n", "\r\n\r\nYour mailbox is 80% full.\r\n",
		"  Storage:  820M of 1G\r\n", "  Messages: 12 of 100\r\n", "Message-ID: <quota-80-",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warning lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(strings.ReplaceAll(got, "\r\n", ""), "\n") {
		t.Error("bare LF in the warning")
	}
}

func TestFormatRule(t *testing.T) {
	for _, s := range []string{"*:storage=1G", "*:storage=10G:messages=1000", "Trash:storage=+100M", "Trash:storage=-10%", "Spam:ignore", "*:bytes=1000", "*:storage=0", "*:messages=5", "Big:storage=200%"} {
		r, err := ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatRule(r); got != s {
			t.Errorf("FormatRule(ParseRule(%q)) = %q", s, got)
		}
	}
}
