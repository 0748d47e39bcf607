package server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/storaged/storaged/config"
)

// GET /metrics tells what happened: deliveries by result, logins by
// protocol and result, commands by protocol, name and outcome with their
// latency, octets stored, index commits and how many writers each served,
// open connections.
func TestMetrics(t *testing.T) {
	ts := startServer(t, t.TempDir(), func(c *config.Config) {
		c.Metrics.Listen = "127.0.0.1:0"
		c.Quota.Messages = 1
	}, "ann")
	c := ts.lmtpClient()
	for i := 0; i < 2; i++ { // the second is over quota
		if _, err := send(c, "a@example.net", []string{"ann@example.org"}, quotaMsg(100)); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	// A POP3 session: STAT and a wrong command.
	pc, err := net.Dial("tcp", ts.pop3)
	if err != nil {
		t.Fatal(err)
	}
	pr := bufio.NewReader(pc)
	for _, line := range []string{"", "USER ann\r\n", "PASS secret-ann\r\n", "STAT\r\n", "FROB\r\n", "QUIT\r\n"} {
		if line != "" {
			io.WriteString(pc, line)
		}
		if _, err := pr.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	pc.Close()
	im := ts.login(t, "ann", nil)
	if _, err := im.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	get := func() string {
		t.Helper()
		resp, err := http.Get("http://" + ts.MetricsAddr().String() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	body := get()
	for _, want := range []string{
		`storaged_lmtp_deliveries_total{result="ok"} 1`,
		`storaged_lmtp_deliveries_total{result="overquota"} 1`,
		`storaged_logins_total{proto="imap",result="ok"} 1`,
		`storaged_commands_total{command="SELECT",proto="imap",status="OK"} 1`,
		`storaged_commands_total{command="STAT",proto="pop3",status="OK"} 1`,
		`storaged_commands_total{command="unknown",proto="pop3",status="ERR"} 1`,
		`storaged_command_seconds_count{command="SELECT",proto="imap"} 1`,
		`storaged_stored_bytes_total{via="lmtp"} `,
		`storaged_index_commit_seconds_count `,
		`storaged_index_commit_batch_bucket{le="1"} `,
		`storaged_connections{proto="imap"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	im.Close()
	if m := regexp.MustCompile(`(?m)^storaged_connections\{proto="imap"\} (\d+)`).FindStringSubmatch(get()); m == nil {
		t.Error("no connection gauge after logout")
	}
}
