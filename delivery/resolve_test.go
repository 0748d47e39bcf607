package delivery

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/storaged/storaged/auth"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "users")
	os.WriteFile(path, []byte("alice:{PLAIN}x\nbob:{PLAIN}x\nalice@a.example:{PLAIN}x\nalice@b.example:{PLAIN}x\ncarol@v.example:{PLAIN}x\n"), 0o600)
	users, err := auth.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &Deliverer{Users: users, Domains: []string{"example.org", "a.example"}, DetailDelimiter: "+-"}
	for _, c := range []struct{ addr, user, detail string }{
		{"alice@example.org", "alice", ""},         // local domain: the plain user
		{"Alice@Example.ORG.", "alice", ""},        // case, trailing dot
		{"alice@a.example", "alice@a.example", ""}, // a local domain's full-address user wins
		{"alice@b.example", "alice@b.example", ""}, // not local, but a user's domain
		{"ALICE+lists@b.example", "alice@b.example", "lists"},
		{"bob-x@example.org", "bob", "x"}, // each delimiter character
		{"bob+a+b@example.org", "bob", "a+b"},
		{"bob", "bob", ""}, // no domain
		{`"bob"@example.org`, "bob", ""},
		{"bob@[127.0.0.1]", "bob", ""},
		{"carol@v.example", "carol@v.example", ""},
	} {
		r, err := d.Resolve(c.addr)
		if err != nil || r.User != c.user || r.Detail != c.detail {
			t.Errorf("%s: %+v %v, want %s +%s", c.addr, r, err, c.user, c.detail)
		}
	}
	for _, c := range []struct {
		addr     string
		notLocal bool
	}{
		{"bob@b.example", false},        // b.example is a user's domain, bob is not in it
		{"bob@elsewhere.example", true}, // a plain user is only at local domains
		{"carol@example.org", false},    // a full-address user is only at its own domain
		{`"alice@b.example"@example.org`, false},
		{"+x@example.org", false},
		{"@example.org", false},
		{"nobody@v.example", false},
	} {
		_, err := d.Resolve(c.addr)
		if KindOf(err) != NoSuchUser || errors.Is(err, ErrNotLocal) != c.notLocal {
			t.Errorf("%s: %v (not local: want %v)", c.addr, err, c.notLocal)
		}
	}
}

func TestKeepMailbox(t *testing.T) {
	d := &Deliverer{}
	if got := d.keepMailbox(Recipient{Detail: "lists"}); got != "INBOX" {
		t.Errorf("without SaveToDetail: %s", got)
	}
	d.SaveToDetail = true
	for detail, want := range map[string]string{"lists": "lists", "": "INBOX", "inbox": "INBOX", "../x": "INBOX", "a/b": "a/b"} {
		if got := d.keepMailbox(Recipient{Detail: detail}); got != want {
			t.Errorf("detail %q: %s, want %s", detail, got, want)
		}
	}
}
