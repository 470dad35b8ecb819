package harness

import "net/netip"

// NetworkKind says who lives on a network of the benchmark's ASN database.
type NetworkKind string

// The kinds of networks the populations come from.
const (
	// Residential networks: consumer ISPs, where humans and stealth scrapers come from.
	Residential NetworkKind = "residential"
	// Cloud networks: hosting providers, where AI crawlers and part of the POST burst come from.
	Cloud NetworkKind = "cloud"
	// Search networks: the search engine's own network (Googlebot).
	Search NetworkKind = "search"
)

// Network is one entry of the generated ASN database. The prefixes are public-looking but
// are used only as data: they appear in X-Forwarded-For and in the .mmdb, never as a
// destination.
type Network struct {
	// Prefix is the network.
	Prefix netip.Prefix
	// ASN and Org are what the database says about it.
	ASN uint32
	// Org is the AS organisation name.
	Org string
	// Kind says which populations draw addresses from it.
	Kind NetworkKind
}

// Networks is the content of the benchmark's ASN database. AS numbers and names are the real
// operators' (so the shipped hosting-network rules recognise the cloud ones); which prefix
// maps to which AS is simplified.
var Networks = []Network{
	{netip.MustParsePrefix("90.0.0.0/9"), 3215, "Orange", Residential},
	{netip.MustParsePrefix("73.0.0.0/8"), 7922, "COMCAST-7922", Residential},
	{netip.MustParsePrefix("84.128.0.0/10"), 3320, "Deutsche Telekom AG", Residential},
	{netip.MustParsePrefix("3.0.0.0/9"), 16509, "AMAZON-02", Cloud},
	{netip.MustParsePrefix("20.0.0.0/11"), 8075, "MICROSOFT-CORP-MSN-AS-BLOCK", Cloud},
	{netip.MustParsePrefix("47.74.0.0/15"), 45102, "ALIBABA-CN-NET", Cloud},
	{netip.MustParsePrefix("66.249.64.0/19"), 15169, "GOOGLE", Search},
}

// NetworksOf returns the networks of one kind, in table order.
func NetworksOf(kind NetworkKind) []Network {
	var out []Network
	for _, n := range Networks {
		if n.Kind == kind {
			out = append(out, n)
		}
	}
	return out
}

// AddrAt returns the address at offset off inside p (wrapping around the prefix size), an
// IPv4 prefix. Offsets that land on the first or last address of a /24 are moved inside, so
// no generated client is a network or broadcast address.
func AddrAt(p netip.Prefix, off uint32) netip.Addr {
	bits := 32 - p.Bits()
	size := uint64(1) << bits
	o := uint64(off) % size
	b := p.Masked().Addr().As4()
	base := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v := base + uint32(o)
	if bits >= 8 {
		switch v & 0xff {
		case 0:
			v++
		case 0xff:
			v--
		}
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// GooglebotAddrs are addresses inside Google's published googlebot ranges as shipped with
// floodgate (rules/ranges/googlebot/ipv4_merged.txt: 66.249.64.0/23, 66.249.66.0/24,
// 66.249.67.0/26), so that the shipped verify rule accepts them; a test checks them against
// that file.
var GooglebotAddrs = []netip.Addr{
	netip.MustParseAddr("66.249.64.1"),
	netip.MustParseAddr("66.249.64.200"),
	netip.MustParseAddr("66.249.65.10"),
	netip.MustParseAddr("66.249.66.1"),
	netip.MustParseAddr("66.249.66.70"),
	netip.MustParseAddr("66.249.67.5"),
}
