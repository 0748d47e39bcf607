package server_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/config"
)

// Real clients over TLS, each trusting the test's self-signed certificate
// and nothing else: fetchmail over pop3s and STLS, mbsync over IMAPS and
// STARTTLS, openssl s_client's view of the certificate chosen per SNI
// name on every upgrade path. tls_test.go has the handshakes themselves
// (Go's client, openssl's verification); fetchmail_test.go and
// mbsync_test.go the clients in clear.

// untrustedLoopback makes 127.0.0.1 an untrusted network (only TEST-NET-1
// is trusted), so that a password sent in clear is refused: a client that
// logs in has done so over TLS, not by a silent fallback to cleartext.
func untrustedLoopback(c *config.Config) {
	c.Auth.TrustedNetworks = []string{"192.0.2.0/24"}
}

// runTool runs a client with a deadline (a hung handshake fails the test
// instead of the run) and returns its output.
func runTool(t *testing.T, cmd *exec.Cmd, okCodes ...int) string {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s: no end after 60s\n%s", cmd.Path, out.String())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		for _, c := range okCodes {
			if ee.ExitCode() == c {
				return out.String()
			}
		}
	}
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", cmd.Path, cmd.Args[1:], err, out.String())
	}
	return out.String()
}

// fetchmail 6.4 over implicit TLS (RFC 8314 §3.3: "ssl") and over STLS
// (RFC 2595 §4: no "ssl", sslproto TLS1.2+ makes the upgrade mandatory),
// with sslcertck and the test's certificate as the only trusted one.
func TestFetchmailTLS(t *testing.T) {
	fetchmail, err := exec.LookPath("fetchmail")
	if err != nil {
		t.Skip("fetchmail is not installed; make test installs it when apt-get can")
	}
	for _, tc := range []struct {
		name, proto string
		addr        func(*testServer) string
		want        string // in fetchmail -v's log: the upgrade it did
	}{
		{"pop3s", "ssl", func(ts *testServer) string { return ts.addr("pop3s") }, "SSL/TLS: using protocol TLSv1."},
		{"stls", "", func(ts *testServer) string { return ts.pop3 }, "STLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, files := startTLSServer(t, untrustedLoopback, "ann")
			dir := t.TempDir()
			deliverMsgs(t, ts, "ann", testMessage(1), testMessage(2), testMessage(3))
			out := filepath.Join(dir, "fetched")
			os.MkdirAll(out, 0o700)
			mda := filepath.Join(dir, "mda.sh")
			os.WriteFile(mda, []byte("#!/bin/sh\nexec cat > \"$(mktemp "+out+"/msg.XXXXXX)\"\n"), 0o700)
			host, port, _ := strings.Cut(tc.addr(ts), ":")
			rc := filepath.Join(dir, "fetchmailrc")
			// sslcommonname: fetchmail matches the name it polls (an IP
			// address here) against the certificate's DNS names.
			os.WriteFile(rc, []byte(fmt.Sprintf(`set no bouncemail
poll %s port %s protocol POP3 uidl auth password
  user "ann" there with password "secret-ann" is "ann" here
  %s sslproto 'TLS1.2+' sslcertck sslcertfile "%s" sslcommonname localhost
  nokeep fetchall
  mda "%s"
`, host, port, tc.proto, files.cert, mda)), 0o600)
			cmd := exec.Command(fetchmail, "-f", rc, "--nodetach", "--nosyslog", "-v",
				"--idfile", filepath.Join(dir, "fetchids"), "--pidfile", filepath.Join(dir, "fetchmail.pid"))
			cmd.Env = append(os.Environ(), "HOME="+dir, "FETCHMAILHOME="+dir)
			log := runTool(t, cmd)
			if !strings.Contains(log, tc.want) {
				t.Errorf("fetchmail's log does not show %q:\n%s", tc.want, log)
			}
			ents, _ := os.ReadDir(out)
			if len(ents) != 3 {
				t.Fatalf("fetched %d messages, want 3\n%s", len(ents), log)
			}
			for _, e := range ents {
				b, _ := os.ReadFile(filepath.Join(out, e.Name()))
				if !bytes.Contains(b, []byte("\n.starts with a dot\n..two dots\n.\nlast\n")) {
					t.Errorf("fetched message damaged:\n%s", b)
				}
			}
			if n := ts.stored(t, "ann", "INBOX"); n != 0 {
				t.Errorf("%d messages left after nokeep", n)
			}
		})
	}
}

// mbsync (isync) over IMAPS and over STARTTLS (RFC 9051 §6.2.1), the
// certificate trusted with CertificateFile alone.
func TestMbsyncTLS(t *testing.T) {
	mbsync, err := exec.LookPath("mbsync")
	if err != nil {
		t.Skip("mbsync (Debian package isync) is not installed; make test installs it when apt-get can")
	}
	for _, tc := range []struct {
		name, sslType string
		addr          func(*testServer) string
	}{
		{"imaps", "IMAPS", func(ts *testServer) string { return ts.addr("imaps") }},
		{"starttls", "STARTTLS", func(ts *testServer) string { return ts.imap }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, files := startTLSServer(t, untrustedLoopback, "ann")
			dir := t.TempDir()
			var sent [][]byte
			for i := 1; i <= 4; i++ {
				sent = append(sent, []byte(fmt.Sprintf("From: a@example.net\r\nSubject: tls %d\r\nMessage-ID: <%d@mbsync-tls.test>\r\n\r\nbody %d over %s\r\n", i, i, i, tc.name)))
			}
			deliverMsgs(t, ts, "ann", sent...)
			local := filepath.Join(dir, "local")
			os.MkdirAll(local, 0o700)
			_, port, _ := strings.Cut(tc.addr(ts), ":")
			rc := filepath.Join(dir, "mbsyncrc")
			// Host localhost, the certificate's name; the server listens on
			// 127.0.0.1 only, which mbsync reaches after ::1 is refused.
			os.WriteFile(rc, []byte(fmt.Sprintf(`IMAPAccount test
Host localhost
Port %s
User ann
Pass secret-ann
SSLType %s
CertificateFile %s
SystemCertificates no
AuthMechs LOGIN

IMAPStore remote
Account test

MaildirStore local
Path %s/
Inbox %s/INBOX

Channel test
Far :remote:
Near :local:
Patterns INBOX
Create Near
SyncState *
`, port, tc.sslType, files.cert, local, local)), 0o600)
			runTool(t, exec.Command(mbsync, "-c", rc, "-a"))
			var got [][]byte
			for _, sub := range []string{"cur", "new"} {
				ents, _ := os.ReadDir(filepath.Join(local, "INBOX", sub))
				for _, e := range ents {
					b, _ := os.ReadFile(filepath.Join(local, "INBOX", sub, e.Name()))
					got = append(got, b)
				}
			}
			if len(got) != len(sent) {
				t.Fatalf("local INBOX has %d messages, want %d\n%s", len(got), len(sent), rcText(rc))
			}
			for i := 1; i <= len(sent); i++ {
				want := []byte(fmt.Sprintf("body %d over %s", i, tc.name))
				found := false
				for _, b := range got {
					found = found || bytes.Contains(b, want)
				}
				if !found {
					t.Errorf("no local message holds %q", want)
				}
			}
		})
	}
}

// openssl s_client on each way into TLS (STARTTLS, STLS, implicit) with
// each SNI name: the certificate whose subject it shows is the one
// configured for that name ([tls] cert for localhost and for no SNI at
// all, the [[tls.certs]] pair for imap.example.net), verified against
// the two certificates, its name checked by -verify_hostname.
func TestTLSOpenSSLSNI(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	ts, files := startTLSServer(t, nil, "ann")
	both := filepath.Join(t.TempDir(), "both.pem")
	var pem []byte
	for _, p := range []string{files.cert, files.cert2} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		pem = append(pem, b...)
	}
	os.WriteFile(both, pem, 0o600)
	ways := []struct {
		name, addr string
		args       []string
		input      string
		want       string // the server's answer after the handshake
	}{
		{"imap starttls", ts.imap, []string{"-starttls", "imap"}, "a CAPABILITY\r\nb LOGOUT\r\n", "a OK CAPABILITY completed"},
		{"pop3 stls", ts.pop3, []string{"-starttls", "pop3"}, "CAPA\r\nQUIT\r\n", "SASL PLAIN"},
		{"imaps", ts.addr("imaps"), nil, "a CAPABILITY\r\nb LOGOUT\r\n", "a OK CAPABILITY completed"},
		{"pop3s", ts.addr("pop3s"), nil, "CAPA\r\nQUIT\r\n", "SASL PLAIN"},
	}
	for _, w := range ways {
		for _, sni := range []string{"localhost", "imap.example.net", ""} {
			subject := sni
			if sni == "" {
				subject = "localhost" // no SNI: the default certificate
			}
			t.Run(w.name+"/"+subject+map[bool]string{true: " (no SNI)"}[sni == ""], func(t *testing.T) {
				args := append([]string{"s_client", "-connect", w.addr, "-CAfile", both, "-verify_return_error",
					"-verify_hostname", subject, "-ign_eof"}, w.args...)
				if sni == "" {
					args = append(args, "-noservername")
				} else {
					args = append(args, "-servername", sni)
				}
				cmd := exec.Command(openssl, args...)
				cmd.Stdin = strings.NewReader(w.input)
				s := runTool(t, cmd)
				if !strings.Contains(s, "Verify return code: 0 (ok)") || !strings.Contains(s, w.want) {
					t.Fatalf("openssl %v:\n%s", args, s)
				}
				var subj string
				for _, l := range strings.Split(s, "\n") {
					if strings.HasPrefix(l, "subject=") {
						subj = strings.ReplaceAll(strings.TrimPrefix(l, "subject="), " = ", "=")
						break
					}
				}
				if !strings.Contains(subj, "CN="+subject) || !strings.Contains(subj, "storaged self-signed") {
					t.Fatalf("subject %q, want CN=%s, O=storaged self-signed\n%s", subj, subject, s)
				}
			})
		}
	}
}
