package pass

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"net/netip"
	"time"
)

// Visitor is what a valid visitor token says: how many ordinary visits, spaced apart, a
// browser made to one site from one network, and when. A visitor token is not a pass: it
// proves nothing but patience, and is worth what the site's policy makes of it (package
// challenge counts visits; the handler ranks a returning visitor above other browsers when
// the backend is busy).
type Visitor struct {
	// Visits is the number of visits counted, at most MaxVisits.
	Visits int
	// First and Last are when the first and the last counted visit were made (second
	// precision).
	First, Last time.Time
}

// MaxVisits bounds Visitor.Visits (it is stored in a byte).
const MaxVisits = 255

// Visitor token layout (before base64url), version 2, 42 bytes, 56 characters encoded:
//
//	0      version (2)
//	1      visits (1)
//	2..5   first visit, Unix seconds, big endian (4)
//	6..9   last visit, Unix seconds, big endian (4)
//	10..17 network hash (8)
//	18..25 binding hash: User-Agent and site (8)
//	26..41 AES-128-CMAC over PurposeVisitor and bytes 0..25 (16), under a key derived
//	       from the signing key (cmac.go)
//
// Version 1 (until November 2026) had the same body with version 1, then HMAC-SHA256 over
// PurposeVisitor and bytes 0..25 (32): 58 bytes, 78 characters. Such tokens are still
// read (a browser keeps its cookie up to its TTL); new ones are version 2, whose MAC costs
// two AES blocks instead of four SHA-256 blocks: a visitor cookie is signed on the first
// answer to every browser, and read on every request of a returning one.
const (
	visitorBodyLen = 26
	// VisitorVersion is the visitor token format IssueVisitor writes.
	VisitorVersion = 2
	// VisitorTokenLen is the length in characters of every visitor token IssueVisitor
	// returns.
	VisitorTokenLen = (visitorBodyLen + cmacLen) * 8 / 6
	// visitorTokenLenV1 is the length of a version 1 token.
	visitorTokenLenV1 = ((visitorBodyLen+macLen)*8 + 5) / 6
)

// IssueVisitor returns a signed visitor token for a browser of network prefix and binding
// (User-Agent and site, as for a pass).
func (s *Signer) IssueVisitor(prefix netip.Prefix, binding string, v Visitor) string {
	var buf [VisitorTokenLen]byte
	return string(s.AppendVisitor(buf[:0], prefix, binding, v))
}

// AppendVisitor appends the visitor token IssueVisitor returns to dst: set on many answers to
// browsers, it signs in pooled scratch and allocates nothing but what dst needs.
func (s *Signer) AppendVisitor(dst []byte, prefix netip.Prefix, binding string, v Visitor) []byte {
	return s.AppendVisitorHash(dst, prefix, UserAgentHash(binding), v)
}

// AppendVisitorHash is AppendVisitor for a binding already hashed (BindingHash).
func (s *Signer) AppendVisitorHash(dst []byte, prefix netip.Prefix, bh [HashLen]byte, v Visitor) []byte {
	st := s.state.Get().(*macState)
	defer s.state.Put(st)
	// The token is built in the pooled scratch: a local array would escape through the
	// cipher's Encrypt (an interface call), an allocation per cookie.
	b := st.raw[:visitorBodyLen+cmacLen]
	b[0] = VisitorVersion
	putVisitorBody(b, prefix, bh, v)
	s.visitorMAC(st, 0, b[:visitorBodyLen]) // the first key signs
	copy(b[visitorBodyLen:], st.tag[:])
	return base64.RawURLEncoding.AppendEncode(dst, b)
}

// putVisitorBody writes the body of a visitor token after its version byte.
func putVisitorBody(b []byte, prefix netip.Prefix, bh [HashLen]byte, v Visitor) {
	b[1] = byte(min(max(v.Visits, 0), MaxVisits))
	binary.BigEndian.PutUint32(b[2:], uint32(max(v.First.Unix(), 0)))
	binary.BigEndian.PutUint32(b[6:], uint32(max(v.Last.Unix(), 0)))
	nh := NetworkHash(prefix)
	copy(b[10:], nh[:])
	copy(b[18:], bh[:])
}

// visitorMAC puts the version 2 MAC of body under key i into st.tag.
func (s *Signer) visitorMAC(st *macState, i int, body []byte) {
	st.msg[0] = byte(PurposeVisitor)
	copy(st.msg[1:], body)
	s.visitorKeys[i].sum(&st.tag, &st.x, st.msg[:])
}

// openVisitor decodes a version 2 token into st.raw and checks its MAC under every key,
// in constant time per key. The returned body aliases st.raw.
func (s *Signer) openVisitor(st *macState, token string) ([]byte, error) {
	n, ok := decodeBase64URL(st.raw[:], token)
	if !ok || n != visitorBodyLen+cmacLen {
		return nil, ReasonMalformed
	}
	body, tag := st.raw[:visitorBodyLen], st.raw[visitorBodyLen:n]
	for i := range s.visitorKeys {
		s.visitorMAC(st, i, body)
		if subtle.ConstantTimeCompare(st.tag[:], tag) == 1 {
			return body, nil
		}
	}
	return nil, ReasonBadSignature
}

// VerifyVisitor checks a visitor token for a browser of network prefix and binding at
// time now; a token whose last visit is older than ttl is expired. Refusals are Reasons, as
// for Verify: ReasonMalformed, ReasonBadSignature, ReasonExpired, ReasonOtherNetwork,
// ReasonOtherUserAgent (another browser or another site). It does not allocate.
func (s *Signer) VerifyVisitor(token string, prefix netip.Prefix, binding string, now time.Time, ttl time.Duration) (Visitor, error) {
	return s.VerifyVisitorHash(token, prefix, UserAgentHash(binding), now, ttl)
}

// VerifyVisitorHash is VerifyVisitor for a binding already hashed (BindingHash).
func (s *Signer) VerifyVisitorHash(token string, prefix netip.Prefix, bh [HashLen]byte, now time.Time, ttl time.Duration) (Visitor, error) {
	var version byte
	switch len(token) {
	case VisitorTokenLen:
		version = VisitorVersion
	case visitorTokenLenV1:
		version = 1
	default:
		return Visitor{}, ReasonMalformed
	}
	st := s.state.Get().(*macState)
	defer s.state.Put(st)
	var b []byte
	var err error
	if version == 1 {
		b, err = s.open(st, PurposeVisitor, token)
	} else {
		b, err = s.openVisitor(st, token)
	}
	if err != nil {
		return Visitor{}, err
	}
	if len(b) != visitorBodyLen || b[0] != version || b[1] == 0 {
		return Visitor{}, ReasonMalformed
	}
	first := int64(binary.BigEndian.Uint32(b[2:]))
	last := int64(binary.BigEndian.Uint32(b[6:]))
	if last < first || last > now.Unix()+60 {
		return Visitor{}, ReasonMalformed
	}
	if now.Unix() >= last+int64(ttl/time.Second) {
		return Visitor{}, ReasonExpired
	}
	if !prefix.IsValid() {
		return Visitor{}, ReasonOtherNetwork
	}
	nh := NetworkHash(prefix)
	if subtle.ConstantTimeCompare(nh[:], b[10:18]) != 1 {
		return Visitor{}, ReasonOtherNetwork
	}
	if subtle.ConstantTimeCompare(bh[:], b[18:26]) != 1 {
		return Visitor{}, ReasonOtherUserAgent
	}
	return Visitor{Visits: int(b[1]), First: time.Unix(first, 0), Last: time.Unix(last, 0)}, nil
}
