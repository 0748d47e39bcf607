package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var cheap = HashParams{Memory: 1024, Time: 1, Threads: 1}

func openTest(t *testing.T, content string) (*DB, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "users")
	if content != "" {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db, err := Open(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.SetHashParams(cheap)
	return db, p
}

// Hashes made by other tools (Python's crypt on glibc/libxcrypt, openssl
// passwd, the argon2 reference CLI), all of the password "secret" except
// the argon2 reference vector ("password").
var vectors = []struct {
	hash, password string
}{
	{"{SHA512-CRYPT}$6$pJwgay3wW1RFUzto$kqZV6ykbCPtcfUmdtY4CQHizzGPWRZQhSldHMYvwCTX5lupqHDn9G6OcwRgyZVx7gvixZaFh7QEXgdNUmtTWM1", "secret"},
	{"{SHA512-CRYPT}$6$rounds=10000$saltsaltsalt$mxZLFC.27fmAOmrI3MHCgrNvevu4IGEUC1gDEROE3aOW7NYpdeD3Aqx8vf/dRCUEMDtPgGPhepq3R/j4C3Yvq/", "secret"},
	{"{SHA512-CRYPT}$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG.", "secret"},
	{"{SHA256-CRYPT}$5$TUbIhteN1KyTfie9$Xn4dECt12eGjSrsAD7a10V9zbE8AFddwOQf9tIwjbAA", "secret"},
	{"{MD5-CRYPT}$1$Y0uSvu9Q$XIgKgsEllZLJbaWtzl5s/0", "secret"},
	{"{BLF-CRYPT}$2b$12$pN4b8gmm3IVMVC4g.DUBtOpUplWYGwMevDWmlO0kQ0kB3eTAHN7/K", "secret"},
	{"{BLF-CRYPT}$2y$12$pN4b8gmm3IVMVC4g.DUBtOpUplWYGwMevDWmlO0kQ0kB3eTAHN7/K", "secret"},
	{"$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKPPrVACtLtip/cZ/1GM/O6IND4WQhG.", "secret"},
	{"{ARGON2I}$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", "password"},
	{"{PLAIN}secret", "secret"},
	{"{CLEAR}secret", "secret"},
}

func TestVectors(t *testing.T) {
	for _, v := range vectors {
		ok, err := VerifyHash(v.hash, v.password)
		if err != nil || !ok {
			t.Errorf("%.30s: right password: %v %v", v.hash, ok, err)
		}
		ok, err = VerifyHash(v.hash, v.password+"x")
		if err != nil || ok {
			t.Errorf("%.30s: wrong password accepted: %v %v", v.hash, ok, err)
		}
	}
	if _, err := VerifyHash("{NTLM}abcdef", "x"); !errors.Is(err, ErrUnknownScheme) {
		t.Errorf("unknown scheme: %v", err)
	}
	for _, bad := range []string{"{ARGON2ID}$argon2id$v=19$m=0,t=1,p=1$xx$yy", "{ARGON2ID}garbage", "{BLF-CRYPT}$2y$99$x"} {
		if ok, _ := VerifyHash(bad, "x"); ok {
			t.Errorf("%q verified", bad)
		}
	}
}

func TestArgon2idRoundTrip(t *testing.T) {
	h, err := Hash("correct horse", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "{ARGON2ID}$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash form %s", h)
	}
	if ok, err := VerifyHash(h, "correct horse"); !ok || err != nil {
		t.Fatalf("verify: %v %v", ok, err)
	}
	if ok, _ := VerifyHash(h, "Correct horse"); ok {
		t.Fatal("wrong password verified")
	}
}

func TestDatabase(t *testing.T) {
	db, path := openTest(t, "# migrated from dovecot\nold:{PLAIN}pw:1000:1000::/home/old::userdb_mail=maildir:~/Maildir\n\n")
	ctx := context.Background()
	if u, err := db.Verify(ctx, "OLD", "pw"); err != nil || u.Name != "old" || u.Extra["userdb_mail"] != "maildir:~/Maildir" || u.Home != "/home/old" {
		t.Fatalf("migrated user: %+v %v", u, err)
	}
	if err := db.Add("ann", "s3cret", map[string]string{"quota": "1G"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Add("Ann", "x", nil); !errors.Is(err, ErrUserExists) {
		t.Fatalf("case-insensitive duplicate: %v", err)
	}
	for _, bad := range []string{"", "..", "a:b", "a/b", "a b", ".x", "a\x00"} {
		if err := db.Add(bad, "x", nil); !errors.Is(err, ErrBadName) {
			t.Errorf("Add(%q) = %v", bad, err)
		}
	}
	if _, err := db.Verify(ctx, "ann", "s3cret"); err != nil {
		t.Fatal(err)
	}
	_, errWrong := db.Verify(ctx, "ann", "nope")
	_, errUnknown := db.Verify(ctx, "nobody", "s3cret")
	if !errors.Is(errWrong, ErrAuthFailed) || !errors.Is(errUnknown, ErrAuthFailed) || errWrong.Error() != errUnknown.Error() {
		t.Fatalf("wrong password %v / unknown user %v must look alike", errWrong, errUnknown)
	}
	if err := db.SetPassword("ann", "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Verify(ctx, "ann", "s3cret"); err == nil {
		t.Fatal("old password still works (cache not invalidated)")
	}
	// A fresh reader sees the same file, comments kept.
	db2, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db2.Verify(ctx, "ann", "new"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "# migrated from dovecot\nold:{PLAIN}pw:1000:1000::/home/old::userdb_mail=maildir:~/Maildir\n") {
		t.Fatalf("file rewritten badly:\n%s", data)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if err := db.Delete("old"); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete("old"); !errors.Is(err, ErrNoUser) {
		t.Fatal(err)
	}
	if got := len(db.List()); got != 1 {
		t.Fatalf("%d users", got)
	}
}

// Another process edits the file: the database notices.
func TestReload(t *testing.T) {
	db, path := openTest(t, "a:{PLAIN}x\n")
	if _, ok := db.Lookup("b"); ok {
		t.Fatal("b exists")
	}
	os.WriteFile(path, []byte("a:{PLAIN}x\nb:{PLAIN}y\n"), 0o600)
	future := time.Now().Add(2 * time.Second)
	os.Chtimes(path, future, future)
	db.main.mu.Lock()
	db.main.checked = time.Time{}
	db.main.mu.Unlock()
	if _, ok := db.Lookup("b"); !ok {
		t.Fatal("edit not seen")
	}
}

func TestCacheSkipsKDF(t *testing.T) {
	db, _ := openTest(t, "")
	db.Add("ann", "pw", nil)
	ctx := context.Background()
	calls := func() int64 { db.mu.Lock(); defer db.mu.Unlock(); return db.kdfCalls }
	db.Verify(ctx, "ann", "pw")
	n := calls()
	for i := 0; i < 5; i++ {
		if _, err := db.Verify(ctx, "ann", "pw"); err != nil {
			t.Fatal(err)
		}
	}
	if calls() != n {
		t.Fatalf("cached verifications ran the KDF %d times", calls()-n)
	}
	db.Verify(ctx, "ann", "wrong")
	db.Verify(ctx, "ann", "wrong")
	if calls() != n+2 {
		t.Fatalf("failures must not be cached: %d KDF calls", calls()-n)
	}
}

func TestConcurrent(t *testing.T) {
	db, _ := openTest(t, "")
	db.Add("ann", "pw", nil)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if _, err := db.Verify(context.Background(), "ann", "pw"); err != nil {
					t.Error(err)
				}
			}
			if i == 0 {
				for j := 0; j < 5; j++ {
					db.Add(fmt.Sprintf("u%d", j), "x", nil)
				}
			}
		}(i)
	}
	wg.Wait()
	if db.Len() != 6 {
		t.Fatalf("%d users", db.Len())
	}
}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{"a:{PLAIN}x", "old:{PLAIN}pw:1000:1000::/home/old::userdb_mail=maildir:~/Maildir", "# c", "", ":::::::", "a:b:c:d:e:f:g:h:i:j"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := parseLine(s)
		if err != nil || u == nil {
			return
		}
		if ValidName(u.Name) != nil {
			t.Fatalf("accepted bad name %q", u.Name)
		}
		if !strings.Contains(s, "\n") {
			back, err := parseLine(u.String())
			if err != nil || back.Name != u.Name || back.Hash != u.Hash {
				t.Fatalf("round trip of %q: %+v %v", s, back, err)
			}
		}
	})
}

func BenchmarkVerifyCached(b *testing.B) {
	p := filepath.Join(b.TempDir(), "users")
	db, _ := Open(p, nil)
	db.Add("ann", "pw", nil)
	ctx := context.Background()
	db.Verify(ctx, "ann", "pw")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		db.Verify(ctx, "ann", "pw")
	}
}

func BenchmarkVerifyArgon2id(b *testing.B) {
	h, _ := Hash("pw", DefaultHashParams)
	for i := 0; i < b.N; i++ {
		VerifyHash(h, "pw")
	}
}

func TestSetExtra(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	db, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.SetHashParams(HashParams{Memory: 64, Time: 1, Threads: 1})
	if err := db.Add("bob", "pw", map[string]string{"userdb_mail": "mbox"}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetExtra("bob", "userdb_quota_rule", "*:storage=1G"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetExtra("bob", "userdb_quota_rule2", "Trash:storage=+100M"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetExtra("bob", "userdb_quota_rule", "*:storage=2G"); err != nil {
		t.Fatal(err)
	}
	again, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := again.Lookup("bob")
	if u.ExtraRaw != "userdb_mail=mbox userdb_quota_rule=*:storage=2G userdb_quota_rule2=Trash:storage=+100M" || u.Extra["userdb_quota_rule"] != "*:storage=2G" {
		t.Fatalf("extra %q %v", u.ExtraRaw, u.Extra)
	}
	if err := again.SetExtra("bob", "userdb_quota_rule2", ""); err != nil {
		t.Fatal(err)
	}
	if u, _ := again.Lookup("bob"); u.ExtraRaw != "userdb_mail=mbox userdb_quota_rule=*:storage=2G" {
		t.Fatalf("after removal %q", u.ExtraRaw)
	}
	for _, bad := range [][2]string{{"a b", "x"}, {"k", "two words"}, {"", "x"}, {"k=v", "x"}} {
		if err := again.SetExtra("bob", bad[0], bad[1]); err == nil {
			t.Errorf("SetExtra(%q, %q) took it", bad[0], bad[1])
		}
	}
	if err := again.SetExtra("nobody", "k", "v"); !errors.Is(err, ErrNoUser) {
		t.Errorf("unknown user: %v", err)
	}
}
