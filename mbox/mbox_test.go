package mbox

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/folder"
	"github.com/storaged/storaged/folder/foldertest"
	"github.com/storaged/storaged/message"
)

const mboxData = "../testdata/mbox"

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(mboxData, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var subjectRE = regexp.MustCompile(`(?m)^Subject: (.*?)\r?$`)

func subjects(b []byte, recs []Record) []string {
	var out []string
	for _, r := range recs {
		m := subjectRE.FindSubmatch(Content(b, r))
		if m == nil {
			out = append(out, "")
			continue
		}
		out = append(out, string(m[1]))
	}
	return out
}

// bodyOf returns a message's body (after the header's blank line).
func bodyOf(c []byte) string {
	c = bytes.ReplaceAll(c, []byte("\r\n"), []byte("\n"))
	_, body, _ := bytes.Cut(c, []byte("\n\n"))
	return string(body)
}

// The counts and bodies testdata/mbox/README.md gives for each file.
func TestVariants(t *testing.T) {
	for _, tc := range []struct {
		file     string
		subjects []string
	}{
		{"mboxrd-from-quoting.mbox", []string{"quoting one", "quoting two", "quoting three"}},
		{"mboxo-from-quoting.mbox", []string{"quoting one", "quoting two", "quoting three"}},
		{"content-length-sysv.mbox", []string{"cl one", "cl two", "cl three"}},
		{"content-length-wrong.mbox", []string{"cl one", "", "cl two", "cl three"}},
		{"crlf-line-endings.mbox", []string{"crlf 1", "crlf 2", "crlf 3"}},
		{"truncated-mid-message.mbox", []string{"complete 1", "complete 2", "truncated 3"}},
		{"empty.mbox", nil},
		{"real-world-gmane-rlug.mbox", nil},
		{"from-line-variants.mbox", nil},
	} {
		b := readFile(t, tc.file)
		recs := Split(b)
		got := subjects(b, recs)
		switch tc.file {
		case "real-world-gmane-rlug.mbox":
			if len(recs) != 5 {
				t.Errorf("%s: %d messages, want 5", tc.file, len(recs))
			}
			continue
		case "from-line-variants.mbox":
			for i := 1; i <= 11; i++ {
				tc.subjects = append(tc.subjects, fmt.Sprintf("variant %d", i))
			}
		}
		if strings.Join(got, "|") != strings.Join(tc.subjects, "|") {
			t.Errorf("%s: subjects %q, want %q", tc.file, got, tc.subjects)
		}
	}

	b := readFile(t, "mboxrd-from-quoting.mbox")
	recs := Split(b)
	want := "From the start of a line: a writer must quote this.\n>From quoted once by the author, not by a writer\n>>From quoted twice by the author\nFrom\n From with a leading space is not a separator\nFrom: looks like a header but is body text\nlast line\n"
	if got := bodyOf(Content(b, recs[0])); got != want {
		t.Errorf("mboxrd message 1 body:\n%q\nwant\n%q", got, want)
	}
	if got := bodyOf(Content(b, recs[1])); !strings.Contains(got, "\nFrom sender9@example.com Sat Jan  1 00:00:00 2000\n") {
		t.Errorf("mboxrd message 2 body: %q", got)
	}
	b = readFile(t, "content-length-sysv.mbox")
	if got := bodyOf(Content(b, Split(b)[0])); !strings.Contains(got, "\n\nFrom sender7@example.com Sat Jan  1 00:00:00 2000\nso a reader") {
		t.Errorf("Content-Length message 1 body: %q", got)
	}
	b = readFile(t, "crlf-line-endings.mbox")
	for _, r := range Split(b) {
		if _, d, ok := ParseFromLine(line(b, r.Start)); !ok || d.Year() < 1990 {
			t.Errorf("CRLF From_ line date: %v %v", d, ok)
		}
	}
}

func TestParseFromLine(t *testing.T) {
	b := readFile(t, "from-line-variants.mbox")
	for i, r := range Split(b) {
		s, d, ok := ParseFromLine(line(b, r.Start))
		if !ok || d.Year() != 2015 || d.Month() != time.January || d.Day() != 1 {
			t.Errorf("variant %d: %q %v %v", i+1, s, d, ok)
		}
	}
	for _, bad := range []string{"From ", "From me", "From a Thu Jan 32 00:00:00 2015", "From a Thu Foo 1 00:00:00 2015", "From a Thu Jan 1 25:00:00 2015", "From a Thu Jan 1 00:00:00"} {
		if _, _, ok := ParseFromLine([]byte(bad)); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

// roundTrip writes messages as records and reads them back.
func roundTrip(t testing.TB, msgs [][]byte, flags []folder.Flags) {
	t.Helper()
	var file []byte
	for i, m := range msgs {
		file = AppendRecord(file, "a@example.org", time.Date(2024, 2, 29, 13, 14, 15, 0, time.UTC), m, flags[i], flags[i].Sys != 0 || len(flags[i].Keywords) > 0)
	}
	recs := Split(file)
	if len(recs) != len(msgs) {
		t.Fatalf("%d records for %d messages in\n%q", len(recs), len(msgs), file)
	}
	for i, r := range recs {
		if got := Content(file, r); !bytes.Equal(got, msgs[i]) {
			t.Fatalf("message %d:\n%q\nwant\n%q\nfile\n%q", i, got, msgs[i], file)
		}
		if got := Flags(file, r); !got.Equal(flags[i]) {
			t.Fatalf("message %d flags %+v, want %+v", i, got, flags[i])
		}
		if _, d, ok := ParseFromLine(line(file, r.Start)); !ok || !d.Equal(time.Date(2024, 2, 29, 13, 14, 15, 0, time.UTC)) {
			t.Fatalf("message %d date %v", i, d)
		}
	}
}

func TestRoundTripCorpus(t *testing.T) {
	var msgs [][]byte
	var flags []folder.Flags
	for _, canon := range foldertest.Corpus(t, foldertest.SharedTestdata) {
		data, _ := message.StorageLF(canon)
		msgs = append(msgs, data)
		flags = append(flags, folder.Flags{})
	}
	msgs = append(msgs, []byte(""), []byte("no line end"), []byte("From me\n>From you\n\n\nFrom x Thu Jan  1 00:00:00 2015\n"), []byte("\n\n"), []byte(" leading space\n"))
	for range 5 {
		flags = append(flags, folder.Flags{Sys: folder.Seen | folder.Deleted | folder.Draft, Keywords: []string{"$Junk", "work"}})
	}
	roundTrip(t, msgs, flags)
}

func FuzzSplit(f *testing.F) {
	for _, name := range []string{"mboxrd-from-quoting.mbox", "content-length-sysv.mbox", "content-length-wrong.mbox", "crlf-line-endings.mbox", "truncated-mid-message.mbox", "from-line-variants.mbox"} {
		b, err := os.ReadFile(filepath.Join(mboxData, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("From a Thu Jan  1 00:00:00 2015\nX-Storaged-Length: 99999999999\n\n"))
	f.Add([]byte("From a Thu Jan  1 00:00:00 2015\nContent-Length: -1\n\nx\n\nFrom b Thu Jan  1 00:00:00 2015"))
	f.Add([]byte("From a Thu Jan  1 00:00:00 2015\nX-Storaged-Unterminated: yes\n\n>From x\n>>From y\n"))
	f.Add([]byte("From a Thu Jan  1 00:00:00 2015\r\nSubject: x\r\nLines: 2\r\n\r\n>From a\r\n\r\nFrom b Thu Jan  1 00:00:00 2015\r\n\r\nx"))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs := Split(b)
		prev := 0
		for _, r := range recs {
			if r.Start < prev || r.Body < r.Start || r.End < r.Body || r.End > len(b) {
				t.Fatalf("bad record %+v after %d in %d bytes", r, prev, len(b))
			}
			prev = r.End
			if got, want := Content(b, r), slowContent(b, r); !bytes.Equal(got, want) {
				t.Fatalf("Content %q, the line-by-line reading gives %q", got, want)
			}
			Flags(b, r)
		}
	})
}

// slowContent is Content the obvious way, line by line, to check the
// fast one against.
func slowContent(b []byte, r Record) []byte {
	var out []byte
	inHeader, unterminated := true, false
	for _, l := range bytes.SplitAfter(b[r.Body:r.End], []byte("\n")) {
		bare := bytes.TrimRight(l, "\r\n")
		if inHeader && len(bare) == 0 {
			inHeader = false
		} else if inHeader && isStateField(bare) {
			if _, ok := fieldValue(bare, unterminatedField); ok {
				unterminated = true
			}
			continue
		} else if rest, ok := bytes.CutPrefix(l, []byte(escapePrefix)); inHeader && ok && isEscaped(rest) {
			out = append(out, rest...)
			continue
		}
		i := 0
		for i < len(l) && l[i] == '>' {
			i++
		}
		if i > 0 && bytes.HasPrefix(l[i:], []byte("From ")) {
			l = l[1:]
		}
		out = append(out, l...)
	}
	if unterminated {
		out = bytes.TrimSuffix(out, []byte("\n"))
	}
	return out
}

// FuzzAppendAfter: whatever a file holds, our append after it reads back
// exactly, and every message before it reads as it did (the last one may
// gain the line break it lacked, or change where its end was ambiguous).
func FuzzAppendAfter(f *testing.F) {
	for _, name := range []string{"mboxrd-from-quoting.mbox", "content-length-sysv.mbox", "crlf-line-endings.mbox", "truncated-mid-message.mbox", "empty.mbox"} {
		b, err := os.ReadFile(filepath.Join(mboxData, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, []byte("Subject: x\n\nFrom me\n"))
	}
	f.Add([]byte("From a Thu Jan  1 00:00:00 2015\nContent-Length: 6\n\nbody\n\n"), []byte(""))
	f.Add([]byte("garbage\n"), []byte("no line end"))
	f.Fuzz(func(t *testing.T, file, msg []byte) {
		path := filepath.Join(t.TempDir(), "INBOX")
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		fd, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sep, err := tailSeparator(fd, int64(len(file)))
		fd.Close()
		if err != nil {
			t.Fatal(err)
		}
		before := Split(file)
		after := append(append(bytes.Clone(file), sep...), AppendRecord(nil, "a@example.org", time.Unix(0, 0), msg, folder.Flags{}, false)...)
		recs := Split(after)
		if len(recs) != len(before)+1 {
			t.Fatalf("%d records after the append, %d before:\n%q", len(recs), len(before), after)
		}
		if got := Content(after, recs[len(recs)-1]); !bytes.Equal(got, msg) {
			t.Fatalf("our message reads %q, want %q", got, msg)
		}
		for i := 0; i+1 < len(before); i++ {
			if recs[i] != before[i] || !bytes.Equal(Content(after, recs[i]), Content(file, before[i])) {
				t.Fatalf("message %d changed: %+v, was %+v", i, recs[i], before[i])
			}
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("Subject: x\n\nFrom me\n"), []byte(">From\n"), uint8(3))
	f.Add([]byte(""), []byte("x"), uint8(0))
	f.Add([]byte("Status: RO\nX-Storaged-Orig-X-UID: 3\n\nx\n"), []byte("X-Storaged-Key: k\n"), uint8(1))
	f.Add([]byte("\r\n\r\n"), []byte("From a Thu Jan  1 00:00:00 2015\n"), uint8(255))
	f.Fuzz(func(t *testing.T, a, b []byte, fl uint8) {
		flags := folder.Flags{Sys: folder.SysFlags(fl) & (folder.Seen | folder.Answered | folder.Flagged | folder.Deleted | folder.Draft)}
		roundTrip(t, [][]byte{a, b, a}, []folder.Flags{flags, {}, flags})
	})
}
