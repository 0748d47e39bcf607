package server_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/message"
)

// stuff dot-stuffs msg for DATA the way go-smtp's reader (net/textproto's
// state machine) unstuffs: a line starts only after CR LF, and "\r\r\n"
// does not end one. It ends the data with ".\r\n", after a CR LF of its
// own when msg does not end at a line start (an LF alone after a final
// bare CR); that line end becomes part of the message, as in any SMTP
// transfer.
func stuff(msg []byte) (*bytes.Buffer, string) {
	var b bytes.Buffer
	const (
		begin = iota
		data
		cr
	)
	state := begin
	for _, c := range msg {
		if state == begin && c == '.' {
			b.WriteByte('.')
		}
		b.WriteByte(c)
		switch {
		case c == '\r' && state != cr:
			state = cr
		case c == '\n' && state == cr:
			state = begin
		default:
			state = data
		}
	}
	var added string
	switch state {
	case cr:
		added = "\n"
	case data:
		added = "\r\n"
	}
	b.WriteString(added)
	b.WriteString(".\r\n")
	return &b, added
}

// received is what the server reads from stuff(msg): msg itself, plus
// the line end stuff had to add before the final dot.
func received(msg []byte) []byte {
	_, added := stuff(msg)
	return append(append([]byte(nil), msg...), added...)
}

// rawLMTP sends msg byte for byte (see stuff) and returns the reply
// after DATA.
func rawLMTP(t *testing.T, addr, rcpt string, msg []byte) ([]string, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	reply := func() (string, error) {
		var last string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return last + line, err
			}
			last = strings.TrimRight(line, "\r\n")
			if len(last) < 4 || last[3] != '-' {
				return last, nil
			}
		}
	}
	if _, err := reply(); err != nil {
		return nil, err
	}
	for _, cmd := range []string{"LHLO raw.example.net", "MAIL FROM:<s@example.net>", "RCPT TO:<" + rcpt + ">", "DATA"} {
		fmt.Fprintf(conn, "%s\r\n", cmd)
		if line, err := reply(); err != nil || !(line[0] == '2' || line[0] == '3') {
			return []string{line}, fmt.Errorf("%s: %q %v", cmd, line, err)
		}
	}
	b, _ := stuff(msg)
	go conn.Write(b.Bytes())
	line, err := reply()
	return []string{line}, err
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, func(c *config.Config) {
		c.LMTP.MaxMessageSize = 8 << 20
		c.LMTP.MaxLineLength = 2 << 20
	}, "bob")
	big := func(n int, c byte) string { return string(bytes.Repeat([]byte{c}, n)) }
	acctMailbox(t, ts, "bob")
	hostile, _ := os.ReadFile("../testdata/hostile/header-line-1mb.eml")
	cases := []struct {
		name  string
		msg   string
		reply string // prefix of the reply after DATA
	}{
		{"bare LF", "Subject: bare\nX: y\n\nline one\nline two\n", "250 2.0.0"},
		{"NUL bytes", "Subject: nul\x00here\r\n\r\na\x00b\r\n", "250 2.0.0"},
		{"8-bit headers", "Subject: Grüße \xff\xfe\r\nFrom: Jörg <j@example.org>\r\n\r\nbody\r\n", "250 2.0.0"},
		{"1 MB line", string(hostile), "250 2.0.0"},
		{"no headers", "just a body line, no header at all\r\n", "250 2.0.0"},
		{"empty", "", "250 2.0.0"},
		{"over size limit", "Subject: big\r\n\r\n" + strings.Repeat(big(1000, 'x')+"\r\n", 9000), "552 5.3.4"},
		{"line over limit", "Subject: long\r\n\r\n" + big(3<<20, 'y') + "\r\n", "500 5.5.2"},
	}
	stored := 0
	for _, tc := range cases {
		before := len(mailFiles(t, dir, "bob"))
		lines, err := rawLMTP(t, ts.lmtp, "bob@example.org", []byte(tc.msg))
		if err != nil && !strings.HasPrefix(tc.reply, "5") {
			t.Fatalf("%s: %v %v", tc.name, lines, err)
		}
		if len(lines) == 0 || !strings.HasPrefix(lines[0], tc.reply) {
			t.Fatalf("%s: reply %q, want %s", tc.name, lines, tc.reply)
		}
		after := mailFiles(t, dir, "bob")
		if tc.reply[0] != '2' {
			if len(after) != before {
				t.Fatalf("%s: refused but stored", tc.name)
			}
			continue
		}
		stored++
		if len(after) != before+1 {
			t.Fatalf("%s: %d files, want %d", tc.name, len(after), before+1)
		}
		// The newest file holds the message, faithfully (canonical form).
		found := false
		want := message.Canonical(received([]byte(tc.msg)))
		for _, b := range after {
			canon := message.Canonical(b)
			i := bytes.Index(canon, []byte("; "))
			j := bytes.Index(canon[i:], []byte("\r\n"))
			if bytes.Equal(canon[i+j+2:], want) {
				found = true
			}
		}
		if !found {
			t.Fatalf("%s: stored bytes differ from the message sent", tc.name)
		}
		// The server keeps serving after each.
		deliverN(t, ts, "bob", 1, 100+stored)
		stored++
	}
	ts.stop()
	_, msgs := indexed(t, dir, "bob")
	if len(msgs) != stored {
		t.Fatalf("%d indexed, %d stored", len(msgs), stored)
	}
}

// Every hostile test file goes through LMTP and the message parser
// without harm.
func TestHostileCorpus(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, nil, "bob")
	files, _ := filepath.Glob("../testdata/hostile/*.eml")
	if py, err := exec.LookPath("python3"); err == nil {
		big := t.TempDir()
		out, err := exec.Command(py, "../testdata/hostile/gen.py", "--big", "--out", big).CombinedOutput()
		if err != nil {
			t.Fatalf("gen.py --big: %v\n%s", err, out)
		}
		more, _ := filepath.Glob(filepath.Join(big, "*.eml"))
		files = append(files, more...)
	}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s", filepath.Base(f))
		lines, err := rawLMTP(t, ts.lmtp, "bob@example.org", b)
		if err != nil {
			t.Fatalf("%s: %v %v", filepath.Base(f), lines, err)
		}
		if strings.HasPrefix(lines[0], "250") {
			n++
		} else if !strings.HasPrefix(lines[0], "5") {
			t.Errorf("%s: reply %q", filepath.Base(f), lines[0])
		}
	}
	deliverN(t, ts, "bob", 1, 1)
	ts.stop()
	_, msgs := indexed(t, dir, "bob")
	if len(msgs) != n+1 {
		t.Fatalf("%d indexed, %d accepted", len(msgs), n+1)
	}
}
