package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/storaged/storaged/config"
	"github.com/storaged/storaged/internal/certs"
)

// certCmd is "cert selfsigned [-cert F] [-key F] [-type ecdsa|ed25519]
// [-days N] HOST…": a key and a self-signed certificate for tests and
// first trials, written where [tls] cert and key point by default.
func certCmd(cfg *config.Config, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "selfsigned" {
		fmt.Fprintln(stderr, "usage: storaged cert selfsigned [-cert FILE] [-key FILE] [-type ecdsa|ed25519] [-days N] HOST...")
		return exUsage
	}
	fs := flag.NewFlagSet("cert selfsigned", flag.ContinueOnError)
	fs.SetOutput(stderr)
	certPath := fs.String("cert", "", "certificate file (default: tls.cert, else DATA/tls/cert.pem)")
	keyPath := fs.String("key", "", "key file (default: tls.key, else DATA/tls/key.pem)")
	kt := fs.String("type", string(certs.ECDSAP256), "key type: ecdsa (P-256) or ed25519")
	days := fs.Int("days", 365, "validity in days")
	// Flags after a HOST are flags, not host names.
	if err := fs.Parse(flagsFirst(args[1:], "cert", "key", "type", "days")); err != nil {
		return exUsage
	}
	hosts := fs.Args()
	if len(hosts) == 0 {
		fmt.Fprintln(stderr, "storaged: cert selfsigned: name at least one HOST (DNS name or IP address)")
		return exUsage
	}
	if *certPath == "" {
		*certPath = cfg.TLS.Cert
		if *certPath == "" {
			*certPath = cfg.Path("tls/cert.pem")
		}
	}
	if *keyPath == "" {
		*keyPath = cfg.TLS.Key
		if *keyPath == "" {
			*keyPath = cfg.Path("tls/key.pem")
		}
	}
	if err := certs.MkdirFor(*certPath, *keyPath); err != nil {
		fmt.Fprintln(stderr, "storaged:", err)
		return exCantCreat
	}
	if err := certs.SelfSigned(*certPath, *keyPath, certs.KeyType(*kt), time.Duration(*days)*24*time.Hour, hosts...); err != nil {
		fmt.Fprintln(stderr, "storaged:", err)
		return exCantCreat
	}
	fmt.Fprintf(stdout, "wrote %s and %s (self-signed for %v); in the config:\n[tls]\ncert = %q\nkey = %q\n",
		*certPath, *keyPath, hosts, *certPath, *keyPath)
	return 0
}
