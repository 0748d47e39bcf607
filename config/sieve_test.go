package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSieveDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("STORAGED_DATA", dir)
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	sv := c.Sieve
	if !sv.Enabled || sv.Dir != filepath.Join(dir, "sieve") || sv.Relay != "" || sv.MaxScriptSize != 1<<20 ||
		sv.MaxRedirects != 4 || sv.MaxVacations != 1 || sv.RunTimeout.D() != 10*time.Second {
		t.Fatalf("sieve defaults %+v", sv)
	}
	if ms := c.ManageSieve; len(ms.Listen) != 1 || ms.Listen[0] != "127.0.0.1:4190" {
		t.Fatalf("managesieve defaults %+v", ms)
	}
}

func TestSieveOverrides(t *testing.T) {
	c, err := Load(write(t, `
data_dir = "/srv/mail"
[sieve]
dir = "/var/sieve"
before = ["global/spam.sieve"]
after = ["/etc/after"]
global_dir = "global"
relay = "127.0.0.1:587"
max_script_size = "64K"
spam_header = "X-Spam-Score"
[managesieve]
listen = []
`))
	if err != nil {
		t.Fatal(err)
	}
	sv := c.Sieve
	if sv.Dir != "/var/sieve" || sv.Before[0] != "/srv/mail/global/spam.sieve" || sv.After[0] != "/etc/after" ||
		sv.GlobalDir != "/srv/mail/global" || sv.Relay != "127.0.0.1:587" || sv.MaxScriptSize != 64<<10 || sv.SpamHeader != "X-Spam-Score" {
		t.Fatalf("%+v", sv)
	}
	if len(c.ManageSieve.Listen) != 0 {
		t.Fatalf("managesieve.listen %v", c.ManageSieve.Listen)
	}
}

func TestSieveErrorsNameTheKey(t *testing.T) {
	cases := map[string]string{
		"[sieve]\ndir = \"\"":                        "sieve.dir",
		"[sieve]\nrelay = \"nocolon\"":               "sieve.relay",
		"[sieve]\nmax_script_size = 0":               "sieve.max_script_size",
		"[sieve]\nredirect_envelope_from = \"orig\"": "sieve.redirect_envelope_from",
		"[sieve]\nmax_scripts = -1":                  "sieve.max_scripts",
		"[sieve]\nmax_steps = 5":                     "sieve.max_steps",
		"[sieve]\nrun_timeout = \"0s\"":              "sieve.run_timeout",
		"[sieve]\nbefore = [\"\"]":                   "sieve.before",
		"[sieve]\nspam_header = \"X-Spam: yes\"":     "sieve.spam_header",
		"[sieve]\nspam_max = 0":                      "sieve.spam_max",
		"[managesieve]\nlisten = [\"4190\"]":         "managesieve.listen",
		"[managesieve]\nidle_timeout = \"0s\"":       "managesieve.idle_timeout",
		"[managesieve]\nauth_fail_delay = \"-1s\"":   "managesieve.auth_fail_delay",
	}
	for body, key := range cases {
		_, err := Load(write(t, body))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: error %v does not name %s", body, err, key)
		}
	}
}
