package network

import "net/netip"

// specialNetworks are the address blocks no crawler, search engine or cloud customer sends
// from on the Internet: documentation examples, private and shared networks, loopback,
// link-local, "this network", multicast and reserved space (RFC 6890 and its registries). A
// published range list that holds one is a copying error (the Vultr list once carried the
// three IPv4 documentation networks): trusting it would let anyone who can forge those
// addresses — or any client behind a misconfigured proxy — pass as the operator.
var specialNetworks = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation network (RFC 5737)"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation network (RFC 5737)"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation network (RFC 5737)"},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation network (RFC 3849)"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private network (RFC 1918)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private network (RFC 1918)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private network (RFC 1918)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (RFC 6598)"},
	{netip.MustParsePrefix("fc00::/7"), "a private network (RFC 4193)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("0.0.0.0/8"), "\"this network\" (RFC 791)"},
	{netip.MustParsePrefix("::/128"), "the unspecified address"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved (RFC 1112)"},
	{netip.MustParsePrefix("2002::/16"), "6to4 relay space (RFC 3056: every IPv4 address owns a /48 of it)"},
	{netip.MustParsePrefix("2001::/32"), "Teredo relay space (RFC 4380: any client tunnels from it)"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64 translation space (RFC 6052)"},
}

// SpecialNetwork says what p is when it lies wholly inside a special-purpose block.
func SpecialNetwork(p netip.Prefix) (string, bool) {
	p = p.Masked()
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	for _, s := range specialNetworks {
		if s.prefix.Addr().BitLen() == p.Addr().BitLen() && s.prefix.Bits() <= p.Bits() && s.prefix.Contains(p.Addr()) {
			return s.what, true
		}
	}
	return "", false
}
