package network

import (
	"errors"
	"fmt"
	"net/netip"
)

// Default prefix lengths under which addresses are counted: a /24 is what
// one IPv4 customer or small hosting block typically holds, a /64 is the
// smallest IPv6 subnet handed to one customer or one machine.
const (
	DefaultV4Bits = 24
	DefaultV6Bits = 64
	// DefaultV6WideBits is the wider IPv6 network budgets per prefix also count: a /64 is
	// one subnet, but a customer (a home, an office, a rented server) usually holds a /48 or
	// a /56 and can pick a new /64 for every request. Counting the /48 too gives IPv6
	// clients no more room than an IPv4 /24.
	DefaultV6WideBits = 48
)

// Bounds of the prefix lengths accepted by PrefixLengths.Valid.
const (
	MinV4Bits = 8
	MaxV4Bits = 32
	MinV6Bits = 16
	MaxV6Bits = 128
)

// Prefix returns the network of ip truncated to v4Bits (IPv4) or v6Bits
// (IPv6). A length of 0 or less means the default (24 and 64); a length
// above the address size means the whole address. IPv4-mapped IPv6
// addresses (::ffff:192.0.2.1) are treated as IPv4, and zones are dropped,
// so the same client always gets the same prefix. An invalid ip gives the
// zero Prefix.
func Prefix(ip netip.Addr, v4Bits, v6Bits int) netip.Prefix {
	if !ip.IsValid() {
		return netip.Prefix{}
	}
	ip = ip.Unmap().WithZone("")
	bits, def := v6Bits, DefaultV6Bits
	if ip.Is4() {
		bits, def = v4Bits, DefaultV4Bits
	}
	if bits <= 0 {
		bits = def
	}
	if bits > ip.BitLen() {
		bits = ip.BitLen()
	}
	p, err := ip.Prefix(bits)
	if err != nil { // unreachable: bits is within 1..BitLen
		return netip.Prefix{}
	}
	return p
}

// PrefixLengths says how long a network prefix counts as "one network" for
// budgets keyed by prefix.
type PrefixLengths struct {
	// V4 is the IPv4 prefix length, 8 to 32; 0 means 24.
	V4 int `json:"v4,omitempty" yaml:"v4,omitempty"`
	// V6 is the IPv6 prefix length, 16 to 128; 0 means 64.
	V6 int `json:"v6,omitempty" yaml:"v6,omitempty"`
	// V6Wide is the wider IPv6 prefix budgets per prefix also count, 16 to V6; 0 means 48.
	// Equal to V6: no wider count.
	V6Wide int `json:"v6_wide,omitempty" yaml:"v6_wide,omitempty"`
}

// WithDefaults returns l with zero lengths replaced by the defaults.
func (l PrefixLengths) WithDefaults() PrefixLengths {
	if l.V4 == 0 {
		l.V4 = DefaultV4Bits
	}
	if l.V6 == 0 {
		l.V6 = DefaultV6Bits
	}
	if l.V6Wide == 0 {
		l.V6Wide = min(DefaultV6WideBits, l.V6)
	}
	return l
}

// Valid reports every length out of bounds; zero (the default) is valid.
func (l PrefixLengths) Valid() error {
	var errs []error
	if l.V4 != 0 && (l.V4 < MinV4Bits || l.V4 > MaxV4Bits) {
		errs = append(errs, fmt.Errorf("IPv4 prefix length %d is out of range (expected %d to %d, default %d)", l.V4, MinV4Bits, MaxV4Bits, DefaultV4Bits))
	}
	if l.V6 != 0 && (l.V6 < MinV6Bits || l.V6 > MaxV6Bits) {
		errs = append(errs, fmt.Errorf("IPv6 prefix length %d is out of range (expected %d to %d, default %d)", l.V6, MinV6Bits, MaxV6Bits, DefaultV6Bits))
	}
	v6 := l.V6
	if v6 == 0 {
		v6 = DefaultV6Bits
	}
	if l.V6Wide != 0 && (l.V6Wide < MinV6Bits || l.V6Wide > v6) {
		errs = append(errs, fmt.Errorf("IPv6 wide prefix length %d is out of range (expected %d to the IPv6 prefix length, default %d)", l.V6Wide, MinV6Bits, DefaultV6WideBits))
	}
	return errors.Join(errs...)
}

// WidePrefix returns the wider IPv6 network of ip (V6Wide) that budgets per prefix also
// count, or the zero Prefix for IPv4 and when V6Wide is not wider than V6.
func (l PrefixLengths) WidePrefix(ip netip.Addr) netip.Prefix {
	l = l.WithDefaults()
	ip = ip.Unmap()
	if !ip.Is6() || l.V6Wide >= l.V6 {
		return netip.Prefix{}
	}
	return Prefix(ip, l.V4, l.V6Wide)
}

// Prefix returns the network of ip under these lengths; see Prefix.
func (l PrefixLengths) Prefix(ip netip.Addr) netip.Prefix {
	return Prefix(ip, l.V4, l.V6)
}
