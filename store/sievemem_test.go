package store

import (
	"testing"
	"time"
)

// The memory answers what was recorded until it expires, keeps vacation
// and duplicate keys apart, and survives a reopen of the account (it is in
// the index, durable).
func TestSieveMemory(t *testing.T) {
	dir := t.TempDir()
	accts, a := openAccount(t, dir)
	m := a.SieveMemory()
	now := time.Unix(1_800_000_000, 0)
	m.now = func() time.Time { return now }
	if err := m.Record([]Remember{{Key: "k", Period: time.Hour}}, []Remember{{Key: "d", Period: time.Minute}, {Key: "never", Period: 0}}); err != nil {
		t.Fatal(err)
	}
	check := func(what string, got bool, err error, want bool) {
		t.Helper()
		if err != nil || got != want {
			t.Fatalf("%s: got %v (%v), want %v", what, got, err, want)
		}
	}
	ok, err := m.Replied("k")
	check("reply", ok, err, true)
	ok, err = m.Seen(t.Context(), "d")
	check("duplicate", ok, err, true)
	ok, err = m.Seen(t.Context(), "k")
	check("a vacation key seen as a duplicate", ok, err, false)
	ok, err = m.Seen(t.Context(), "never")
	check("zero period", ok, err, false)

	accts.Close()
	accts, a = openAccount(t, dir)
	defer accts.Close()
	m = a.SieveMemory()
	m.now = func() time.Time { return now.Add(2 * time.Minute) }
	ok, err = m.Seen(t.Context(), "d")
	check("duplicate after expiry", ok, err, false)
	ok, err = m.Replied("k")
	check("reply after reopen", ok, err, true)

}
