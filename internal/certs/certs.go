// Package certs owns the server's TLS certificates: the key pairs named
// in the config, the choice among them by SNI, their reload on SIGHUP,
// and the self-signed pairs `storaged cert selfsigned` writes for tests.
//
// Invariants:
//   - A handshake reads the current set through one atomic load: a reload
//     swaps the whole set at once, so a handshake never sees half of one,
//     and connections already established keep the certificate they
//     negotiated (nothing is dropped).
//   - A reload that fails (a missing file, a key that does not match)
//     keeps the previous set and returns the error: a typo during an
//     update never takes TLS down.
//   - The tls.Config allows TLS 1.2 and later only, with Go's default
//     cipher suites (RFC 8996 deprecates 1.0 and 1.1; RFC 9325 §4.1).
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// Pair names one certificate chain and its key, both PEM files.
type Pair struct {
	Cert string
	Key  string
}

// set is one loaded generation of certificates; the first is the default,
// for clients that send no SNI or a name nothing matches.
type set struct {
	certs []*tls.Certificate
}

// Store holds the current certificates.
type Store struct {
	mu    sync.Mutex // guards pairs
	pairs []Pair
	cur   atomic.Pointer[set]
}

// Load reads every pair; the first is the default certificate.
func Load(pairs []Pair) (*Store, error) {
	if len(pairs) == 0 {
		return nil, errors.New("certs: no certificate configured")
	}
	s := &Store{pairs: append([]Pair(nil), pairs...)}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload reads the files again and swaps them in; on error the previous
// certificates stay.
func (s *Store) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load(s.pairs)
}

// SetPairs loads other files (a reloaded configuration) and swaps them
// in; on error the previous pairs and certificates stay.
func (s *Store) SetPairs(pairs []Pair) error {
	if len(pairs) == 0 {
		return errors.New("certs: no certificate configured")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(pairs); err != nil {
		return err
	}
	s.pairs = append([]Pair(nil), pairs...)
	return nil
}

func (s *Store) load(pairs []Pair) error {
	next := &set{}
	for _, p := range pairs {
		c, err := tls.LoadX509KeyPair(p.Cert, p.Key)
		if err != nil {
			return fmt.Errorf("certs: %s, %s: %w", p.Cert, p.Key, err)
		}
		if c.Leaf == nil {
			if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
				return fmt.Errorf("certs: %s: %w", p.Cert, err)
			}
		}
		next.certs = append(next.certs, &c)
	}
	s.cur.Store(next)
	return nil
}

// Names lists the DNS names of the current certificates, for the log.
func (s *Store) Names() []string {
	var out []string
	for _, c := range s.cur.Load().certs {
		out = append(out, c.Leaf.DNSNames...)
	}
	return out
}

// getCertificate chooses by SNI: an exact name first, then a wildcard
// one label deep (RFC 6125 §6.4.3), else the default.
func (s *Store) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	cur := s.cur.Load()
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if name != "" {
		for _, c := range cur.certs {
			for _, n := range c.Leaf.DNSNames {
				if strings.EqualFold(n, name) {
					return c, nil
				}
			}
		}
		if _, parent, ok := strings.Cut(name, "."); ok {
			for _, c := range cur.certs {
				for _, n := range c.Leaf.DNSNames {
					if strings.EqualFold(n, "*."+parent) {
						return c, nil
					}
				}
			}
		}
	}
	return cur.certs[0], nil
}

// Config is the server tls.Config every listener shares. It reads the
// certificates at each handshake, so a Reload reaches new connections
// without a new Config.
func (s *Store) Config() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.getCertificate,
	}
}
