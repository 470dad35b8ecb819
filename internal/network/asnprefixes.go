package network

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ASNPrefixes maps addresses to AS numbers from a list of prefixes per AS: the shipped
// hosting-network prefix lists, used when no ASN database is configured. It answers only for
// the networks it lists. It is safe for concurrent use (read only after parsing).
//
// The text format, one item per line, blank lines and "#" comments allowed:
//
//	AS16509 AMAZON-02        starts the prefixes of an AS (the organisation name is optional)
//	3.0.0.0/9                a prefix of the AS above, IPv4 or IPv6
type ASNPrefixes struct {
	v4 []span4
	v6 []span6
	// orgs holds each AS's organisation name.
	orgs map[uint32]string
}

type span4 struct{ lo, hi, asn uint32 }

type span6 struct {
	lo, hi [16]byte
	asn    uint32
}

// ParseASNPrefixes reads the prefix lists; name is used in messages ("name:line: problem").
// Overlapping prefixes of different AS numbers are an error: an address has one AS.
func ParseASNPrefixes(name string, r io.Reader) (*ASNPrefixes, error) {
	p := &ASNPrefixes{orgs: map[uint32]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	var cur uint32
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = strings.TrimSpace(text[:i])
		}
		if text == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(text, "AS"); ok {
			num, org, _ := strings.Cut(rest, " ")
			n, err := strconv.ParseUint(num, 10, 32)
			if err != nil || n == 0 {
				return nil, fmt.Errorf("%s:%d: %q is not an AS line (expected e.g. AS16509 AMAZON-02)", name, line, text)
			}
			cur = uint32(n)
			p.orgs[cur] = strings.TrimSpace(org)
			continue
		}
		pfx, err := netip.ParsePrefix(text)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %q is not a CIDR (expected e.g. 192.0.2.0/24 or 2001:db8::/32, after an AS line)", name, line, text)
		}
		if cur == 0 {
			return nil, fmt.Errorf("%s:%d: prefix %s comes before any AS line (expected e.g. AS16509 first)", name, line, text)
		}
		pfx = pfx.Masked()
		if pfx.Addr().Is4() {
			lo, hi := rangeOf(pfx)
			p.v4 = append(p.v4, span4{be32(lo), be32(hi), cur})
		} else {
			lo, hi := rangeOf(pfx)
			p.v6 = append(p.v6, span6{lo.As16(), hi.As16(), cur})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: read after line %d: %w", name, line, err)
	}
	slices.SortFunc(p.v4, func(a, b span4) int { return cmp.Compare(a.lo, b.lo) })
	slices.SortFunc(p.v6, func(a, b span6) int { return bytes.Compare(a.lo[:], b.lo[:]) })
	// Spans are merged where they overlap within one AS, so that they are disjoint
	// and a lookup checks only the last span starting at or before the address.
	var v4 []span4
	for _, s := range p.v4 {
		if n := len(v4); n > 0 && s.lo <= v4[n-1].hi {
			last := &v4[n-1]
			if last.asn != s.asn {
				return nil, fmt.Errorf("%s: AS%d and AS%d both list %s", name, last.asn, s.asn, addr4(s.lo))
			}
			last.hi = max(last.hi, s.hi)
			continue
		}
		v4 = append(v4, s)
	}
	p.v4 = v4
	var v6 []span6
	for _, s := range p.v6 {
		if n := len(v6); n > 0 && bytes.Compare(s.lo[:], v6[n-1].hi[:]) <= 0 {
			last := &v6[n-1]
			if last.asn != s.asn {
				return nil, fmt.Errorf("%s: AS%d and AS%d both list %s", name, last.asn, s.asn, netip.AddrFrom16(s.lo))
			}
			if bytes.Compare(s.hi[:], last.hi[:]) > 0 {
				last.hi = s.hi
			}
			continue
		}
		v6 = append(v6, s)
	}
	p.v6 = v6
	return p, nil
}

// Lookup returns the AS of ip when a listed prefix holds it.
func (p *ASNPrefixes) Lookup(ip netip.Addr) (ASN, bool) {
	if p == nil || !ip.IsValid() {
		return ASN{}, false
	}
	ip = ip.Unmap()
	if ip.Is4() {
		x := be32(ip)
		i, _ := slices.BinarySearchFunc(p.v4, x, func(s span4, x uint32) int {
			if s.lo > x {
				return 1
			}
			return -1
		})
		// p.v4[i-1] is the last span starting at or before x; spans are disjoint.
		if i > 0 {
			if s := p.v4[i-1]; x <= s.hi {
				return ASN{Number: s.asn, Org: p.orgs[s.asn]}, true
			}
		}
		return ASN{}, false
	}
	x := ip.As16()
	i, _ := slices.BinarySearchFunc(p.v6, x, func(s span6, x [16]byte) int {
		if bytes.Compare(s.lo[:], x[:]) > 0 {
			return 1
		}
		return -1
	})
	if i > 0 {
		if s := p.v6[i-1]; bytes.Compare(x[:], s.hi[:]) <= 0 {
			return ASN{Number: s.asn, Org: p.orgs[s.asn]}, true
		}
	}
	return ASN{}, false
}

// Networks returns how many prefixes are listed, and for how many AS numbers.
func (p *ASNPrefixes) Networks() (prefixes, ases int) {
	if p == nil {
		return 0, 0
	}
	return len(p.v4) + len(p.v6), len(p.orgs)
}

// rangeOf returns the first and last address of a masked prefix.
func rangeOf(p netip.Prefix) (lo, hi netip.Addr) {
	lo = p.Addr()
	b := lo.AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	hi, _ = netip.AddrFromSlice(b)
	return lo, hi
}

func be32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addr4(x uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
}
