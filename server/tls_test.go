package server_test

import (
	"bytes"
	"crypto/tls"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/internal/certs"
)

// STARTTLS on IMAP (RFC 9051 §6.2.1): offered before TLS only, the
// capabilities asked again after it, and a command pipelined behind
// STARTTLS in clear is discarded, never run (the command injection).
func TestTLSIMAPStartTLS(t *testing.T) {
	ts, files := startTLSServer(t, nil, "ann")
	c := dialLine(t, ts.imap, "")
	g := c.line()
	if !strings.Contains(g, " STARTTLS ") || !strings.Contains(g, "AUTH=PLAIN") {
		t.Fatalf("greeting %q: want STARTTLS and AUTH=PLAIN (loopback is trusted)", g)
	}
	c.send("a STARTTLS\r\nb LOGIN ann secret-ann\r\n")
	if l := c.line(); l != "a OK Begin TLS negotiation now" {
		t.Fatalf("STARTTLS: %q", l)
	}
	st := c.upgrade(files.client("localhost"))
	if st.Version < tls.VersionTLS12 {
		t.Fatalf("TLS version %x", st.Version)
	}
	t.Logf("IMAP STARTTLS: %s %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
	// The injected LOGIN did not run: the session is not authenticated.
	c.send("c SELECT INBOX\r\nd CAPABILITY\r\n")
	if l := c.line(); !strings.HasPrefix(l, "c BAD") {
		t.Fatalf("SELECT after STARTTLS: %q (the pipelined LOGIN ran?)", l)
	}
	caps := c.until("d ")
	if strings.Contains(caps[0], "STARTTLS") || !strings.Contains(caps[0], "AUTH=PLAIN") || caps[1] != "d OK CAPABILITY completed" {
		t.Fatalf("CAPABILITY in TLS: %q", caps)
	}
	c.send("e STARTTLS\r\n")
	if l := c.line(); !strings.HasPrefix(l, "e BAD") {
		t.Fatalf("second STARTTLS: %q", l)
	}
	c.send("f LOGIN ann secret-ann\r\n")
	if l := c.line(); !strings.HasPrefix(l, "f OK [CAPABILITY") {
		t.Fatalf("LOGIN in TLS: %q", l)
	}
}

// Implicit TLS (RFC 8314 §3.3) on IMAP and POP3, and the certificate
// chosen by SNI.
func TestTLSImplicit(t *testing.T) {
	ts, files := startTLSServer(t, nil, "ann")
	c := dialTLS(t, ts.addr("imaps"), files.client("localhost"))
	g := c.line()
	if !strings.HasPrefix(g, "* OK [CAPABILITY IMAP4rev2") || strings.Contains(g, "STARTTLS") || strings.Contains(g, "LOGINDISABLED") {
		t.Fatalf("imaps greeting %q", g)
	}
	c.send("a LOGIN ann secret-ann\r\n")
	if l := c.line(); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("imaps LOGIN: %q", l)
	}

	for name, want := range map[string]string{"imap.example.net": "imap.example.net", "mx.example.org": "mx.example.org", "": "localhost"} {
		cfg := files.client(name)
		if name == "" {
			cfg = files.client("localhost")
			cfg.ServerName = ""
			cfg.InsecureSkipVerify = true // no SNI is sent without a name
		}
		conn, err := tls.Dial("tcp", ts.addr("imaps"), cfg)
		if err != nil {
			t.Fatalf("SNI %q: %v", name, err)
		}
		got := conn.ConnectionState().PeerCertificates[0].DNSNames
		conn.Close()
		if len(got) == 0 || !contains(got, want) {
			t.Errorf("SNI %q: certificate for %v, want %s", name, got, want)
		}
	}

	// TLS 1.1 and older are refused (RFC 8996).
	old := files.client("localhost")
	old.MaxVersion = tls.VersionTLS11
	if conn, err := tls.Dial("tcp", ts.addr("imaps"), old); err == nil {
		conn.Close()
		t.Fatal("a TLS 1.1 handshake succeeded")
	}

	p := dialTLS(t, ts.addr("pop3s"), files.client("localhost"))
	if g := p.line(); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("pop3s greeting %q", g)
	}
	p.send("CAPA\r\n")
	capa := strings.Join(p.until("."), "\n")
	if strings.Contains(capa, "STLS") || !strings.Contains(capa, "USER") {
		t.Fatalf("pop3s CAPA:\n%s", capa)
	}
	p.send("USER ann\r\nPASS secret-ann\r\n")
	if l := p.line(); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("USER: %q", l)
	}
	if l := p.line(); !strings.HasPrefix(l, "+OK maildrop") {
		t.Fatalf("PASS: %q", l)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// STLS on POP3 (RFC 2595 §4), with the same injection rule.
func TestTLSPOP3STLS(t *testing.T) {
	ts, files := startTLSServer(t, nil, "ann")
	c := dialLine(t, ts.pop3, "")
	c.line()
	c.send("CAPA\r\n")
	if capa := strings.Join(c.until("."), "\n"); !strings.Contains(capa, "\nSTLS\n") {
		t.Fatalf("CAPA before TLS has no STLS:\n%s", capa)
	}
	c.send("STLS\r\nUSER ann\r\nPASS secret-ann\r\n")
	if l := c.line(); l != "+OK Begin TLS negotiation" {
		t.Fatalf("STLS: %q", l)
	}
	c.upgrade(files.client("localhost"))
	// Not logged in: the pipelined USER/PASS were dropped.
	c.send("STAT\r\nCAPA\r\n")
	if l := c.line(); !strings.HasPrefix(l, "-ERR") {
		t.Fatalf("STAT after STLS: %q (the pipelined login ran?)", l)
	}
	if capa := strings.Join(c.until("."), "\n"); strings.Contains(capa, "STLS") || !strings.Contains(capa, "SASL PLAIN") {
		t.Fatalf("CAPA in TLS:\n%s", capa)
	}
	c.send("STLS\r\n")
	if l := c.line(); !strings.HasPrefix(l, "-ERR") {
		t.Fatalf("second STLS: %q", l)
	}
	c.send("USER ann\r\nPASS secret-ann\r\n")
	c.line()
	if l := c.line(); !strings.HasPrefix(l, "+OK maildrop") {
		t.Fatalf("PASS in TLS: %q", l)
	}
}

// STARTTLS on ManageSieve (RFC 5804 §2.2): the capabilities come again,
// unasked, after the handshake.
func TestTLSManageSieve(t *testing.T) {
	ts, files := startTLSServer(t, nil, "ann")
	c := dialLine(t, ts.addr("managesieve"), "")
	if caps := strings.Join(c.until("OK"), "\n"); !strings.Contains(caps, `"STARTTLS"`) {
		t.Fatalf("greeting without STARTTLS:\n%s", caps)
	}
	c.send("STARTTLS\r\nLOGOUT\r\n")
	if l := c.line(); !strings.HasPrefix(l, "OK") {
		t.Fatalf("STARTTLS: %q", l)
	}
	c.upgrade(files.client("localhost"))
	caps := strings.Join(c.until("OK"), "\n")
	if strings.Contains(caps, `"STARTTLS"`) || !strings.Contains(caps, `"SASL" "PLAIN LOGIN"`) {
		t.Fatalf("capabilities after TLS:\n%s", caps)
	}
	// LOGOUT was pipelined in clear and dropped: the session goes on.
	c.send("NOOP\r\n")
	if l := c.line(); !strings.HasPrefix(l, "OK") {
		t.Fatalf("NOOP in TLS: %q", l)
	}
}

// STARTTLS on LMTP (RFC 3207) with go-smtp's client, and the injection
// and LHLO-forgetting rules with a raw one.
func TestTLSLMTPStartTLS(t *testing.T) {
	ts, files := startTLSServer(t, nil, "ann")
	// go-smtp's client has no STARTTLS for LMTP: a raw session.
	c := dialLine(t, ts.lmtp, "")
	c.line()
	c.send("LHLO client.example.net\r\n")
	if caps := strings.Join(c.until("250 "), "\n"); !strings.Contains(caps, "250-STARTTLS") {
		t.Fatalf("LHLO does not offer STARTTLS:\n%s", caps)
	}
	c.send("STARTTLS\r\n")
	c.line()
	c.upgrade(files.client("localhost"))
	c.send("LHLO client.example.net\r\n")
	if caps := strings.Join(c.until("250 "), "\n"); strings.Contains(caps, "STARTTLS") {
		t.Fatalf("STARTTLS offered again inside TLS:\n%s", caps)
	}
	c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\n")
	for _, want := range []string{"250", "250", "354"} {
		if l := c.line(); !strings.HasPrefix(l, want) {
			t.Fatalf("got %q, want %s", l, want)
		}
	}
	c.send("Subject: over TLS\r\n\r\nhi\r\n.\r\n")
	if l := c.line(); !strings.HasPrefix(l, "250 2.0.0") {
		t.Fatalf("delivery over TLS: %q", l)
	}
	if got := onDisk(t, ts.cfg, "ann", "INBOX"); len(got) != 1 || !bytes.Contains(got[0].Bytes, []byte("with LMTPS")) {
		t.Fatalf("stored %d messages; Received should say LMTPS", len(got))
	}

	r := dialLine(t, ts.lmtp, "")
	r.line()
	r.send("LHLO x\r\n")
	r.until("250 ")
	r.send("STARTTLS\r\nMAIL FROM:<a@example.net>\r\n")
	if l := r.line(); !strings.HasPrefix(l, "220") {
		t.Fatalf("STARTTLS: %q", l)
	}
	r.upgrade(files.client("localhost"))
	r.send("MAIL FROM:<a@example.net>\r\n")
	if l := r.line(); !strings.HasPrefix(l, "503") {
		t.Fatalf("MAIL right after STARTTLS: %q, want 503 (LHLO is forgotten)", l)
	}
}

// SIGHUP's reload: new handshakes get the new certificate, connections
// already open keep working, and a broken file keeps the old one.
func TestTLSReload(t *testing.T) {
	ts, files := startTLSServer(t, nil, "ann")
	old := dialTLS(t, ts.addr("imaps"), files.client("localhost"))
	old.line()
	serial := func() string {
		conn, err := tls.Dial("tcp", ts.addr("imaps"), files.client("localhost"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	first := serial()
	if err := certs.SelfSigned(files.cert, files.key, certs.ECDSAP256, 0, "localhost", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	files.loadPool(t)
	if err := ts.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	second := serial()
	if second == first {
		t.Fatal("the reloaded certificate is not served")
	}
	old.send("a NOOP\r\n")
	if l := old.line(); l != "a OK NOOP completed" {
		t.Fatalf("connection open across the reload: %q", l)
	}
	os.WriteFile(files.key, []byte("not a key"), 0o600)
	if err := ts.ReloadTLS(); err == nil {
		t.Fatal("a broken key reloaded without error")
	}
	if serial() != second {
		t.Fatal("a failed reload changed the certificate")
	}
}

// openssl s_client, an independent TLS stack, through STARTTLS, STLS
// and implicit TLS, verifying the self-signed certificate.
func TestTLSOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	ts, files := startTLSServer(t, nil, "ann")
	for _, tc := range []struct {
		name, addr string
		args       []string
		input      string
		want       string
	}{
		{"imap starttls", ts.imap, []string{"-starttls", "imap"}, "a LOGIN ann secret-ann\r\nb LOGOUT\r\n", "a OK [CAPABILITY"},
		{"imaps", ts.addr("imaps"), nil, "a LOGIN ann secret-ann\r\nb LOGOUT\r\n", "a OK [CAPABILITY"},
		{"pop3 stls", ts.pop3, []string{"-starttls", "pop3"}, "USER ann\r\nPASS secret-ann\r\nQUIT\r\n", "+OK maildrop has"},
		{"pop3s", ts.addr("pop3s"), nil, "USER ann\r\nPASS secret-ann\r\nQUIT\r\n", "+OK maildrop has"},
		{"lmtp starttls", ts.lmtp, []string{"-starttls", "lmtp"}, "LHLO x\r\nQUIT\r\n", "250-PIPELINING"},
		{"sieve starttls", ts.addr("managesieve"), []string{"-starttls", "sieve"}, "CAPABILITY\r\nLOGOUT\r\n", `"SASL" "PLAIN LOGIN"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"s_client", "-connect", tc.addr, "-CAfile", files.cert, "-verify_return_error",
				"-servername", "localhost", "-ign_eof"}, tc.args...)
			cmd := exec.Command(openssl, args...)
			cmd.Stdin = strings.NewReader(tc.input)
			done := make(chan struct{})
			timer := time.AfterFunc(30*time.Second, func() {
				select {
				case <-done:
				default:
					cmd.Process.Kill()
				}
			})
			out, err := cmd.CombinedOutput()
			close(done)
			timer.Stop()
			s := string(out)
			if strings.Contains(s, "unknown value") || strings.Contains(s, "not supported") && strings.Contains(s, "starttls") {
				t.Skipf("this openssl lacks %v", tc.args)
			}
			if err != nil || !strings.Contains(s, "Verify return code: 0 (ok)") || !strings.Contains(s, tc.want) {
				t.Fatalf("openssl %v: %v\n%s", args, err, s)
			}
			for _, l := range strings.Split(s, "\n") {
				if strings.HasPrefix(l, "Protocol") || strings.HasPrefix(l, "    Protocol") {
					t.Logf("%s: %s", tc.name, strings.TrimSpace(l))
					break
				}
			}
		})
	}
}
