package server_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/internal/certs"
)

// tlsFiles are a self-signed certificate for the test server's names and
// a second one for SNI, written by the cert command's function.
type tlsFiles struct {
	cert, key   string // default: localhost, 127.0.0.1, mx.example.org
	cert2, key2 string // imap.example.net only
	pool        *x509.CertPool
}

func newTLSFiles(t testing.TB, dir string) *tlsFiles {
	t.Helper()
	f := &tlsFiles{
		cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem"),
		cert2: filepath.Join(dir, "cert2.pem"), key2: filepath.Join(dir, "key2.pem"),
	}
	if err := certs.SelfSigned(f.cert, f.key, certs.ECDSAP256, 0, "localhost", "127.0.0.1", "mx.example.org"); err != nil {
		t.Fatal(err)
	}
	if err := certs.SelfSigned(f.cert2, f.key2, certs.Ed25519, 0, "imap.example.net"); err != nil {
		t.Fatal(err)
	}
	f.loadPool(t)
	return f
}

func (f *tlsFiles) loadPool(t testing.TB) {
	f.pool = x509.NewCertPool()
	for _, p := range []string{f.cert, f.cert2} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f.pool.AppendCertsFromPEM(b)
	}
}

// configure turns TLS on, with implicit TLS listeners for IMAP and POP3.
func (f *tlsFiles) configure(c *config.Config) {
	c.TLS.Cert, c.TLS.Key = f.cert, f.key
	c.TLS.Certs = []config.CertPair{{Cert: f.cert2, Key: f.key2}}
	c.IMAP.ListenTLS = []string{"127.0.0.1:0"}
	c.POP3.ListenTLS = []string{"127.0.0.1:0"}
}

func (f *tlsFiles) client(name string) *tls.Config {
	return &tls.Config{RootCAs: f.pool, ServerName: name}
}

func startTLSServer(t *testing.T, mutate func(*config.Config), users ...string) (*testServer, *tlsFiles) {
	t.Helper()
	dir := t.TempDir()
	files := newTLSFiles(t, t.TempDir())
	ts := startServer(t, dir, func(c *config.Config) {
		files.configure(c)
		if mutate != nil {
			mutate(c)
		}
	}, users...)
	return ts, files
}

func (ts *testServer) addr(proto string) string {
	ts.t.Helper()
	a := ts.Addrs(proto)
	if len(a) == 0 {
		ts.t.Fatalf("no %s listener", proto)
	}
	return a[0].String()
}

// lineConn is a raw text client: send lines, read lines, upgrade.
type lineConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialLine(t *testing.T, addr string, from string) *lineConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &lineConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (l *lineConn) send(s string) {
	l.t.Helper()
	if _, err := l.c.Write([]byte(s)); err != nil {
		l.t.Fatal(err)
	}
}

func (l *lineConn) line() string {
	l.t.Helper()
	s, err := l.br.ReadString('\n')
	if err != nil {
		l.t.Fatalf("read: %v (after %q)", err, s)
	}
	return strings.TrimRight(s, "\r\n")
}

// until reads lines until one starts with prefix and returns them all.
func (l *lineConn) until(prefix string) []string {
	l.t.Helper()
	var out []string
	for {
		s := l.line()
		out = append(out, s)
		if strings.HasPrefix(s, prefix) {
			return out
		}
	}
}

// upgrade runs a client handshake over the connection. Nothing may be
// buffered: the server's next octets are TLS.
func (l *lineConn) upgrade(cfg *tls.Config) *tls.ConnectionState {
	l.t.Helper()
	if n := l.br.Buffered(); n != 0 {
		l.t.Fatalf("%d octets in clear after the upgrade answer", n)
	}
	tc := tls.Client(l.c, cfg)
	if err := tc.Handshake(); err != nil {
		l.t.Fatalf("handshake: %v", err)
	}
	l.c, l.br = tc, bufio.NewReader(tc)
	st := tc.ConnectionState()
	return &st
}

func dialTLS(t *testing.T, addr string, cfg *tls.Config) *lineConn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &lineConn{t: t, c: c, br: bufio.NewReader(c)}
}
