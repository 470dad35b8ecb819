package pass

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"hash"
	"net/netip"
	"sync"
	"time"
	"unsafe"
)

// Version is the pass token format written by Issue.
const Version = 1

// Token layout (before base64url), 66 bytes, 88 characters encoded:
//
//	0      version (1)
//	1      level (1)
//	2..9   issued, Unix seconds, big endian (8)
//	10..17 expires, Unix seconds, big endian (8)
//	18..25 network hash: first 8 bytes of SHA-256 of the prefix (8)
//	26..33 user agent hash: first 8 bytes of SHA-256 of the User-Agent (8)
//	34..65 HMAC-SHA256 over PurposePass and bytes 0..33 (32)
const (
	bodyLen  = 34
	tokenLen = bodyLen + macLen
	// TokenLen is the length in characters of every pass token Issue returns.
	TokenLen = tokenLen / 3 * 4
)

// HashLen is the length of the truncated network and User-Agent hashes.
const HashLen = 8

// Pass is what a valid token says.
type Pass struct {
	// Version is the token format version.
	Version int
	// Level is the challenge level the visitor passed.
	Level Level
	// Issued is when the pass was issued (second precision).
	Issued time.Time
	// Expires is when the pass stops being accepted (second precision).
	Expires time.Time
}

// Issue returns a signed pass for a client of network prefix and User-Agent
// ua that passed a challenge at level, valid from now for ttl.
// prefix should be the client's network (e.g. its /24 or /64) and must be
// valid: Verify refuses every token for an invalid prefix.
func (s *Signer) Issue(prefix netip.Prefix, ua string, level Level, now time.Time, ttl time.Duration) string {
	var buf [TokenLen]byte
	return string(s.AppendIssueHash(buf[:0], prefix, UserAgentHash(ua), level, now, ttl))
}

// AppendIssueHash appends the pass Issue returns to dst, for a User-Agent (or binding)
// already hashed with UserAgentHash or BindingHash; it allocates nothing but what dst needs.
func (s *Signer) AppendIssueHash(dst []byte, prefix netip.Prefix, uh [HashLen]byte, level Level, now time.Time, ttl time.Duration) []byte {
	var b [bodyLen]byte
	b[0] = Version
	b[1] = byte(level)
	issued := now.Unix()
	binary.BigEndian.PutUint64(b[2:], uint64(issued))
	binary.BigEndian.PutUint64(b[10:], uint64(now.Add(ttl).Unix()))
	nh := NetworkHash(prefix)
	copy(b[18:], nh[:])
	copy(b[26:], uh[:])
	return s.AppendSeal(dst, PurposePass, b[:])
}

// Verify checks token for a request from network prefix with User-Agent ua
// at time now. On refusal the error is a Reason: ReasonMalformed,
// ReasonBadSignature, ReasonExpired, ReasonOtherNetwork or
// ReasonOtherUserAgent, checked in that order (the signature before any field
// is trusted). It does not allocate.
func (s *Signer) Verify(token string, prefix netip.Prefix, ua string, now time.Time) (Pass, error) {
	return s.VerifyHash(token, prefix, UserAgentHash(ua), now)
}

// VerifyHash is Verify for a User-Agent (or binding) already hashed with UserAgentHash or
// BindingHash.
func (s *Signer) VerifyHash(token string, prefix netip.Prefix, uh [HashLen]byte, now time.Time) (Pass, error) {
	if len(token) != TokenLen {
		return Pass{}, ReasonMalformed
	}
	st := s.state.Get().(*macState)
	defer s.state.Put(st)
	b, err := s.open(st, PurposePass, token)
	if err != nil {
		return Pass{}, err
	}
	if len(b) != bodyLen || b[0] != Version || !Level(b[1]).Valid() {
		return Pass{}, ReasonMalformed
	}
	issued := int64(binary.BigEndian.Uint64(b[2:]))
	expires := int64(binary.BigEndian.Uint64(b[10:]))
	if expires < issued {
		return Pass{}, ReasonMalformed
	}
	if now.Unix() >= expires {
		return Pass{}, ReasonExpired
	}
	if !prefix.IsValid() {
		return Pass{}, ReasonOtherNetwork
	}
	nh := NetworkHash(prefix)
	if subtle.ConstantTimeCompare(nh[:], b[18:26]) != 1 {
		return Pass{}, ReasonOtherNetwork
	}
	if subtle.ConstantTimeCompare(uh[:], b[26:34]) != 1 {
		return Pass{}, ReasonOtherUserAgent
	}
	return Pass{
		Version: int(b[0]),
		Level:   Level(b[1]),
		Issued:  time.Unix(issued, 0),
		Expires: time.Unix(expires, 0),
	}, nil
}

// NetworkHash returns the truncated SHA-256 of a network prefix, as bound
// into passes and challenges. The prefix is masked first, and an IPv4-mapped
// IPv6 prefix hashes like its IPv4 form, so 192.0.2.0/24 and
// ::ffff:192.0.2.0/120 are the same network. An invalid prefix has its own
// hash, which Verify never accepts.
func NetworkHash(prefix netip.Prefix) (h [HashLen]byte) {
	var b [18]byte
	if prefix.IsValid() {
		prefix = prefix.Masked()
		a := prefix.Addr()
		bits := prefix.Bits()
		if a.Is4In6() && bits >= 96 {
			a, bits = a.Unmap(), bits-96
		}
		b[0] = 6
		if a.Is4() {
			b[0] = 4
		}
		a16 := a.As16()
		copy(b[1:17], a16[:])
		b[17] = byte(bits)
	}
	sum := sha256.Sum256(b[:])
	copy(h[:], sum[:])
	return h
}

// UserAgentHash returns the truncated SHA-256 of a User-Agent header, as
// bound into passes and challenges. Only this hash is stored, never the
// User-Agent itself.
func UserAgentHash(ua string) (h [HashLen]byte) {
	// Hashed in place: a []byte(ua) copy would be an allocation for every User-Agent
	// longer than 32 bytes, that is every browser's.
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(ua), len(ua)))
	copy(h[:], sum[:])
	return h
}

// BindingHash is UserAgentHash(ua + "\x00" + host), the hash that binds passes and visitor
// cookies to a browser and a site, without making that string.
func BindingHash(ua, host string) (h [HashLen]byte) {
	d := digests.Get().(*digest)
	d.h.Reset()
	_, _ = d.h.Write(unsafe.Slice(unsafe.StringData(ua), len(ua)))
	_, _ = d.h.Write(d.sep[:])
	_, _ = d.h.Write(unsafe.Slice(unsafe.StringData(host), len(host)))
	copy(h[:], d.h.Sum(d.sum[:0]))
	digests.Put(d)
	return h
}

// digest is a SHA-256 state and its output, pooled so that BindingHash does not allocate.
type digest struct {
	h   hash.Hash
	sep [1]byte // the zero between User-Agent and host
	sum [sha256.Size]byte
}

var digests = sync.Pool{New: func() any { return &digest{h: sha256.New()} }}
