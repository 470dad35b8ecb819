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

// Visitor token layout (before base64url), 58 bytes, 78 characters encoded:
//
//	0      version (1)
//	1      visits (1)
//	2..5   first visit, Unix seconds, big endian (4)
//	6..9   last visit, Unix seconds, big endian (4)
//	10..17 network hash (8)
//	18..25 binding hash: User-Agent and site (8)
//	26..57 HMAC-SHA256 over PurposeVisitor and bytes 0..25 (32)
const (
	visitorBodyLen = 26
	// VisitorTokenLen is the length in characters of every visitor token.
	VisitorTokenLen = ((visitorBodyLen+macLen)*8 + 5) / 6
)

// IssueVisitor returns a signed visitor token for a browser of network prefix and binding
// (User-Agent and site, as for a pass).
func (s *Signer) IssueVisitor(prefix netip.Prefix, binding string, v Visitor) string {
	var buf [VisitorTokenLen]byte
	return string(s.AppendVisitor(buf[:0], prefix, binding, v))
}

// AppendVisitor appends the visitor token IssueVisitor returns to dst: set on many answers to
// browsers, it signs with a pooled HMAC and allocates nothing but what dst needs.
func (s *Signer) AppendVisitor(dst []byte, prefix netip.Prefix, binding string, v Visitor) []byte {
	return s.AppendVisitorHash(dst, prefix, UserAgentHash(binding), v)
}

// AppendVisitorHash is AppendVisitor for a binding already hashed (BindingHash).
func (s *Signer) AppendVisitorHash(dst []byte, prefix netip.Prefix, bh [HashLen]byte, v Visitor) []byte {
	st := s.state.Get().(*macState)
	defer s.state.Put(st)
	// The token is built in the pooled scratch: a local array would escape through the
	// HMAC's Write and Sum (interface calls), an allocation per cookie.
	b := st.raw[:visitorBodyLen+macLen]
	b[0] = Version
	b[1] = byte(min(max(v.Visits, 0), MaxVisits))
	binary.BigEndian.PutUint32(b[2:], uint32(max(v.First.Unix(), 0)))
	binary.BigEndian.PutUint32(b[6:], uint32(max(v.Last.Unix(), 0)))
	nh := NetworkHash(prefix)
	copy(b[10:], nh[:])
	copy(b[18:], bh[:])
	m := st.macs[0] // the first key signs
	m.Reset()
	st.p[0] = byte(PurposeVisitor)
	m.Write(st.p[:])
	m.Write(b[:visitorBodyLen])
	m.Sum(b[:visitorBodyLen])
	return base64.RawURLEncoding.AppendEncode(dst, b)
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
	if len(token) != VisitorTokenLen {
		return Visitor{}, ReasonMalformed
	}
	st := s.state.Get().(*macState)
	defer s.state.Put(st)
	b, err := s.open(st, PurposeVisitor, token)
	if err != nil {
		return Visitor{}, err
	}
	if len(b) != visitorBodyLen || b[0] != Version || b[1] == 0 {
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
