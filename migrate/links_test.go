package migrate

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A source is often a user's own directory: a link in it, there when the
// import lists the tree or swapped in after, never brings a file from
// elsewhere into the account.
func TestImportIgnoresLinks(t *testing.T) {
	const secret = "From root@localhost Mon Jan  2 15:04:05 2006\nSubject: SECRET\n\nroot:$6$hash\n"
	outside := filepath.Join(t.TempDir(), "shadow")
	write(t, outside, secret)
	ok := "From a@b Mon Jan  2 15:04:05 2006\nSubject: mine\n\nx\n"

	for _, kind := range []string{"mbox tree", "maildir", "mh"} {
		t.Run(kind, func(t *testing.T) {
			acct, _ := openAccount(t)
			tree := filepath.Join(t.TempDir(), "src")
			var swap string // a message file the test replaces with a link after listing
			switch kind {
			case "mbox tree":
				write(t, filepath.Join(tree, "INBOX"), ok)
				write(t, filepath.Join(tree, "Later"), ok)
				os.Symlink(outside, filepath.Join(tree, "Stolen"))
				os.Symlink(filepath.Dir(outside), filepath.Join(tree, "Dir.sbd"))
				swap = filepath.Join(tree, "Later")
			case "maildir":
				for _, d := range []string{"cur", "new", "tmp"} {
					os.MkdirAll(filepath.Join(tree, d), 0o700)
				}
				write(t, filepath.Join(tree, "cur", "1.M1P1.h:2,S"), "Subject: mine\n\nx\n")
				write(t, filepath.Join(tree, "cur", "2.M2P1.h:2,S"), "Subject: mine too\n\nx\n")
				os.Symlink(outside, filepath.Join(tree, "cur", "3.M3P1.h:2,S"))
				os.Symlink(filepath.Dir(outside), filepath.Join(tree, ".Stolen"))
				swap = filepath.Join(tree, "cur", "2.M2P1.h:2,S")
			case "mh":
				write(t, filepath.Join(tree, "inbox", "1"), "Subject: mine\n\nx\n")
				write(t, filepath.Join(tree, "inbox", "2"), "Subject: mine too\n\nx\n")
				os.Symlink(outside, filepath.Join(tree, "inbox", "3"))
				os.Symlink(filepath.Dir(outside), filepath.Join(tree, "Stolen"))
				swap = filepath.Join(tree, "inbox", "2")
			}
			src, err := Open(tree)
			if err != nil {
				t.Fatal(err)
			}
			folders, err := src.Folders()
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range folders {
				if strings.Contains(f.Name, "Stolen") || strings.Contains(f.Name, "Dir") {
					t.Errorf("a linked folder is listed: %s", f.Name)
				}
			}
			// Between listing and reading, the user swaps a file for a link.
			os.Remove(swap)
			os.Symlink(outside, swap)
			var got []string
			for _, f := range folders {
				f.Each(context.Background(), func(m *Message) error {
					got = append(got, string(m.Data))
					return nil
				})
			}
			for _, m := range got {
				if strings.Contains(m, "SECRET") {
					t.Fatalf("a file outside the source was imported: %q", m)
				}
			}
			if len(got) != 1 {
				t.Errorf("%d messages read, want the 1 that is still a file: %q", len(got), got)
			}
			// The swapped mbox file is an error for its folder; either
			// way nothing from outside may land in the account.
			Import(context.Background(), acct, src, Options{})
			names, _ := acct.Mailboxes()
			for _, n := range names {
				mb, _ := acct.Mailbox(n.Name)
				_, msgs, _ := mb.Snapshot()
				for _, m := range msgs {
					r, err := mb.Open(m)
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(r)
					r.Close()
					if strings.Contains(string(b), "SECRET") {
						t.Fatalf("%s holds the outside file", n.Name)
					}
				}
			}
		})
	}
}
