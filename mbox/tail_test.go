package mbox

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/storaged/storaged/folder"
)

// deadPid is above any pid_max Linux allows: no process has it.
const deadPid = 999999999

func tornRecord() []byte {
	return AppendRecord(nil, "a@example.org", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		[]byte("Subject: torn\n\n"+strings.Repeat("a line of the torn message\n", 100)), folder.Flags{}, false)
}

func appendRaw(t *testing.T, path string, b []byte) {
	t.Helper()
	fd, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	if _, err := fd.Write(b); err != nil {
		t.Fatal(err)
	}
}

// crashedAppend leaves what a storaged killed in the middle of an append
// leaves: its journal entry (token, inode, sizes), its dotlock with that
// token and a pid that is gone, and half the record.
func crashedAppend(t *testing.T, s *Store, rec []byte) {
	t.Helper()
	f := inboxOf(t, s)
	path := filepath.Join(s.root, "INBOX")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	token := "0123456789abcdef01234567"
	in := intent{token: token, ino: st.Sys().(*syscall.Stat_t).Ino, before: st.Size(), after: st.Size() + int64(len(rec))}
	if err := f.journal().record(in); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path+".lock", []byte(fmt.Sprintf("%d %s\n", deadPid, token)), 0o600)
	appendRaw(t, path, rec[:len(rec)/2])
}

// openWithState is Open with a StateDir beside the store.
func openWithState(t *testing.T, root string) *Store {
	t.Helper()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	s.StateDir = root + ".state"
	return s
}

// A storaged that died in the middle of an append left its intent in its
// journal and its token in the dotlock: whoever comes next cuts the half
// record off, reader or writer.
func TestTornAppendIsCut(t *testing.T) {
	for _, next := range []string{"scan", "append"} {
		t.Run(next, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "mail")
			s := openWithState(t, root)
			f := inboxOf(t, s)
			e1 := add(t, f, "Subject: one\r\n\r\nx\r\n")
			path := filepath.Join(root, "INBOX")
			before, _ := os.ReadFile(path)
			crashedAppend(t, s, tornRecord())

			want := 1
			if next == "append" {
				add(t, f, "Subject: two\r\n\r\ny\r\n")
				want = 2
			}
			ents, _, err := f.Scan(context.Background())
			if err != nil || len(ents) != want || ents[0].Key != e1.Key {
				t.Fatalf("after the torn append: %+v, %v", ents, err)
			}
			after, _ := os.ReadFile(path)
			if !bytes.HasPrefix(after, before) || bytes.Contains(after, []byte("torn")) {
				t.Fatalf("the half record is still there:\n%s", after)
			}
			if _, err := os.Stat(path + ".lock"); err == nil {
				t.Fatal("the dead lock is still there")
			}
			if _, ok := f.journal().read(); ok {
				t.Fatal("the journal still records the append")
			}
		})
	}
}

// What a lock file says is never a reason to cut a mailbox: a lock
// another program or the user made, with a dead pid and made-up sizes
// (the form older storaged wrote), a token the journal does not hold, a
// replay of a token whose append finished, a link to a file elsewhere.
// Each is broken (or waited out) and the file keeps every byte.
func TestForgedLockNeverCuts(t *testing.T) {
	for _, tc := range []struct {
		name string
		lock func(t *testing.T, s *Store, path string, size int64)
	}{
		{"dead pid and sizes", func(t *testing.T, s *Store, path string, size int64) {
			os.WriteFile(path+".lock", []byte(fmt.Sprintf("%d 0 %d\n", deadPid, size*2)), 0o600)
		}},
		{"dead pid, token not ours", func(t *testing.T, s *Store, path string, size int64) {
			os.WriteFile(path+".lock", []byte(fmt.Sprintf("%d feedfacefeedfacefeedface\n", deadPid)), 0o600)
		}},
		{"token of a finished append", func(t *testing.T, s *Store, path string, size int64) {
			// An append records and then clears its intent; a lock that
			// shows its token afterwards is a replay.
			st, _ := os.Stat(path)
			j := inboxOf(t, s).journal()
			j.record(intent{token: "0123456789abcdef01234567", ino: st.Sys().(*syscall.Stat_t).Ino, before: 0, after: size * 2})
			j.clear()
			os.WriteFile(path+".lock", []byte(fmt.Sprintf("%d 0123456789abcdef01234567\n", deadPid)), 0o600)
		}},
		{"journal of another inode", func(t *testing.T, s *Store, path string, size int64) {
			inboxOf(t, s).journal().record(intent{token: "0123456789abcdef01234567", ino: 1, before: 0, after: size * 2})
			os.WriteFile(path+".lock", []byte(fmt.Sprintf("%d 0123456789abcdef01234567\n", deadPid)), 0o600)
		}},
		{"our pid from before we started", func(t *testing.T, s *Store, path string, size int64) {
			os.WriteFile(path+".lock", []byte(fmt.Sprintf("%d 0 1\n", os.Getpid())), 0o600)
			old := processStart.Add(-time.Hour)
			os.Chtimes(path+".lock", old, old)
		}},
		{"link to a file elsewhere", func(t *testing.T, s *Store, path string, size int64) {
			other := filepath.Join(filepath.Dir(s.root), "elsewhere")
			os.WriteFile(other, []byte(fmt.Sprintf("%d 0 %d\n", deadPid, size*2)), 0o600)
			old := time.Now().Add(-time.Hour)
			os.Chtimes(other, old, old)
			os.Symlink(other, path+".lock")
			lchtimes(path+".lock", old)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "mail")
			s := openWithState(t, root)
			f := inboxOf(t, s)
			add(t, f, "Subject: one\r\n\r\nx\r\n")
			path := filepath.Join(root, "INBOX")
			// A tail another program left half written.
			appendRaw(t, path, tornRecord()[:700])
			before, _ := os.ReadFile(path)
			tc.lock(t, s, path, int64(len(before)))
			add(t, f, "Subject: two\r\n\r\ny\r\n")
			after, _ := os.ReadFile(path)
			if !bytes.HasPrefix(after, before) {
				t.Fatalf("the file lost bytes under a lock that was not ours: %d octets, had %d", len(after), len(before))
			}
			if ents, _, err := f.Scan(context.Background()); err != nil || len(ents) != 3 {
				t.Fatalf("%d messages, %v", len(ents), err)
			}
			if b, err := os.ReadFile(filepath.Join(filepath.Dir(root), "elsewhere")); err == nil && !bytes.HasPrefix(b, []byte(strconv.Itoa(deadPid))) {
				t.Fatalf("the lock's link target changed: %q", b)
			}
		})
	}
}

// lchtimes sets the times of a link itself.
func lchtimes(p string, t time.Time) {
	ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// A half record with no intent (another program died writing it) is a
// message, the bytes being all anyone has of it; our next append ends it
// cleanly and leaves it as it read.
func TestTornTailOfOthersIsAMessage(t *testing.T) {
	root := t.TempDir()
	s, _ := Open(root)
	f := inboxOf(t, s)
	e1 := add(t, f, "Subject: one\r\n\r\nx\r\n")
	path := filepath.Join(root, "INBOX")
	rec := tornRecord()
	appendRaw(t, path, rec[:len(rec)/2])
	ents, _, err := f.Scan(context.Background())
	if err != nil || len(ents) != 2 || ents[0].Key != e1.Key {
		t.Fatalf("scan: %+v, %v", ents, err)
	}
	torn := readEntry(t, f, ents[1])
	e3 := add(t, f, "Subject: three\r\n\r\nz\r\n")
	ents, _, _ = f.Scan(context.Background())
	if len(ents) != 3 || ents[0].Key != e1.Key || ents[2].Key != e3.Key {
		t.Fatalf("after our append: %+v", ents)
	}
	// It ended mid-line: it gains the line break every reader must give it.
	if got := readEntry(t, f, ents[1]); !bytes.Equal(got, append(torn, '\r', '\n')) {
		t.Fatalf("the torn message changed:\n%q\nwas\n%q", got, torn)
	}
}

// neomutt takes no dotlock: a message it appended after a dead
// storaged's half record must not be cut off with it.
func TestTornAppendFollowedByOthers(t *testing.T) {
	root := filepath.Join(t.TempDir(), "mail")
	s := openWithState(t, root)
	f := inboxOf(t, s)
	add(t, f, "Subject: one\r\n\r\nx\r\n")
	path := filepath.Join(root, "INBOX")
	crashedAppend(t, s, tornRecord())
	appendRaw(t, path, []byte("\n\nFrom mutt@example.org Mon Mar  2 10:00:00 2020\nSubject: by neomutt\n\nhi\n"))
	ents, _, err := f.Scan(context.Background())
	if err != nil || len(ents) != 3 {
		t.Fatalf("scan: %d entries, %v", len(ents), err)
	}
	if got := string(readEntry(t, f, ents[2])); got != "Subject: by neomutt\r\n\r\nhi\r\n" {
		t.Fatalf("neomutt's message reads %q", got)
	}
}

// A dotlock with our own pid from before this process started was left
// by an earlier run that had the same pid (pid 1 in a container).
func TestLockOfEarlierRunIsStale(t *testing.T) {
	root := t.TempDir()
	s, _ := Open(root)
	s.LockWait = 200 * time.Millisecond
	f := inboxOf(t, s)
	lock := filepath.Join(root, "INBOX.lock")
	os.WriteFile(lock, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o600)
	// Ours and fresh: held.
	if _, err := f.Append(context.Background(), folder.NewMessage{Data: []byte("x\r\n")}); err == nil {
		t.Fatal("append went through a lock of this process")
	}
	old := processStart.Add(-time.Minute)
	os.Chtimes(lock, old, old)
	add(t, f, "Subject: after\r\n\r\n")
}

// What goes between the last message and a new one keeps the last one
// as it read, whoever wrote the file and however it ends.
func TestTailSeparator(t *testing.T) {
	from := "From x@example.org Thu Jan  1 00:00:00 2015\n"
	for _, tc := range []struct{ name, file string }{
		{"ours", from + "Subject: a\n\nbody\n\n"},
		{"no final blank line", from + "Subject: a\n\nbody\n"},
		{"mid-line", from + "Subject: a\n\nbody"},
		{"crlf", strings.ReplaceAll(from+"Subject: a\n\nbody\n\n", "\n", "\r\n")},
		{"crlf without blank line", strings.ReplaceAll(from+"Subject: a\n\nbody\n", "\n", "\r\n")},
		{"content-length ending in a blank line", from + "Content-Length: 6\nSubject: a\n\nbody\n\n"},
		{"blank lines at the end", from + "Subject: a\n\nbody\n\n\n\n"},
		{"garbage only", "not a mailbox\n"},
		{"nothing", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			s, _ := Open(root)
			path := filepath.Join(root, "INBOX")
			os.WriteFile(path, []byte(tc.file), 0o600)
			b := []byte(tc.file)
			var was [][]byte
			for _, r := range Split(b) {
				was = append(was, Content(b, r))
			}
			msg := "Subject: new\r\n\r\nFrom me\r\n"
			add(t, inboxOf(t, s), msg)
			b, _ = os.ReadFile(path)
			recs := Split(b)
			if len(recs) != len(was)+1 {
				t.Fatalf("%d records after the append, want %d:\n%q", len(recs), len(was)+1, b)
			}
			for i, w := range was {
				got := Content(b, recs[i])
				if tc.name == "mid-line" {
					w = append(w, '\n')
				}
				if !bytes.Equal(got, w) {
					t.Errorf("message %d now reads %q, was %q", i, got, w)
				}
			}
			if got := string(Content(b, recs[len(was)])); got != strings.ReplaceAll(msg, "\r\n", "\n") {
				t.Errorf("the new message reads %q", got)
			}
		})
	}
}

// A rewrite keeps the bytes before the first message and the file's
// mode, and its listing is the one a fresh scan makes.
func TestRewriteKeepsPreambleAndMode(t *testing.T) {
	root := t.TempDir()
	s, _ := Open(root)
	f := inboxOf(t, s)
	path := filepath.Join(root, "INBOX")
	os.WriteFile(path, []byte("a preamble some tool left\n\n"), 0o640)
	os.Chmod(path, 0o640)
	es := appendAll(t, f, interopMessages, nil)
	if err := f.Remove([]folder.Entry{es[1]}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if !bytes.HasPrefix(b, []byte("a preamble some tool left\n\n")) {
		t.Fatalf("preamble lost:\n%s", b)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v after the rewrite", st.Mode().Perm())
	}
	cached, _, _ := f.Scan(context.Background())
	s2, _ := Open(root)
	fresh, _, _ := inboxOf(t, s2).Scan(context.Background())
	if len(cached) != 3 || len(fresh) != 3 {
		t.Fatalf("%d cached, %d fresh", len(cached), len(fresh))
	}
	for i := range fresh {
		c, w := cached[i], fresh[i]
		if c.Key != w.Key || c.Name != w.Name || !c.Flags.Equal(w.Flags) || c.Size != w.Size || !c.Date.Equal(w.Date) {
			t.Errorf("entry %d: cached %+v, fresh %+v", i, c, w)
		}
	}
	// Stat, like Open, follows a stale Name.
	if st, err := f.Stat(es[3]); err != nil || st.Name == es[3].Name || st.Size != fresh[2].Size {
		t.Fatalf("Stat(stale) = %+v, %v", st, err)
	}
}

// A listing read while the file's mtime was fresh is not reused: a change
// in the same clock tick, of the same size, keeps the token.
func TestUnsettledListingIsNotReused(t *testing.T) {
	root := t.TempDir()
	s, _ := Open(root)
	f := inboxOf(t, s)
	path := filepath.Join(root, "INBOX")
	file := "From x@example.org Thu Jan  1 00:00:00 2015\nX-Status: A\nSubject: a\n\nbody\n"
	os.WriteFile(path, []byte(file), 0o600)
	ents, tok, _ := f.Scan(context.Background())
	if len(ents) != 1 || !ents[0].Flags.Sys.Has(folder.Answered) {
		t.Fatalf("scan: %+v", ents)
	}
	st, _ := os.Stat(path)
	os.WriteFile(path, []byte(strings.Replace(file, "X-Status: A", "X-Status: F", 1)), 0o600)
	os.Chtimes(path, st.ModTime(), st.ModTime())
	if now, _ := f.Token(); !bytes.Equal(now, tok) {
		t.Skip("the file system gave the rewritten file another token")
	}
	ents, _, _ = f.Scan(context.Background())
	if !ents[0].Flags.Sys.Has(folder.Flagged) {
		t.Fatalf("the change hid behind an unsettled token: %+v", ents[0].Flags)
	}
}

// Fields mutt writes when it rewrites a file are not the message's.
func TestMuttFieldsAreNotContent(t *testing.T) {
	file := "From x@example.org Thu Jan  1 00:00:00 2015\nSubject: a\nStatus: RO\nX-Status: F\nContent-Length: 5\nLines: 1\n\nbody\n"
	b := []byte(file)
	recs := Split(b)
	if got := string(Content(b, recs[0])); got != "Subject: a\n\nbody\n" {
		t.Fatalf("content %q", got)
	}
	if fl := Flags(b, recs[0]); fl.Sys != folder.Seen|folder.Flagged {
		t.Fatalf("flags %+v", fl)
	}
	// A message's own Lines field survives our round trip.
	roundTrip(t, [][]byte{[]byte("Lines: 3\nSubject: a\n\nx\n")}, []folder.Flags{{}})
}
