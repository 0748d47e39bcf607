package pop3

import (
	"bufio"
	"bytes"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		line string
		want command
		err  bool
	}{
		{"STAT", command{name: "STAT"}, false},
		{"stat", command{name: "STAT"}, false},
		{"top 1 10", command{name: "TOP", args: []string{"1", "10"}}, false},
		{"LIST  2", command{name: "LIST", args: []string{"2"}}, false},
		{"PASS pass with  spaces ", command{name: "PASS", args: []string{"pass with  spaces "}}, false},
		{"PASS", command{name: "PASS"}, false},
		{"AUTH PLAIN " + strings.Repeat("A", 100), command{name: "AUTH", args: []string{"PLAIN", strings.Repeat("A", 100)}}, false},
		{"USER " + strings.Repeat("a", 41), command{}, true},
		{"", command{}, true},
		{" STAT", command{}, true},
		{"ST", command{}, true},
		{"STATS", command{}, true},
		{"ST4T", command{}, true},
		{"USER a\x00b", command{}, true},
		{"RETR \x1b1", command{}, true},
	} {
		got, err := parseCommand([]byte(tc.line))
		if (err != nil) != tc.err || !tc.err && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseCommand(%q) = %+v, %v", tc.line, got, err)
		}
	}
	for _, s := range []string{"1", "007", "999999999"} {
		if _, ok := msgNumber(s); !ok {
			t.Errorf("msgNumber(%q) refused", s)
		}
	}
	for _, s := range []string{"", "-1", "+1", "1x", " 1", "1234567890"} {
		if _, ok := msgNumber(s); ok {
			t.Errorf("msgNumber(%q) accepted", s)
		}
	}
}

func stuffed(t *testing.T, msg string, bodyLines, bufSize int, oneByte bool) string {
	t.Helper()
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	r := strings.NewReader(msg)
	var rd = any(r).(interface{ Read([]byte) (int, error) })
	if oneByte {
		rd = iotest.OneByteReader(r)
	}
	if err := writeStuffed(w, rd, make([]byte, bufSize), bodyLines); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return out.String()
}

func TestWriteStuffed(t *testing.T) {
	msg := "Subject: x\r\n.hdr\r\n\r\n.one\r\n..two\r\n.\r\nthree\r\nfour"
	for _, tc := range []struct {
		lines int
		want  string
	}{
		{-1, "Subject: x\r\n..hdr\r\n\r\n..one\r\n...two\r\n..\r\nthree\r\nfour\r\n.\r\n"},
		{0, "Subject: x\r\n..hdr\r\n\r\n.\r\n"},
		{2, "Subject: x\r\n..hdr\r\n\r\n..one\r\n...two\r\n.\r\n"},
		{4, "Subject: x\r\n..hdr\r\n\r\n..one\r\n...two\r\n..\r\nthree\r\n.\r\n"},
		{5, "Subject: x\r\n..hdr\r\n\r\n..one\r\n...two\r\n..\r\nthree\r\nfour\r\n.\r\n"},
	} {
		for _, size := range []int{1, 2, 3, 7, 4096} {
			for _, oneByte := range []bool{false, true} {
				if got := stuffed(t, msg, tc.lines, size, oneByte); got != tc.want {
					t.Errorf("lines %d buf %d: %q\nwant %q", tc.lines, size, got, tc.want)
				}
			}
		}
	}
	// Edge cases: empty, header only, a bare CR line is not the blank line.
	for _, tc := range []struct{ msg, want string }{
		{"", ".\r\n"},
		{"Subject: x\r\n", "Subject: x\r\n.\r\n"},
		{".", "..\r\n.\r\n"},
		{"A: b\r\n\r\r\nbody\r\n", "A: b\r\n\r\r\nbody\r\n.\r\n"},
	} {
		if got := stuffed(t, tc.msg, -1, 3, false); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.msg, got, tc.want)
		}
	}
	if got := stuffed(t, "A: b\r\n\r\r\nbody\r\n", 0, 3, false); got != "A: b\r\n\r\r\nbody\r\n.\r\n" {
		t.Errorf("TOP 0 of a header with a CR line: %q", got)
	}
}
