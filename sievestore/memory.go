package sievestore

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// VacationKey is the memory key of a reply for handle to sender (RFC
// 5230 §4.2: per sender, per vacation handle). The memory itself lives
// in the account's index (store.SieveMemory); the key is hashed so no
// sender address is kept there in the clear.
func VacationKey(handle, sender string) string {
	sum := sha256.Sum256([]byte(handle + "\x00" + strings.ToLower(sender)))
	return hex.EncodeToString(sum[:])
}
