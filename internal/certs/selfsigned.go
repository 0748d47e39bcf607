package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// KeyType is the kind of key SelfSigned makes.
type KeyType string

const (
	// ECDSAP256 is what every client accepts (fetchmail's OpenSSL,
	// Thunderbird, Apple Mail): the default.
	ECDSAP256 KeyType = "ecdsa"
	// Ed25519 is smaller and faster, but RFC 8410 certificates are not
	// accepted by every TLS stack yet.
	Ed25519 KeyType = "ed25519"
)

// SelfSigned writes a new key and a self-signed certificate for hosts
// (DNS names or IP addresses, the first one also the subject) to
// certPath and keyPath, both mode 0600. It is for tests and first
// trials: clients must be told to trust the certificate itself.
func SelfSigned(certPath, keyPath string, kt KeyType, validFor time.Duration, hosts ...string) error {
	if len(hosts) == 0 {
		return errors.New("certs: at least one host name is needed")
	}
	var (
		priv crypto.Signer
		err  error
	)
	switch kt {
	case ECDSAP256, "":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case Ed25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return fmt.Errorf("certs: key type %q is not ecdsa or ed25519", kt)
	}
	if err != nil {
		return fmt.Errorf("certs: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return fmt.Errorf("certs: serial: %w", err)
	}
	if validFor <= 0 {
		validFor = 365 * 24 * time.Hour
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"storaged self-signed"}},
		// A little in the past, so that a client whose clock is a few
		// minutes behind still accepts it.
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validFor),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		// A CA, so that clients given this file as their trust anchor
		// (fetchmail's sslcertfile, mbsync's CertificateFile, OpenSSL's
		// -CAfile) accept it as its own issuer.
		IsCA: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		return fmt.Errorf("certs: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("certs: marshal key: %w", err)
	}
	if err := writePEM(keyPath, "PRIVATE KEY", keyDER); err != nil {
		return err
	}
	return writePEM(certPath, "CERTIFICATE", der)
}

// writePEM writes beside the target and renames over it, so a server
// reloading on SIGHUP never reads half a file.
func writePEM(path, typ string, der []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	err = pem.Encode(f, &pem.Block{Type: typ, Bytes: der})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("certs: write %s: %w", path, err)
	}
	return nil
}

// MkdirFor creates the directories the files go in (0700: a key lives
// there).
func MkdirFor(paths ...string) error {
	for _, p := range paths {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("certs: %w", err)
		}
	}
	return nil
}
