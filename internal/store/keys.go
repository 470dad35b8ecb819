package store

import (
	"crypto/sha256"
	"encoding/base64"
)

// MaxKeyLen is the longest key a store keeps as given. Longer keys (a
// budget keyed by a 16 KB Host header, say) are replaced by their first
// keptPrefix bytes, '#' and a hash of the whole key, so that every
// counter costs a bounded number of bytes, in memory and in Redis,
// whatever a client sends.
const MaxKeyLen = 128

// keptPrefix is how much of a long key stays readable (in Redis, in logs).
const keptPrefix = 96

// compactKey returns key, or its bounded form when longer than MaxKeyLen.
// The hash is 128 bits of SHA-256: two distinct long keys share a counter
// with negligible probability, and an attacker cannot aim at a collision.
func compactKey(key string) string {
	if len(key) <= MaxKeyLen {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return key[:keptPrefix] + "#" + base64.RawURLEncoding.EncodeToString(sum[:16])
}
