package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/storaged/storaged/quota"
)

func quotaAccount(tb testing.TB, l quota.Limits) (*Accounts, *Account) {
	tb.Helper()
	dir := tb.TempDir()
	accts := NewAccounts(Options{MailDir: filepath.Join(dir, "mail"), IndexDir: filepath.Join(dir, "index"), LockWait: time.Second,
		Quota: QuotaOptions{Limits: func(string) (quota.Limits, error) { return l, nil }, Warnings: []int{80}}})
	acct, err := accts.Open(context.Background(), "u")
	if err != nil {
		tb.Fatal(err)
	}
	return accts, acct
}

// A reservation counts until it is released; what was committed counts
// through the index totals; a failed append leaves no reservation.
func TestReservations(t *testing.T) {
	accts, a := quotaAccount(t, quota.Limits{Storage: 100, Rules: []quota.Rule{{Mailbox: "Junk", Ignore: true}}})
	defer accts.Close()
	inbox, _ := a.Mailbox("INBOX")
	junk, _ := a.Mailbox("Junk")
	r1, err := a.reserve(inbox, quota.Usage{Storage: 60, Messages: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.reserve(inbox, quota.Usage{Storage: 41, Messages: 1}); !errors.Is(err, quota.ErrOverQuota) {
		t.Fatalf("second reservation past the limit: %v", err)
	}
	if r, err := a.reserve(junk, quota.Usage{Storage: 1000, Messages: 1}); err != nil || r != nil {
		t.Fatalf("ignored mailbox: %v %v", r, err)
	}
	r1.release()
	if _, err := inbox.Append(context.Background(), make([]byte, 101), AppendOptions{}); !errors.Is(err, quota.ErrOverQuota) {
		t.Fatalf("append past the limit: %v", err)
	}
	if a.reserved != (quota.Usage{}) {
		t.Fatalf("left reserved: %+v", a.reserved)
	}
	if _, err := inbox.Append(context.Background(), []byte("Subject: x\r\n\r\n"), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if u, _ := a.Usage(); u != (quota.Usage{Storage: 14, Messages: 1}) || a.reserved != (quota.Usage{}) {
		t.Fatalf("usage %+v, reserved %+v", u, a.reserved)
	}
}

// BenchmarkReserve is what a delivery pays for quota: one reservation and
// its release (limits with a mailbox rule, so the mailbox name is read).
func BenchmarkReserve(b *testing.B) {
	accts, a := quotaAccount(b, quota.Limits{Storage: 1 << 40, Messages: 1 << 30, Rules: []quota.Rule{{Mailbox: "Trash", Storage: quota.Value{Set: true, Relative: true, N: 1 << 20}}}})
	defer accts.Close()
	inbox, _ := a.Mailbox("INBOX")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := a.reserve(inbox, quota.Usage{Storage: 4096, Messages: 1})
		if err != nil {
			b.Fatal(err)
		}
		r.release()
	}
}
