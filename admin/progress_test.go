package admin

import (
	"bytes"
	"strings"
	"testing"
)

// Without a terminal: plain lines, the first at once and the last at the
// end, no carriage returns or escapes; with one: a bar redrawn in place,
// and other output never lands inside it.
func TestRenderer(t *testing.T) {
	recs := []Progress{
		{Verb: "import", ExpectBytes: 1000},
		{Verb: "import", Added: 10, Read: 250, ExpectBytes: 1000, ElapsedMS: 500},
		{Verb: "import", Added: 20, Duplicates: 5, Read: 500, ExpectBytes: 1000, ElapsedMS: 1000},
		{Verb: "import", Added: 35, Duplicates: 5, Read: 1000, ExpectBytes: 1000, ElapsedMS: 2000, Done: true},
	}
	var plain bytes.Buffer
	r := NewRenderer(&plain, false)
	for _, p := range recs {
		r.WriteProgress(p)
	}
	lines := strings.Split(strings.TrimSuffix(plain.String(), "\n"), "\n")
	if len(lines) != 2 || strings.ContainsAny(plain.String(), "\r\x1b") {
		t.Fatalf("plain output:\n%q", plain.String())
	}
	if !strings.HasPrefix(lines[0], "import: 0 msgs") || !strings.Contains(lines[1], "40 msgs") || !strings.Contains(lines[1], "100%, done in 0:02") {
		t.Errorf("plain lines:\n%s", plain.String())
	}

	var tty bytes.Buffer
	r = NewRenderer(&tty, true)
	r.WriteProgress(recs[1])
	if got := tty.String(); !strings.HasPrefix(got, "\rimport [=====>") || !strings.Contains(got, " 25% ETA 0:02 10 msgs, 250 B") {
		t.Errorf("bar: %q", got)
	}
	tty.Reset()
	r.Write([]byte("storaged: a warning\n"))
	if got := tty.String(); !strings.HasPrefix(got, "\r\x1b[Kstoraged: a warning\n\rimport [") {
		t.Errorf("output over a bar: %q", got)
	}
	tty.Reset()
	r.WriteProgress(recs[3])
	if got := tty.String(); !strings.Contains(got, "[====================] 100% done in 0:02 40 msgs") || !strings.HasSuffix(got, "\x1b[K\n") {
		t.Errorf("last bar: %q", got)
	}
	tty.Reset()
	r.Write([]byte("summary\n"))
	if tty.String() != "summary\n" {
		t.Errorf("after the bar ended: %q", tty.String())
	}

	// No estimate: counts and rates, no bar and no percentage.
	tty.Reset()
	r = NewRenderer(&tty, true)
	r.WriteProgress(Progress{Verb: "import", Added: 7, Read: 700, ElapsedMS: 1000})
	if got := tty.String(); strings.Contains(got, "import [") || strings.Contains(got, "%") || !strings.Contains(got, "import 7 msgs, 700 B, 7 msg/s") {
		t.Errorf("bar without estimate: %q", got)
	}
}
