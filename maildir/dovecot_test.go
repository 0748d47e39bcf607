package maildir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/storaged/storaged/folder"
)

func readUIDs(t *testing.T, data string) (folder.ForeignUIDs, []folder.ForeignUID, bool, error) {
	t.Helper()
	var got []folder.ForeignUID
	hdr, ok, err := ReadUIDList(strings.NewReader(data), func(u folder.ForeignUID) error { got = append(got, u); return nil })
	return hdr, got, ok, err
}

func TestReadUIDList(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		hdr        folder.ForeignUIDs
		lines      []string // "uid key pop3"
	}{
		// As Dovecot 2.3 writes it for a fresh folder: N lags the lines.
		{"v3 fresh", "3 V1796222396 N1 Gf07f1b24bc2d106b5472000083ecc375\n1 :1796222396.M605782P29268.vm,S=237,W=248\n2 :1796222396.M618753P29268.vm,S=240,W=251\n",
			folder.ForeignUIDs{UIDValidity: 1796222396, UIDNext: 3}, []string{"1 1796222396.M605782P29268.vm,S=237,W=248 ", "2 1796222396.M618753P29268.vm,S=240,W=251 "}},
		{"v3 fields", "3 V7 N20 G00\n4 W120 S110 P0000abcd0001 Gfeed :a.host:2,S\n9 :b.host\n",
			folder.ForeignUIDs{UIDValidity: 7, UIDNext: 20}, []string{"4 a.host 0000abcd0001", "9 b.host "}},
		{"v1", "1 1234 10\n3 x.host:2,FS\n5 y.host\n", folder.ForeignUIDs{UIDValidity: 1234, UIDNext: 10}, []string{"3 x.host ", "5 y.host "}},
		{"v2", "2 V55 N3\n1 0 f.host\n", folder.ForeignUIDs{UIDValidity: 55, UIDNext: 3}, []string{"1 f.host "}},
		{"skips", "3 V1 N2\n2 :a\n2 :b\nx :c\n1 :d\n5 :a\n6 P" + strings.Repeat("x", 71) + " :e\n7 :\n8 :f/g\n",
			folder.ForeignUIDs{UIDValidity: 1, UIDNext: 7, Skipped: 6}, []string{"2 a ", "6 e "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr, got, ok, err := readUIDs(t, tc.data)
			if err != nil || !ok {
				t.Fatalf("ok=%v err=%v", ok, err)
			}
			if hdr != tc.hdr {
				t.Errorf("header %+v, want %+v", hdr, tc.hdr)
			}
			var lines []string
			for _, u := range got {
				lines = append(lines, fmt.Sprintf("%d %s %s", u.UID, u.Key, u.POP3UIDL))
			}
			if !reflect.DeepEqual(lines, tc.lines) {
				t.Errorf("lines %q, want %q", lines, tc.lines)
			}
		})
	}
}

func TestReadUIDListCorrupt(t *testing.T) {
	for _, data := range []string{"", "\n", "4 V1 N2\n", "3 N5\n", "1 x\n", "3 V0\n", "garbage\x00\n1 :a\n", "3 V1\n4294967295 :a\n"} {
		_, _, ok, err := readUIDs(t, data)
		if ok || !errors.Is(err, folder.ErrCorruptRecord) {
			t.Errorf("%q: ok=%v err=%v, want ErrCorruptRecord", data, ok, err)
		}
	}
}

func FuzzReadUIDList(f *testing.F) {
	f.Add("3 V1796222396 N1 G00\n1 :a,S=1\n2 P1 W3 :b:2,S\n")
	f.Add("1 5 6\n1 x\n")
	f.Fuzz(func(t *testing.T, data string) {
		var last uint32
		keys := map[string]bool{}
		hdr, ok, _ := ReadUIDList(strings.NewReader(data), func(u folder.ForeignUID) error {
			if u.UID <= last || keys[u.Key] || u.Key == "" {
				t.Fatalf("line %+v after %d", u, last)
			}
			last, keys[u.Key] = u.UID, true
			return nil
		})
		if ok && (hdr.UIDValidity == 0 || hdr.UIDNext <= last) {
			t.Fatalf("header %+v with last UID %d", hdr, last)
		}
	})
}

func TestParseSubscriptions(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"V\t2\n\nINBOX\nWork\tSub\nEntw&APw-rfe\n", "INBOX,Work/Sub,Entwürfe"},
		{"INBOX\nWork.Sub\nArchive/2024\n.bad\n", "INBOX,Work/Sub,Archive/2024,bad"},
		{"V\t2\n\ninbox\tx\nbad\x01\n", "INBOX/x"},
	} {
		if got := strings.Join(ParseSubscriptions(tc.in), ","); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestAdoptedMark(t *testing.T) {
	st := newStore(t).(*Store)
	f, _ := st.Folder("INBOX")
	h := f.(folder.UIDHistory)
	if _, ok, err := h.ReadForeignUIDs(func(folder.ForeignUID) error { return nil }); ok || err != nil {
		t.Fatalf("no uidlist: ok=%v err=%v", ok, err)
	}
	if h.Adopted() {
		t.Fatal("adopted before MarkAdopted")
	}
	if err := h.MarkAdopted(); err != nil || !h.Adopted() {
		t.Fatal(err)
	}
	es, _, _ := f.Scan(t.Context())
	names, _ := st.List()
	if len(es) != 0 || len(names) != 1 {
		t.Fatalf("mark visible as message or folder: %v %v", es, names)
	}
	os.WriteFile(filepath.Join(st.Root(), "subscriptions"), []byte("V\t2\n\nINBOX\n"), 0o600)
	if subs, ok, err := st.ReadForeignSubscriptions(); !ok || err != nil || len(subs) != 1 {
		t.Fatalf("subscriptions %v %v %v", subs, ok, err)
	}
}
