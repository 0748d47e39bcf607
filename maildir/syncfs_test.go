package maildir

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/folder/foldertest"
	"github.com/storaged/storaged/internal/spool"
)

// openSyncfs opens root as the server does with [mail] sync = "syncfs".
func openSyncfs(t *testing.T, root string) (folder.Store, error) {
	fs := new(folder.FSSync)
	t.Cleanup(func() { fs.Close() })
	return Format.Open(root, folder.Options{FSSync: fs})
}

func TestConformanceSyncfs(t *testing.T) {
	foldertest.Run(t, foldertest.SharedTestdata, func(t *testing.T) folder.Store {
		s, err := openSyncfs(t, filepath.Join(t.TempDir(), "mail"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// syncfsInbox is a new store in syncfs mode and its INBOX.
func syncfsInbox(t *testing.T) (folder.Store, folder.Folder) {
	t.Helper()
	st, err := openSyncfs(t, filepath.Join(t.TempDir(), "mail"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := st.Folder("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return st, f
}

func TestCrashSyncfs(t *testing.T) {
	foldertest.Crash(t, func(root string) (folder.Store, error) { return openSyncfs(t, root) })
}

// A name written under syncfs records size and CRC-32C; Torn tells a
// file that lost its octets (a crash before the syncfs) from a whole one,
// for messages from memory and from a spool, in new/ and in cur/.
func TestTornSyncfs(t *testing.T) {
	st, f := syncfsInbox(t)
	v := f.(folder.Verifier)
	root := st.(*Store).Root()
	body := []byte("Subject: torn\r\n\r\n" + strings.Repeat("line of the body\r\n", 200))
	w := spool.NewWriter(t.TempDir(), 64) // past 64 octets: a file
	w.Write(body)
	sm, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	content := &spool.Content{Body: sm}
	inMem := spool.FromBytes(body)
	defer inMem.Close()
	msgs := map[string]folder.NewMessage{
		"memory":         {Data: body},
		"spool":          {Content: content},
		"spool memory":   {Content: &spool.Content{Head: []byte("Delivered-To: a@example.org\r\n"), Body: inMem}},
		"memory, flags":  {Data: body, Flags: folder.Flags{Sys: folder.Seen}},
		"spool, keyword": {Content: content, Flags: folder.Flags{Keywords: []string{"$Label1"}}},
	}
	damage := map[string]func(path string) error{
		"empty": func(p string) error { return os.Truncate(p, 0) },
		"short": func(p string) error { return os.Truncate(p, 100) },
		"old octets": func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0x20
			return os.WriteFile(p, b, 0o600)
		},
	}
	for mname, m := range msgs {
		for dname, hurt := range damage {
			e, err := f.Append(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(e.Key, ",H=") {
				t.Fatalf("%s: key %q records no CRC", mname, e.Key)
			}
			se, err := f.Stat(e)
			if err != nil {
				t.Fatal(err)
			}
			if torn, err := v.Torn(se); torn || err != nil {
				t.Fatalf("%s: whole file Torn = %v, %v", mname, torn, err)
			}
			if err := hurt(filepath.Join(root, e.Name)); err != nil {
				t.Fatal(err)
			}
			if se, err = f.Stat(e); err != nil {
				t.Fatal(err)
			}
			if torn, err := v.Torn(se); !torn || err != nil {
				t.Errorf("%s, %s: Torn = %v, %v, want true", mname, dname, torn, err)
			}
		}
	}
	// Another program's file records no CRC: whole, whatever it holds.
	foreign := filepath.Join(root, "new", "1700000000.M1P1.other,S=999")
	if err := os.WriteFile(foreign, []byte("Subject: x\n\nshort\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	se, err := f.Stat(folder.Entry{Key: "1700000000.M1P1.other,S=999", Name: "new/1700000000.M1P1.other,S=999"})
	if err != nil {
		t.Fatal(err)
	}
	if torn, err := v.Torn(se); torn || err != nil {
		t.Fatalf("foreign file Torn = %v, %v", torn, err)
	}
}

// A Content whose body is in the spool's memory is named as the same
// octets given as Data are: S= (stored size), W= (canonical size) and H=
// (CRC-32C of the stored octets) alike, for an LF form and for a message
// stored as received ("\r\r\n" has no LF form).
func TestContentInMemoryName(t *testing.T) {
	_, f := syncfsInbox(t)
	head := []byte("Return-Path: <a@example.org>\r\nDelivered-To: b@example.org\r\n")
	for _, body := range []string{
		"Subject: lf\r\n\r\n" + strings.Repeat("line of the body\r\n", 300),
		"Subject: lossy\r\n\r\nbody\r\r\nmore\r\n",
		"Subject: bare\n\nLFs made canonical\n",
		"",
	} {
		sm := spool.FromBytes([]byte(body))
		c := &spool.Content{Head: head, Body: sm}
		e1, err := f.Append(context.Background(), folder.NewMessage{Content: c})
		if err != nil {
			t.Fatal(err)
		}
		data := append(append([]byte(nil), head...), sm.Bytes()...)
		e2, err := f.Append(context.Background(), folder.NewMessage{Data: data})
		if err != nil {
			t.Fatal(err)
		}
		sm.Close()
		for _, field := range []string{"S", "W", crcField} {
			v1, ok1 := keyField(e1.Key, field)
			v2, ok2 := keyField(e2.Key, field)
			if !ok1 || !ok2 || v1 != v2 {
				t.Errorf("%q: %s= of the Content %q, of the Data %q", body, field, v1, v2)
			}
		}
		b1, err := f.ReadStored(e1)
		if err != nil {
			t.Fatal(err)
		}
		b2, err := f.ReadStored(e2)
		if err != nil {
			t.Fatal(err)
		}
		if string(b1) != string(b2) || e1.Size != e2.Size {
			t.Errorf("%q: stored %q (%d), want %q (%d)", body, b1, e1.Size, b2, e2.Size)
		}
	}
}
