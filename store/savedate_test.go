package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
)

// RFC 8514 §3: every way a message comes into a mailbox stamps its save
// date there (append, import, COPY, MOVE, a file another program dropped
// in); a flag change keeps it.
func TestSaveDate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	_, a := openAccount(t, dir)
	inbox, err := a.Mailbox("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	saved := func(t *testing.T, what, name string, from time.Time) []time.Time {
		t.Helper()
		to := time.Now()
		_, msgs := all(t, a, name)
		var out []time.Time
		for _, m := range msgs {
			if m.SaveDate.Before(from.Truncate(time.Second)) || m.SaveDate.After(to) {
				t.Fatalf("%s: uid %d saved %v, want in [%v, %v]", what, m.UID, m.SaveDate, from, to)
			}
			out = append(out, m.SaveDate)
		}
		return out
	}

	t0 := time.Now()
	if _, err := inbox.Append(ctx, msg(1), AppendOptions{Date: old}); err != nil {
		t.Fatal(err)
	}
	im, err := inbox.BeginImport(ctx, ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := im.Add(ctx, ImportMessage{Data: msg(2), Date: old}); err != nil {
		t.Fatal(err)
	}
	if err := im.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Behind the store's back, as procmail would.
	if err := os.WriteFile(filepath.Join(dir, "mail", "u", "new", "1000000000.M1P1.elsewhere"), msg(3), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := inbox.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	before := saved(t, "append, import, sync", "INBOX", t0)
	if len(before) != 3 {
		t.Fatalf("%d messages in INBOX, want 3", len(before))
	}
	if _, err := inbox.StoreFlags(ctx, []uint32{1, 2, 3}, FlagsAdd, folder.Flags{Sys: folder.Flagged}, nil); err != nil {
		t.Fatal(err)
	}
	for i, d := range saved(t, "after STORE", "INBOX", t0) {
		if !d.Equal(before[i]) {
			t.Fatalf("STORE changed uid %d's save date: %v, was %v", i+1, d, before[i])
		}
	}

	archive, err := a.Mailbox("Archive")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the copies' second differs from the originals'
	t1 := time.Now()
	if _, _, err := inbox.CopyTo(ctx, archive, []uint32{1}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := inbox.MoveTo(ctx, archive, []uint32{2, 3}, nil); err != nil {
		t.Fatal(err)
	}
	if got := saved(t, "copy and move", "Archive", t1); len(got) != 3 {
		t.Fatalf("%d messages in Archive, want 3", len(got))
	}
}
