package auth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Full-address users in the main file: two domains, one local part.
func TestFullAddressUsers(t *testing.T) {
	db, _ := openTest(t, "alice@a.example:{PLAIN}one\nalice@b.example:{PLAIN}two\nalice:{PLAIN}plain\n")
	ctx := context.Background()
	for _, c := range []struct{ name, pw, want string }{
		{"alice@a.example", "one", "alice@a.example"},
		{"ALICE@B.EXAMPLE", "two", "alice@b.example"},
		{"alice", "plain", "alice"},
	} {
		u, err := db.Verify(ctx, c.name, c.pw)
		if err != nil || u.Name != c.want {
			t.Errorf("%s: %+v %v", c.name, u.Name, err)
		}
	}
	if _, err := db.Verify(ctx, "alice@a.example", "two"); err == nil {
		t.Error("one domain's password opened the other's user")
	}
	if !db.HasDomain("a.example") || !db.HasDomain("B.example") || db.HasDomain("c.example") {
		t.Error("HasDomain")
	}
	for _, bad := range []string{"a@b@c", "@x", "x@", "a@b/c"} {
		if err := db.Add(bad, "x", nil); !errors.Is(err, ErrBadName) {
			t.Errorf("Add(%q) = %v", bad, err)
		}
	}
}

// users.file = "users/%d": one file per domain, lines by local part or
// by full address, names always full addresses.
func TestPerDomainFiles(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "users"), 0o700)
	os.WriteFile(filepath.Join(dir, "users", "a.example"), []byte("alice:{PLAIN}one\nbob@a.example:{PLAIN}bob\ncarol@b.example:{PLAIN}wrong-file\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "users", "b.example"), []byte("# b\nalice:{PLAIN}two:1000:1000::/home/b/alice::userdb_mail=mbox\n"), 0o600)
	// Not domains: skipped by List.
	os.WriteFile(filepath.Join(dir, "users", ".a.example.tmp-1"), []byte("x:{PLAIN}x\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "users", "Upper.Case"), []byte("x:{PLAIN}x\n"), 0o600)
	db, err := Open(filepath.Join(dir, "users", "%d"), nil)
	if err != nil {
		t.Fatal(err)
	}
	db.SetHashParams(cheap)
	ctx := context.Background()
	if u, err := db.Verify(ctx, "Alice@A.example", "one"); err != nil || u.Name != "alice@a.example" {
		t.Fatalf("alice@a: %+v %v", u, err)
	}
	if u, err := db.Verify(ctx, "alice@b.example", "two"); err != nil || u.Name != "alice@b.example" || u.MailFormat() != "mbox" || u.Home != "/home/b/alice" {
		t.Fatalf("alice@b: %+v %v", u, err)
	}
	if _, ok := db.Lookup("bob@a.example"); !ok {
		t.Fatal("a full address line in its domain's file")
	}
	if _, ok := db.Lookup("carol@b.example"); ok {
		t.Fatal("a line of another domain in a.example's file was taken")
	}
	for _, name := range []string{"alice", "alice@../users/a.example", "alice@a.example/..", "x@.a.example", "x@upper.case"} {
		if _, ok := db.Lookup(name); ok {
			t.Errorf("Lookup(%q) found someone", name)
		}
	}
	var names []string
	for _, u := range db.List() {
		names = append(names, u.Name)
	}
	if got := strings.Join(names, " "); got != "alice@a.example alice@b.example bob@a.example" || db.Len() != 3 {
		t.Fatalf("List = %s (%d)", got, db.Len())
	}
	// Add writes the local part into the domain's file, made if need be.
	if err := db.Add("dave@c.example", "pw", nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "users", "c.example"))
	if !strings.HasPrefix(string(data), "dave:{ARGON2ID}") {
		t.Fatalf("c.example's file: %q", data)
	}
	if err := db.Add("plain", "pw", nil); !errors.Is(err, ErrBadName) {
		t.Fatalf("a plain name with per-domain files: %v", err)
	}
	if err := db.SetPassword("alice@b.example", "new"); err != nil {
		t.Fatal(err)
	}
	data, _ = os.ReadFile(filepath.Join(dir, "users", "b.example"))
	if !strings.HasPrefix(string(data), "# b\nalice:{ARGON2ID}") || !strings.HasSuffix(string(data), ":1000:1000::/home/b/alice::userdb_mail=mbox\n") {
		t.Fatalf("b.example after passwd: %q", data)
	}
	if err := db.Delete("dave@c.example"); err != nil {
		t.Fatal(err)
	}
	if _, ok := db.Lookup("dave@c.example"); ok || !db.HasDomain("a.example") || db.HasDomain("z.example") {
		t.Fatal("delete / HasDomain")
	}
	// A domain file made by someone else is found at the next lookup.
	os.WriteFile(filepath.Join(dir, "users", "d.example"), []byte("eve:{PLAIN}e\n"), 0o600)
	if _, err := db.Verify(ctx, "eve@d.example", "e"); err != nil {
		t.Fatalf("a new domain file: %v", err)
	}
	for _, bad := range []string{filepath.Join(dir, "%d", "users"), filepath.Join(dir, "%d%d")} {
		if _, err := Open(bad, nil); err == nil {
			t.Errorf("Open(%q) accepted", bad)
		}
	}
}
