package server_test

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestIMAPSaveDatePython runs testdata/imaplib_savedate.py on each
// format: SAVEDATE (RFC 8514) of a delivery, of a message another program
// dropped into the store (saved when the sync found it), of an APPEND
// with an old internal date and of COPYs, the SAVED* search keys, and
// THREAD=REFS, through Python's imaplib.
func TestIMAPSaveDatePython(t *testing.T) { eachFormat(t, testIMAPSaveDatePython) }

func testIMAPSaveDatePython(t *testing.T, format string) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	ts := startServer(t, t.TempDir(), withFormat(format), "ann")
	since := time.Now().Unix()
	c := ts.lmtpClient()
	if _, err := send(c, "s@example.net", []string{"ann@localhost"}, []byte("Subject: delivered\r\n\r\nhello\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	ts.dropExternal(t, "ann", "INBOX", []byte("Subject: dropped\n\nby another program\n"))
	out, err := exec.Command(py, "testdata/imaplib_savedate.py", ts.imap, "ann", "secret-ann", strconv.FormatInt(since, 10)).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok ") {
		t.Fatalf("imaplib savedate: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(string(out)))
}
