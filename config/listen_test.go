package config

import (
	"reflect"
	"strings"
	"testing"
)

// "*" is every address; "[::]" is understood; wildcards that would bind
// one socket twice are kept once; a bad address says what is expected.
func TestListenAddresses(t *testing.T) {
	c, err := Load(write(t, `
[imap]
listen = ["*:143", "[::]:143", "127.0.0.1:1143"]
listen_tls = []
[pop3]
listen = ["[::]:110", "0.0.0.0:110", "[::1]:110"]
[lmtp]
listen = ["*:24", "unix:lmtp.sock"]
[managesieve]
listen = ["*:0", "[::]:0"]
[metrics]
listen = "*:9190"
[quota]
policy_listen = "*:12340"
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		key       string
		got, want []string
	}{
		{"imap.listen", c.IMAP.Listen, []string{":143", "127.0.0.1:1143"}},
		{"pop3.listen", c.POP3.Listen, []string{"[::]:110", "[::1]:110"}},
		{"lmtp.listen", c.LMTP.Listen, []string{":24", "unix:" + c.Path("lmtp.sock")}},
		{"managesieve.listen", c.ManageSieve.Listen, []string{":0", "[::]:0"}}, // two ports
		{"metrics.listen", []string{c.Metrics.Listen}, []string{":9190"}},
		{"quota.policy_listen", []string{c.Quota.PolicyListen}, []string{":12340"}},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s = %q, want %q", tc.key, tc.got, tc.want)
		}
	}
	for _, tc := range []struct{ body, want string }{
		{"[imap]\nlisten = [\"143\"]\n", `imap.listen: "143" is not host:port`},
		{"[imap]\nlisten = [\"localhost\"]\n", `imap.listen: "localhost" is not host:port`},
		{"[pop3]\nlisten = [\"*.example.org:110\"]\n", `pop3.listen: "*.example.org:110": "*" stands alone`},
		{"[metrics]\nlisten = \"9190\"\n", `metrics.listen: "9190" is not host:port`},
		{"[lmtp]\nlisten = [\"127.0.0.1:\"]\n", `lmtp.listen: "127.0.0.1:" is not host:port`},
	} {
		_, err := Load(write(t, tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want …%s…", tc.body, err, tc.want)
		}
	}
}
