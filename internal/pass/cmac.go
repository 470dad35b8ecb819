package pass

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
)

// cmacLen is the length of an AES-CMAC tag.
const cmacLen = aes.BlockSize

// visitorKeyLabel derives a signing key's visitor-cookie MAC key: the AES key is
// HMAC-SHA256(key, visitorKeyLabel), first 16 bytes, so no two uses share a key.
const visitorKeyLabel = "floodgate visitor token v2: AES-128-CMAC key"

// cmacKey is one key of AES-CMAC (NIST SP 800-38B, RFC 4493): the cipher and its two
// subkeys. Safe for concurrent use (the cipher keeps no state between blocks).
type cmacKey struct {
	b      cipher.Block
	k1, k2 [aes.BlockSize]byte
}

// newCMACKey returns the AES-128-CMAC key derived from a signing key (visitorKeyLabel).
func newCMACKey(signingKey []byte) *cmacKey {
	m := hmac.New(sha256.New, signingKey)
	m.Write([]byte(visitorKeyLabel))
	b, err := aes.NewCipher(m.Sum(nil)[:16])
	if err != nil {
		panic("pass: AES-128 refused a 16-byte key: " + err.Error())
	}
	return newCMAC(b)
}

// newCMAC returns the CMAC key of block cipher b (RFC 4493 2.3: subkeys from E(0)).
func newCMAC(b cipher.Block) *cmacKey {
	k := &cmacKey{b: b}
	var l [aes.BlockSize]byte
	b.Encrypt(l[:], l[:])
	k.k1 = double(l)
	k.k2 = double(k.k1)
	return k
}

// double is multiplication by x in GF(2^128) as CMAC defines it.
func double(in [aes.BlockSize]byte) (out [aes.BlockSize]byte) {
	var carry byte
	for i := aes.BlockSize - 1; i >= 0; i-- {
		out[i] = in[i]<<1 | carry
		carry = in[i] >> 7
	}
	out[aes.BlockSize-1] ^= 0x87 & -carry
	return out
}

// sum writes the CMAC tag of msg into tag, working in x (scratch: callers pass pooled
// arrays, which an interface call to the cipher would otherwise make escape).
func (k *cmacKey) sum(tag, x *[aes.BlockSize]byte, msg []byte) {
	*x = [aes.BlockSize]byte{}
	for len(msg) > aes.BlockSize {
		subtle.XORBytes(x[:], x[:], msg[:aes.BlockSize])
		k.b.Encrypt(x[:], x[:])
		msg = msg[aes.BlockSize:]
	}
	// The last block: whole, it is masked with K1; partial (or empty), padded with 10* and
	// masked with K2.
	sub := &k.k1
	if len(msg) < aes.BlockSize {
		sub = &k.k2
		x[len(msg)] ^= 0x80
	}
	subtle.XORBytes(x[:len(msg)], x[:len(msg)], msg)
	subtle.XORBytes(x[:], x[:], sub[:])
	k.b.Encrypt(tag[:], x[:])
}
