package server_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/storaged/storaged/config"
)

// GET /metrics tells what happened: deliveries by result, logins by
// protocol and result, IMAP commands by name, open connections.
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
		`storaged_imap_commands_total{command="SELECT",status="OK"} 1`,
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
