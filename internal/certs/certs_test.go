package certs

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
)

func TestSelfSignedLoadSNIReload(t *testing.T) {
	dir := t.TempDir()
	p1 := Pair{filepath.Join(dir, "a.pem"), filepath.Join(dir, "a.key")}
	p2 := Pair{filepath.Join(dir, "b.pem"), filepath.Join(dir, "b.key")}
	if err := SelfSigned(p1.Cert, p1.Key, ECDSAP256, 0, "mail.example.org", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if err := SelfSigned(p2.Cert, p2.Key, Ed25519, 0, "*.example.net"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{p1.Cert, p1.Key, p2.Cert, p2.Key} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want mode 0600", p, st.Mode(), err)
		}
	}
	s, err := Load([]Pair{p1, p2})
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Config(); c.MinVersion != tls.VersionTLS12 || c.CipherSuites != nil {
		t.Fatalf("MinVersion %x, suites %v", c.MinVersion, c.CipherSuites)
	}
	for name, want := range map[string]string{"mail.example.org": "mail.example.org", "MAIL.example.org.": "mail.example.org",
		"imap.example.net": "*.example.net", "a.b.example.net": "mail.example.org", "": "mail.example.org"} {
		c, _ := s.getCertificate(&tls.ClientHelloInfo{ServerName: name})
		if c.Leaf.DNSNames[0] != want {
			t.Errorf("SNI %q: %v, want %s", name, c.Leaf.DNSNames, want)
		}
	}
	before, _ := s.getCertificate(&tls.ClientHelloInfo{})
	os.WriteFile(p1.Key, []byte("garbage"), 0o600)
	if err := s.Reload(); err == nil {
		t.Fatal("reload of a broken key succeeded")
	}
	if after, _ := s.getCertificate(&tls.ClientHelloInfo{}); after != before {
		t.Fatal("a failed reload replaced the certificates")
	}
	if err := SelfSigned(p1.Cert, p1.Key, ECDSAP256, 0, "mail.example.org"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if after, _ := s.getCertificate(&tls.ClientHelloInfo{}); after == before {
		t.Fatal("reload kept the old certificate")
	}
	if err := SelfSigned(p1.Cert, p1.Key, "rsa", 0, "x"); err == nil {
		t.Fatal("an unknown key type was accepted")
	}
}
