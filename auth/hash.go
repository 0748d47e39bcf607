package auth

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/GehirnInc/crypt"
	_ "github.com/GehirnInc/crypt/md5_crypt"
	_ "github.com/GehirnInc/crypt/sha256_crypt"
	_ "github.com/GehirnInc/crypt/sha512_crypt"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// ErrUnknownScheme is returned for a hash whose scheme we cannot verify.
var ErrUnknownScheme = errors.New("auth: unknown password scheme")

// HashParams are the argon2id costs for new hashes.
type HashParams struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultHashParams are Dovecot's defaults for ARGON2ID.
var DefaultHashParams = HashParams{Memory: 65536, Time: 3, Threads: 1}

var b64 = base64.RawStdEncoding

// Hash makes a new {ARGON2ID} hash in the PHC form Dovecot writes.
func Hash(password string, p HashParams) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, 32)
	return fmt.Sprintf("{ARGON2ID}$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// splitScheme returns "SCHEME" and the rest of "{SCHEME}rest"; a hash
// without braces is CRYPT, as in Dovecot.
func splitScheme(h string) (string, string) {
	if strings.HasPrefix(h, "{") {
		if i := strings.IndexByte(h, '}'); i > 0 {
			return strings.ToUpper(h[1:i]), h[i+1:]
		}
	}
	return "CRYPT", h
}

// VerifyHash checks a password against a stored hash.
func VerifyHash(hash, password string) (bool, error) {
	scheme, rest := splitScheme(hash)
	switch scheme {
	case "PLAIN", "CLEAR", "CLEARTEXT":
		return subtle.ConstantTimeCompare([]byte(rest), []byte(password)) == 1, nil
	case "ARGON2ID", "ARGON2I":
		return verifyArgon2(rest, password)
	case "BLF-CRYPT", "BCRYPT":
		return verifyBcrypt(rest, password)
	case "SHA512-CRYPT", "SHA256-CRYPT", "MD5-CRYPT", "CRYPT":
		return verifyCrypt(rest, password)
	case "SHA512", "SSHA512":
		return verifySalted(rest, password, sha512.New().Size(), func(b []byte) []byte { s := sha512.Sum512(b); return s[:] })
	case "SHA256", "SSHA256":
		return verifySalted(rest, password, sha256.Size, func(b []byte) []byte { s := sha256.Sum256(b); return s[:] })
	case "SCRAM-SHA-256":
		return verifySCRAMHash(sha256.New, rest, password)
	case "SCRAM-SHA-1":
		return verifySCRAMHash(sha1.New, rest, password)
	}
	return false, fmt.Errorf("%w: %s", ErrUnknownScheme, scheme)
}

func verifyBcrypt(h, password string) (bool, error) {
	if strings.HasPrefix(h, "$2y$") {
		// PHP's $2y$ is the same algorithm as $2a$/$2b$.
		h = "$2a$" + h[4:]
	}
	err := bcrypt.CompareHashAndPassword([]byte(h), []byte(password))
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("auth: bcrypt hash: %w", err)
	}
	return true, nil
}

func verifyCrypt(h, password string) (bool, error) {
	if strings.HasPrefix(h, "$2") {
		return verifyBcrypt(h, password)
	}
	if !crypt.IsHashSupported(h) {
		return false, fmt.Errorf("%w: crypt %.4q", ErrUnknownScheme, h)
	}
	// Generate and compare rather than the library's Verify, which
	// mis-parses "$6$rounds=N$" salts (glibc and Dovecot write them).
	i := strings.LastIndexByte(h, '$')
	if i <= 0 {
		return false, errors.New("auth: malformed crypt hash")
	}
	got, err := crypt.NewFromHash(h).Generate([]byte(password), []byte(h[:i]))
	if err != nil {
		return false, fmt.Errorf("auth: crypt hash: %w", err)
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(h)) == 1, nil
}

// verifyArgon2 reads $argon2id$v=19$m=..,t=..,p=..$salt$hash.
func verifyArgon2(h, password string) (bool, error) {
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[0] != "" || (parts[1] != "argon2id" && parts[1] != "argon2i") {
		return false, errors.New("auth: malformed argon2 hash")
	}
	var m, t uint64
	var p uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return false, errors.New("auth: malformed argon2 parameters")
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			p = n
		}
	}
	if m == 0 || t == 0 || p == 0 || p > 255 || m > 4<<20 {
		return false, errors.New("auth: argon2 parameters out of range")
	}
	salt, err1 := b64.DecodeString(strings.TrimRight(parts[4], "="))
	want, err2 := b64.DecodeString(strings.TrimRight(parts[5], "="))
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 1024 {
		return false, errors.New("auth: malformed argon2 salt or hash")
	}
	var got []byte
	if parts[1] == "argon2id" {
		got = argon2.IDKey([]byte(password), salt, uint32(t), uint32(m), uint8(p), uint32(len(want)))
	} else {
		got = argon2.Key([]byte(password), salt, uint32(t), uint32(m), uint8(p), uint32(len(want)))
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// verifySalted checks {SSHA512}/{SHA512}-style base64(hash || salt).
func verifySalted(h, password string, size int, sum func([]byte) []byte) (bool, error) {
	raw, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		if raw, err = hexDecode(h); err != nil {
			return false, errors.New("auth: malformed salted hash")
		}
	}
	if len(raw) < size {
		return false, errors.New("auth: salted hash too short")
	}
	digest, salt := raw[:size], raw[size:]
	got := sum(append([]byte(password), salt...))
	return subtle.ConstantTimeCompare(got, digest) == 1, nil
}

func hexDecode(s string) ([]byte, error) {
	if len(s)%2 != 0 {
		return nil, errors.New("odd length")
	}
	out := make([]byte, len(s)/2)
	for i := range out {
		v, err := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, err
		}
		out[i] = byte(v)
	}
	return out, nil
}
