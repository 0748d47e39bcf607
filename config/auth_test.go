package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAuthDefaults(t *testing.T) {
	t.Setenv("STORAGED_DATA", t.TempDir())
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	a := c.Auth
	if a.UsernameFormat != "%Lu" || strings.Join(a.Mechanisms, " ") != "PLAIN LOGIN" || a.MasterUsersFile != "" || a.MasterUserSeparator != "*" {
		t.Errorf("auth defaults %+v", a)
	}
	p := c.AuthPolicy(nil)
	if p.Throttle.MaxPerAddress != 20 || p.Throttle.MaxPerPair != 10 || p.Throttle.MaxPerUser != 50 || p.Throttle.Window != 15*time.Minute || p.Throttle.MaxDelay != 15*time.Second {
		t.Errorf("throttle %+v", p.Throttle)
	}
	if c.LMTP.RecipientDelimiter != "+" || c.LMTP.SaveToDetailMailbox {
		t.Errorf("lmtp %+v", c.LMTP)
	}
}

func TestAuthKeys(t *testing.T) {
	dir := t.TempDir()
	c, err := Load(write(t, `data_dir = "`+dir+`"
[users]
file = "users/%d"
[auth]
mechanisms = ["plain", "scram-sha-256"]
master_users_file = "masters"
username_format = "%Ln"
[lmtp]
save_to_detail_mailbox = true
recipient_delimiter = "+-"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Users.File != filepath.Join(dir, "users", "%d") || strings.Join(c.Auth.Mechanisms, " ") != "PLAIN SCRAM-SHA-256" ||
		c.Auth.MasterUsersFile != filepath.Join(dir, "masters") || !c.LMTP.SaveToDetailMailbox || c.LMTP.RecipientDelimiter != "+-" {
		t.Fatalf("%+v %+v", c.Auth, c.LMTP)
	}
	for _, bad := range []struct{ body, key string }{
		{"[auth]\nmechanisms = [\"CRAM-MD5\"]", "auth.mechanisms"},
		{"[auth]\nmechanisms = []", "auth.mechanisms"},
		{"[auth]\nusername_format = \"%x\"", "auth.username_format"},
		{"[auth]\nmax_failures_per_user = -1", "auth.max_failures_per_user"},
		{"[auth]\nfailure_window = \"0s\"", "auth.failure_window"},
		{"[auth]\nmaster_users_file = \"m\"\nmaster_user_separator = \"\"", "auth.master_user_separator"},
		{"[users]\nfile = \"%d/users\"", "users.file"},
		{"[lmtp]\nrecipient_delimiter = \"@\"", "lmtp.recipient_delimiter"},
	} {
		_, err := Load(write(t, "data_dir = \""+dir+"\"\n"+bad.body+"\n"))
		if err == nil || !strings.Contains(err.Error(), bad.key) {
			t.Errorf("%q: %v (want an error naming %s)", bad.body, err, bad.key)
		}
	}
}
