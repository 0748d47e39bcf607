package maildir

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/folder/foldertest"
)

func newStore(t *testing.T) folder.Store {
	s, err := Open(filepath.Join(t.TempDir(), "mail"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	foldertest.Run(t, foldertest.SharedTestdata, newStore)
}

func TestCrash(t *testing.T) {
	foldertest.Crash(t, func(root string) (folder.Store, error) { return Open(root) })
}

func TestLayout(t *testing.T) {
	st := newStore(t).(*Store)
	if err := st.Create("Archive/2024"); err != nil {
		t.Fatal(err)
	}
	if err := st.Create("Entwürfe"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".Archive.2024/cur", ".Archive.2024/maildirfolder", ".Entw&APw-rfe/new", "cur", "new", "tmp"} {
		if _, err := os.Stat(filepath.Join(st.Root(), p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	f, _ := st.Folder("INBOX")
	msg := []byte("Subject: x\r\n\r\nline one\r\nline two\r\n")
	e, err := f.Append(context.Background(), folder.NewMessage{Data: msg})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.Name, "new/") || !strings.Contains(e.Key, ",S=30,W=34") {
		t.Fatalf("name %q", e.Name)
	}
	onDisk, _ := os.ReadFile(filepath.Join(st.Root(), e.Name))
	if want := bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n")); !bytes.Equal(onDisk, want) {
		t.Fatalf("on disk %q, want LF form %q", onDisk, want)
	}
	e, err = f.SetFlags(e, folder.Flags{Sys: folder.Seen | folder.Flagged, Keywords: []string{"work", "$Forwarded"}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(e.Name, ":2,FPSa") {
		t.Fatalf("flagged name %q", e.Name)
	}
	kw, _ := os.ReadFile(filepath.Join(st.Root(), keywordsFile))
	if string(kw) != "0 work\n" {
		t.Fatalf("dovecot-keywords = %q", kw)
	}
}

// A message whose LF form would not read back exactly is stored as received.
func TestLossyStoredRaw(t *testing.T) {
	st := newStore(t)
	f, _ := st.Folder("INBOX")
	msg := []byte("Subject: x\r\n\r\n.\r\r\nend\r\n")
	e, err := f.Append(context.Background(), folder.NewMessage{Data: msg})
	if err != nil {
		t.Fatal(err)
	}
	onDisk, _ := os.ReadFile(filepath.Join(st.(*Store).Root(), e.Name))
	if !bytes.Equal(onDisk, msg) {
		t.Fatalf("stored %q, want raw %q", onDisk, msg)
	}
}

// A crash mid-append leaves a file in tmp/ that no scan ever reports.
func TestCrashLeavesTmpOnly(t *testing.T) {
	st := newStore(t)
	f, _ := st.Folder("INBOX")
	tmp := filepath.Join(st.(*Store).Root(), "tmp", "123.M1P1Q1.host")
	os.WriteFile(tmp, []byte("Subject: half"), 0o600)
	es, _, err := f.Scan(context.Background())
	if err != nil || len(es) != 0 {
		t.Fatalf("Scan after crash = %v, %v", es, err)
	}
}

// Files written by other Maildir programs: no S=, flags, CRLF on disk.
func TestForeignFiles(t *testing.T) {
	st := newStore(t)
	root := st.(*Store).Root()
	os.WriteFile(filepath.Join(root, "cur", "1700000000.12345.otherhost:2,RS"), []byte("Subject: a\n\nb\n"), 0o600)
	os.WriteFile(filepath.Join(root, "new", "1700000001.12346.otherhost"), []byte("Subject: a\r\n\r\nb\r\n"), 0o600)
	f, _ := st.Folder("INBOX")
	es, _, err := f.Scan(context.Background())
	if err != nil || len(es) != 2 {
		t.Fatalf("Scan = %v %v", es, err)
	}
	for _, e := range es {
		r, _ := f.Open(e)
		var b bytes.Buffer
		b.ReadFrom(r)
		r.Close()
		if b.String() != "Subject: a\r\n\r\nb\r\n" {
			t.Errorf("%s read as %q", e.Name, b.String())
		}
		if strings.HasPrefix(e.Name, "cur/") && e.Flags.Sys != folder.Seen|folder.Answered {
			t.Errorf("flags of %s = %v", e.Name, e.Flags)
		}
	}
}
