package pass

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// MinKeyLen is the shortest accepted signing key, in bytes.
const MinKeyLen = 32

// macLen is the length of an HMAC-SHA256 tag.
const macLen = sha256.Size

// maxSealed bounds the decoded length of any token Open accepts.
const maxSealed = 256

// Purpose separates what a signature vouches for: a token sealed for one
// purpose never opens for another, even under the same key.
type Purpose byte

// Purposes of signed tokens.
const (
	// PurposePass: a pass cookie (this package).
	PurposePass Purpose = 1
	// PurposeChallenge: a challenge handed to a browser (package challenge).
	PurposeChallenge Purpose = 2
	// PurposeVisitor: a visitor cookie (visitor.go).
	PurposeVisitor Purpose = 3
)

// Signer signs and verifies tokens with HMAC-SHA256. The first key signs;
// every key verifies, so keys can be rotated: add the new key first, keep the
// old one after it until the passes it signed have expired, then drop it.
// A Signer is safe for concurrent use.
type Signer struct {
	keys [][]byte
	// visitorKeys are the AES-CMAC keys of visitor tokens, derived from keys, same order.
	visitorKeys []*cmacKey
	state       sync.Pool // *macState
}

// macState is the per-goroutine scratch of a verification, pooled so that
// Verify does not allocate.
type macState struct {
	macs []hash.Hash // one HMAC per key, same order as Signer.keys
	raw  [maxSealed]byte
	sum  [macLen]byte
	p    [1]byte
	// msg, tag and x are a visitor token's CMAC input, tag and scratch.
	msg    [1 + visitorBodyLen]byte
	tag, x [cmacLen]byte
}

// NewSigner returns a Signer. keys[0] signs; all keys verify. Each key must be
// at least MinKeyLen bytes of secret random data (e.g. `openssl rand 32`).
func NewSigner(keys ...[]byte) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("pass signer: no key given, expected at least one key of 32 bytes or more")
	}
	s := &Signer{}
	for i, k := range keys {
		if len(k) < MinKeyLen {
			return nil, fmt.Errorf("pass signer: key %d is %d bytes, expected at least %d bytes", i, len(k), MinKeyLen)
		}
		s.keys = append(s.keys, append([]byte(nil), k...))
		s.visitorKeys = append(s.visitorKeys, newCMACKey(k))
	}
	s.state.New = func() any {
		st := &macState{macs: make([]hash.Hash, len(s.keys))}
		for i, k := range s.keys {
			st.macs[i] = hmac.New(sha256.New, k)
		}
		return st
	}
	return s, nil
}

// Seal signs body for purpose with the first key and returns the cookie-safe
// token: base64url (no padding) of body followed by its HMAC-SHA256 tag.
func (s *Signer) Seal(purpose Purpose, body []byte) string {
	var buf [tokenLen / 3 * 4]byte // room for a pass token: most tokens sealed are passes
	return string(s.AppendSeal(buf[:0], purpose, body))
}

// AppendSeal appends the token Seal returns to dst. It signs with a pooled HMAC (keyed once
// per pooled state, not per token), and allocates nothing but what dst needs: a cookie
// challenge seals a pass for every request of a flood that drops its cookies. body is at
// most maxSealed less an HMAC tag.
func (s *Signer) AppendSeal(dst []byte, purpose Purpose, body []byte) []byte {
	st := s.state.Get().(*macState)
	defer s.state.Put(st)
	m := st.macs[0] // the first key signs
	m.Reset()
	st.p[0] = byte(purpose)
	m.Write(st.p[:])
	// The HMAC hashes the copy in st.raw, not body: body written to the hash (an interface)
	// would escape, and the caller's body array with it (an allocation for every pass issued).
	out := append(st.raw[:0], body...)
	m.Write(out)
	return base64.RawURLEncoding.AppendEncode(dst, m.Sum(out))
}

// Open checks a token made by Seal for the same purpose under any of the
// keys and returns its body (a fresh slice). Errors are ReasonMalformed or
// ReasonBadSignature.
func (s *Signer) Open(purpose Purpose, token string) ([]byte, error) {
	st := s.state.Get().(*macState)
	defer s.state.Put(st)
	body, err := s.open(st, purpose, token)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), body...), nil
}

// open decodes token into st.raw and checks its tag against every key in
// constant time per key. The returned body aliases st.raw.
func (s *Signer) open(st *macState, purpose Purpose, token string) ([]byte, error) {
	n, ok := decodeBase64URL(st.raw[:], token)
	if !ok || n <= macLen {
		return nil, ReasonMalformed
	}
	body, tag := st.raw[:n-macLen], st.raw[n-macLen:n]
	st.p[0] = byte(purpose)
	for _, m := range st.macs {
		m.Reset()
		m.Write(st.p[:])
		m.Write(body)
		if hmac.Equal(m.Sum(st.sum[:0]), tag) {
			return body, nil
		}
	}
	return nil, ReasonBadSignature
}

// base64url alphabet decoding table; 0xff marks characters outside it.
var b64 = func() (t [256]byte) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// decodeBase64URL decodes unpadded base64url from src into dst without
// allocating. It is strict: only the 64 alphabet characters (no padding, no
// newlines), a length that is not 1 mod 4, and zero unused trailing bits, so
// every byte string has exactly one accepted encoding.
func decodeBase64URL(dst []byte, src string) (int, bool) {
	if len(src)%4 == 1 || len(src) > (len(dst)*8+5)/6 {
		return 0, false
	}
	n := 0
	var acc uint32
	bits := 0
	for i := 0; i < len(src); i++ {
		v := b64[src[i]]
		if v == 0xff {
			return 0, false
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 8 {
			bits -= 8
			if n >= len(dst) {
				return 0, false
			}
			dst[n] = byte(acc >> bits)
			n++
			acc &= 1<<bits - 1
		}
	}
	if acc != 0 { // non-zero unused bits: a second spelling of the same bytes
		return 0, false
	}
	return n, true
}
