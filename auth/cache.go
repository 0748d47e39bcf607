package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// verifyCache remembers recent successful verifications, so a client that
// logs in again and again (IMAP clients open several connections) pays the
// slow KDF once. Entries are HMACs: the cache never holds a password.
type verifyCache struct {
	secret []byte
	ttl    time.Duration
	max    int

	mu      sync.Mutex
	entries map[[32]byte]time.Time
}

func newVerifyCache(max int, ttl time.Duration) *verifyCache {
	secret := make([]byte, 32)
	rand.Read(secret)
	return &verifyCache{secret: secret, ttl: ttl, max: max, entries: make(map[[32]byte]time.Time)}
}

func (c *verifyCache) key(name, password, hash string) [32]byte {
	m := hmac.New(sha256.New, c.secret)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(password))
	m.Write([]byte{0})
	m.Write([]byte(hash))
	var k [32]byte
	copy(k[:], m.Sum(nil))
	return k
}

func (c *verifyCache) hit(k [32]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.entries[k]
	if !ok {
		return false
	}
	if time.Since(t) > c.ttl {
		delete(c.entries, k)
		return false
	}
	return true
}

func (c *verifyCache) add(k [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		// Drop expired entries first, then arbitrary ones: the cache is an
		// optimisation and a miss only costs one slow verification.
		now := time.Now()
		for e, t := range c.entries {
			if now.Sub(t) > c.ttl || len(c.entries) >= c.max {
				delete(c.entries, e)
			}
		}
	}
	c.entries[k] = time.Now()
}
