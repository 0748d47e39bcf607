package config

import (
	"strings"
	"testing"
)

// A value of the wrong type is named in the config's words, with what
// the key expects and an example, never in the decoder's Go terms.
func TestTypeErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"[imap]\nlisten = \"127.0.0.1:143\"\n", `imap.listen must be a list like ["127.0.0.1:1143"], not the string "127.0.0.1:143"`},
		{"[imap]\nlisten = [143]\n", `imap.listen must be a list of strings like ["127.0.0.1:1143"], not a list`},
		{"[pop3]\nlisten_tls = \"0.0.0.0:995\"\n", `pop3.listen_tls must be a list like ["0.0.0.0:995"], not the string "0.0.0.0:995"`},
		{"local_domains = \"example.org\"\n", `local_domains must be a list like ["example.org"], not the string "example.org"`},
		{"hostname = 5\n", `hostname must be a string like "…", not the number 5`},
		{"[log]\nlevel = 1\n", `log.level must be a string like "info", not the number 1`},
		{"[lmtp]\nmax_recipients = \"many\"\n", `lmtp.max_recipients must be a whole number like 1000, not the string "many"`},
		{"[lmtp]\nmax_message_size = true\n", `lmtp.max_message_size must be a size like "50M" or 52428800, not true`},
		{"[lmtp]\nread_timeout = 30\n", `lmtp.read_timeout must be a duration like "30s" or "10m", not the number 30`},
		{"[sieve]\nenabled = \"yes\"\n", `sieve.enabled must be true or false, not the string "yes"`},
		{"[pop3]\nlock_session = \"no\"\n", `pop3.lock_session must be true or false, not the string "no"`},
		{"[sieve]\nspam_max = \"x\"\n", `sieve.spam_max must be a number like 15, not the string "x"`},
		{"imap = 1\n", `imap must be a table: [imap] on a line of its own, its keys below it, not the number 1`},
		{"[quota]\nwarnings = 80\n", `quota.warnings must be a list like [80, 95], not the number 80`},
		{"[tls]\ncerts = \"a.pem\"\n", `tls.certs must be a list of tables like [[tls.certs]] with cert = "…" and key = "…", not the string "a.pem"`},
		// The first wrong key in the file's order is the one named.
		{"[pop3]\nlisten = 1\n[imap]\nlisten = 2\n", `pop3.listen must be a list like ["127.0.0.1:1110"], not the number 1`},
	} {
		_, err := Load(write(t, tc.body))
		if err == nil || !strings.HasSuffix(err.Error(), ": "+tc.want) {
			t.Errorf("%q:\n got %v\nwant …: %s", tc.body, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "incompatible types") {
			t.Errorf("%q: the decoder's words: %v", tc.body, err)
		}
	}
	// Right types pass, inline tables included.
	if _, err := Load(write(t, "[pop3]\nlock_session = true\n[lmtp]\nmax_message_size = 1048576\nread_timeout = \"30s\"\n")); err != nil {
		t.Errorf("good types: %v", err)
	}
}

func TestLockSession(t *testing.T) {
	c, err := Load("")
	if err != nil || c.POP3.LockSession {
		t.Fatalf("lock_session defaults to %v (%v), want false as Dovecot's pop3_lock_session", c.POP3.LockSession, err)
	}
	c, err = Load(write(t, "[pop3]\nlock_session = true\n"))
	if err != nil || !c.POP3.LockSession {
		t.Fatalf("lock_session = true: %v %v", c.POP3.LockSession, err)
	}
}
