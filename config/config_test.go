package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func write(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "storaged.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	t.Setenv("STORAGED_DATA", "")
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if c.DataDir != filepath.Join(wd, "data") {
		t.Errorf("data_dir = %s", c.DataDir)
	}
	if c.LMTP.Listen[0] != "127.0.0.1:2424" || c.LMTP.Listen[1] != "unix:"+filepath.Join(wd, "data", "lmtp.sock") {
		t.Errorf("lmtp.listen = %v", c.LMTP.Listen)
	}
	if c.IMAP.Listen[0] != "127.0.0.1:1143" || c.POP3.Listen[0] != "127.0.0.1:1110" || c.POP3.IdleTimeout.D() != 10*time.Minute {
		t.Errorf("imap.listen = %v, pop3 = %+v", c.IMAP.Listen, c.POP3)
	}
	if len(c.LocalDomains) != 2 || c.LocalDomains[0] != "localhost" {
		t.Errorf("local_domains = %v", c.LocalDomains)
	}
}

func TestEnvData(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("STORAGED_DATA", dir)
	c, err := Load("")
	if err != nil || c.DataDir != dir || c.Users.File != filepath.Join(dir, "users") {
		t.Fatalf("%+v %v", c, err)
	}
}

func TestOverrides(t *testing.T) {
	p := write(t, `
data_dir = "/srv/mail"
local_domains = ["Example.ORG"]
[lmtp]
listen = ["127.0.0.1:0"]
max_message_size = "10M"
read_timeout = "30s"
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/srv/mail" || c.LocalDomains[0] != "example.org" || c.LMTP.MaxMessageSize != 10<<20 || c.LMTP.ReadTimeout.D().Seconds() != 30 {
		t.Fatalf("%+v", c)
	}
	// Untouched keys keep their defaults.
	if c.LMTP.MaxRecipients != 1000 || c.Mail.Dir != "/srv/mail/mail" {
		t.Fatalf("defaults lost: %+v", c)
	}
}

func TestQuota(t *testing.T) {
	c, err := Load(write(t, `
[quota]
storage = "2G"
messages = 10000
rules = ["Trash:storage=+100M", "Spam:ignore"]
warnings = [80, 95]
`))
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.Quota.Limits()
	if err != nil || l.Storage != 2<<30 || l.Messages != 10000 || len(l.Rules) != 2 || !l.Ignored("Spam") {
		t.Fatalf("limits %+v, %v", l, err)
	}
	if d := Defaults(); d.Quota.Storage != 0 || d.Quota.Root != "User quota" || d.Quota.PolicySuccess != "DUNNO" {
		t.Fatalf("quota defaults %+v", d.Quota)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	cases := map[string]string{
		"lmtp.listn = []\n":                         "lmtp.listn",
		"[lmtp]\nmax_message_size = \"lots\"":       "max_message_size",
		"[log]\nlevel = \"loud\"":                   "log.level",
		"[lmtp]\nread_timeout = \"soon\"":           "read_timeout",
		"[lmtp]\nlisten = [\"nocolon\"]":            "lmtp.listen",
		"[mail]\nformat = \"mbx\"":                  "mail.format",
		"[lmtp]\nsocket_mode = \"999\"":             "lmtp.socket_mode",
		"hostname = \"a b\"":                        "hostname",
		"bogus = 1":                                 "bogus",
		"[pop3]\nidle_timeout = \"0s\"":             "pop3.idle_timeout",
		"[pop3]\nlisten = [\"1110\"]":               "pop3.listen",
		"[imap]\nlisten = [\"x\"]":                  "imap.listen",
		"[quota]\nrules = [\"Trash:storage=lots\"]": "quota.rules",
		"[quota]\nrules = [\"*:storage=1G\"]":       "quota.rules",
		"[quota]\nwarnings = [120]":                 "quota.warnings",
		"[quota]\nmessages = -1":                    "quota.messages",
		"[quota]\npolicy_listen = \"12340\"":        "quota.policy_listen",
		"[quota]\nstorage = \"big\"":                "storage",

		"[server]\nmax_connections = -1":                       "server.max_connections",
		"[server]\nmax_connections_per_address = -5":           "server.max_connections_per_address",
		"[imap]\nmax_connections_per_user_address = -1":        "imap.max_connections_per_user_address",
		"[pop3]\nmax_connections_per_user_address = -1":        "pop3.max_connections_per_user_address",
		"[managesieve]\nmax_connections_per_user_address = -1": "managesieve.max_connections_per_user_address",
		"[mail]\nmax_mailboxes = -1":                           "mail.max_mailboxes",
		"[mail]\nmax_mailbox_depth = -1":                       "mail.max_mailbox_depth",
		"[mail]\nlayout = \"nested\"":                          "mail.layout",
		"[imap]\nidle_timeout = \"10m\"":                       "imap.idle_timeout",
		"[imap]\nlogin_idle_timeout = \"0s\"":                  "imap.login_idle_timeout",
		"[imap]\nlogin_idle_timeout = \"2h\"":                  "imap.login_idle_timeout",
		"[imap]\nmax_line_length = \"1000\"":                   "imap.max_line_length",
		"[imap]\nmax_literal_size = \"0\"":                     "imap.max_literal_size",
		"[imap]\nmax_command_size = \"10K\"":                   "imap.max_command_size",
	}
	for body, key := range cases {
		_, err := Load(write(t, body))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: error %v does not name %s", body, err, key)
		}
	}
}

// Every limit has a default (issue 13 point 5): none of them is off
// unless the file says so.
func TestLimitDefaults(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.MaxConnections != 10000 || c.Server.MaxConnectionsPerAddress != 100 {
		t.Errorf("server = %+v", c.Server)
	}
	if c.IMAP.MaxConnectionsPerUserAddress != 10 || c.POP3.MaxConnectionsPerUserAddress != 10 ||
		c.ManageSieve.MaxConnectionsPerUserAddress != 10 {
		t.Errorf("per user and address: imap %d pop3 %d managesieve %d", c.IMAP.MaxConnectionsPerUserAddress,
			c.POP3.MaxConnectionsPerUserAddress, c.ManageSieve.MaxConnectionsPerUserAddress)
	}
	if c.Mail.MaxMailboxes != 10000 || c.Mail.MaxMailboxDepth != 20 {
		t.Errorf("mail = %+v", c.Mail)
	}
	if c.IMAP.IdleTimeout.D() != 30*time.Minute || c.IMAP.LoginIdleTimeout.D() != time.Minute {
		t.Errorf("imap timeouts %v, %v", c.IMAP.IdleTimeout, c.IMAP.LoginIdleTimeout)
	}
	c, err = Load(write(t, "[server]\nmax_connections = 0\n[mail]\nmax_mailboxes = 0\n"))
	if err != nil || c.Server.MaxConnections != 0 || c.Mail.MaxMailboxes != 0 {
		t.Fatalf("0 turns a limit off: %+v, %v", c, err)
	}
}

// What Write prints loads back to the same configuration.
func TestWriteRoundTrip(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := c.Write(&b); err != nil {
		t.Fatal(err)
	}
	var back Config
	if _, err := toml.Decode(b.String(), &back); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if back.LMTP.MaxMessageSize != c.LMTP.MaxMessageSize || back.LMTP.ReadTimeout != c.LMTP.ReadTimeout {
		t.Fatalf("round trip: %+v", back.LMTP)
	}
}
