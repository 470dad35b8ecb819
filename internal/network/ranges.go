package network

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
)

// maxBadLines bounds how many bad lines ParseRanges reports one by one; a
// file that is not a range list at all would otherwise give one error per
// line.
const maxBadLines = 50

// maxLineLen bounds the length of one line of a range file.
const maxLineLen = 4096

// RangeSet is an immutable set of IPv4 and IPv6 networks with a fast
// Contains: overlapping and adjacent networks are merged into sorted,
// disjoint address ranges searched by bisection, so a lookup costs
// O(log n) comparisons and no allocation whatever the size of the list.
// The zero value and nil are empty sets. It is safe for concurrent use.
type RangeSet struct {
	name     string
	prefixes int
	skipped  []string
	v4       []v4Range
	v6       []v6Range
}

// v4Range is an inclusive range of IPv4 addresses.
type v4Range struct{ first, last uint32 }

// v6Range is an inclusive range of IPv6 addresses.
type v6Range struct{ first, last u128 }

// u128 is an IPv6 address as a number.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	if c := cmp.Compare(a.hi, b.hi); c != 0 {
		return c
	}
	return cmp.Compare(a.lo, b.lo)
}

func (a u128) isMax() bool { return a.hi == ^uint64(0) && a.lo == ^uint64(0) }

func (a u128) next() u128 {
	lo := a.lo + 1
	hi := a.hi
	if lo == 0 {
		hi++
	}
	return u128{hi, lo}
}

func u128From(ip netip.Addr) u128 {
	b := ip.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func u32From(ip netip.Addr) uint32 {
	b := ip.As4()
	return binary.BigEndian.Uint32(b[:])
}

// NewRangeSet builds a set named name (used in messages and logs) from
// prefixes. Host bits are ignored (192.0.2.1/24 is 192.0.2.0/24) and
// IPv4-mapped IPv6 prefixes count as IPv4. Invalid prefixes are skipped.
func NewRangeSet(name string, prefixes ...netip.Prefix) *RangeSet {
	s := &RangeSet{name: name}
	for _, p := range prefixes {
		s.add(p)
	}
	s.normalize()
	return s
}

// Union returns a set named name holding every network of sets (nil sets
// are empty).
func Union(name string, sets ...*RangeSet) *RangeSet {
	u := &RangeSet{name: name}
	for _, s := range sets {
		if s == nil {
			continue
		}
		u.prefixes += s.prefixes
		u.v4 = append(u.v4, s.v4...)
		u.v6 = append(u.v6, s.v6...)
	}
	u.normalize()
	return u
}

// add appends p as a range; normalize must run before lookups.
func (s *RangeSet) add(p netip.Prefix) bool {
	if !p.IsValid() {
		return false
	}
	addr, bits := p.Addr(), p.Bits()
	// An IPv4-mapped network (::ffff:192.0.2.0/120) is the IPv4 network
	// it maps, as Contains looks mapped addresses up as IPv4.
	if addr.Is4In6() && bits >= 96 {
		addr, bits = addr.Unmap(), bits-96
	}
	p = netip.PrefixFrom(addr, bits).Masked()
	s.prefixes++
	if p.Addr().Is4() {
		first := u32From(p.Addr())
		var hostMask uint32
		if p.Bits() < 32 {
			hostMask = ^uint32(0) >> p.Bits()
		}
		s.v4 = append(s.v4, v4Range{first, first | hostMask})
		return true
	}
	first := u128From(p.Addr())
	last := first
	switch b := p.Bits(); {
	case b == 0:
		last = u128{^uint64(0), ^uint64(0)}
	case b < 64:
		last.hi |= ^uint64(0) >> b
		last.lo = ^uint64(0)
	case b < 128:
		last.lo |= ^uint64(0) >> (b - 64)
	}
	s.v6 = append(s.v6, v6Range{first, last})
	return true
}

// normalize sorts and merges overlapping and adjacent ranges.
func (s *RangeSet) normalize() {
	slices.SortFunc(s.v4, func(a, b v4Range) int { return cmp.Compare(a.first, b.first) })
	out4 := s.v4[:0]
	for _, r := range s.v4 {
		if n := len(out4); n > 0 && (out4[n-1].last == ^uint32(0) || r.first <= out4[n-1].last+1) {
			out4[n-1].last = max(out4[n-1].last, r.last)
			continue
		}
		out4 = append(out4, r)
	}
	s.v4 = slices.Clip(out4)

	slices.SortFunc(s.v6, func(a, b v6Range) int { return a.first.cmp(b.first) })
	out6 := s.v6[:0]
	for _, r := range s.v6 {
		if n := len(out6); n > 0 && (out6[n-1].last.isMax() || r.first.cmp(out6[n-1].last.next()) <= 0) {
			if r.last.cmp(out6[n-1].last) > 0 {
				out6[n-1].last = r.last
			}
			continue
		}
		out6 = append(out6, r)
	}
	s.v6 = slices.Clip(out6)
}

// Skipped lists, one message each (name:line: what), the networks of a range list that
// ParseRanges left out because they are special-purpose blocks (SpecialNetwork).
func (s *RangeSet) Skipped() []string {
	if s == nil {
		return nil
	}
	return s.skipped
}

// Name is the name the set was built with (a file name, a rule name).
func (s *RangeSet) Name() string {
	if s == nil {
		return ""
	}
	return s.name
}

// Prefixes is how many networks went into the set, before merging.
func (s *RangeSet) Prefixes() int {
	if s == nil {
		return 0
	}
	return s.prefixes
}

// Ranges is how many disjoint address ranges the set holds after merging
// (IPv4 and IPv6), a measure of its lookup cost.
func (s *RangeSet) Ranges() int {
	if s == nil {
		return 0
	}
	return len(s.v4) + len(s.v6)
}

// Contains reports whether ip is in one of the set's networks. IPv4-mapped
// IPv6 addresses are looked up as IPv4; an invalid ip is in no set.
func (s *RangeSet) Contains(ip netip.Addr) bool {
	if s == nil || !ip.IsValid() {
		return false
	}
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	if ip.Is4() {
		x := u32From(ip)
		r := s.v4
		// Find the first range starting after x; the one before it is
		// the only candidate.
		lo, hi := 0, len(r)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if r[m].first <= x {
				lo = m + 1
			} else {
				hi = m
			}
		}
		return lo > 0 && x <= r[lo-1].last
	}
	x := u128From(ip)
	r := s.v6
	lo, hi := 0, len(r)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if f := r[m].first; f.hi < x.hi || (f.hi == x.hi && f.lo <= x.lo) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return false
	}
	l := r[lo-1].last
	return x.hi < l.hi || (x.hi == l.hi && x.lo <= l.lo)
}

// ParseRanges reads a range list: one network per line in CIDR notation
// (192.0.2.0/24, 2001:db8::/32) or a bare address (a /32 or /128). Blank
// lines and everything after a '#' are ignored. name (usually the file
// name) prefixes every error. All bad lines are reported, joined, each as
//
//	name:line: "text" is not a CIDR (expected e.g. 192.0.2.0/24 or 2001:db8::/32)
//
// and the set is returned only when there is none.
func ParseRanges(name string, r io.Reader) (*RangeSet, error) {
	return parseRanges(name, r, false)
}

// ParsePublicRanges is ParseRanges for lists of Internet addresses (published crawler and
// cloud ranges): special-purpose networks (documentation, private, loopback…: see
// SpecialNetwork) are left out, each listed by Skipped for a warning.
func ParsePublicRanges(name string, r io.Reader) (*RangeSet, error) {
	return parseRanges(name, r, true)
}

func parseRanges(name string, r io.Reader, publicOnly bool) (*RangeSet, error) {
	s := &RangeSet{name: name}
	var errs []error
	bad := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineLen)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if lineNo == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		p, ok := parseNetwork(line)
		if ok && publicOnly && p.IsValid() {
			if what, special := SpecialNetwork(p); special {
				s.skipped = append(s.skipped, fmt.Sprintf("%s:%d: %s is %s, which no client on the Internet sends from: skipped", name, lineNo, line, what))
				continue
			}
		}
		if !ok || !s.add(p) {
			bad++
			if bad <= maxBadLines {
				errs = append(errs, fmt.Errorf("%s:%d: %q is not a CIDR (expected e.g. 192.0.2.0/24 or 2001:db8::/32)", name, lineNo, line))
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			errs = append(errs, fmt.Errorf("%s:%d: line longer than %d bytes (expected one CIDR per line; is this a range list?)", name, lineNo+1, maxLineLen))
		} else {
			errs = append(errs, fmt.Errorf("%s: read after line %d: %w", name, lineNo, err))
		}
	}
	if bad > maxBadLines {
		errs = append(errs, fmt.Errorf("%s: %d more bad lines not shown", name, bad-maxBadLines))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.normalize()
	return s, nil
}

// parseNetwork parses a CIDR or a bare address (without zone).
func parseNetwork(text string) (netip.Prefix, bool) {
	if strings.IndexByte(text, '/') >= 0 {
		p, err := netip.ParsePrefix(text)
		return p, err == nil
	}
	a, err := netip.ParseAddr(text)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, a.BitLen()), true
}
