package network

import (
	"net/netip"
	"strings"
	"testing"
)

// TestPublicRangesSkipSpecialNetworks: a published range list holding documentation, private
// or loopback networks (the Vultr list held the three IPv4 documentation networks) loads
// without them, each named in a warning; ParseRanges, for a tech's own lists, keeps them.
func TestPublicRangesSkipSpecialNetworks(t *testing.T) {
	const list = `45.32.0.0/16
192.0.2.0/24
198.51.100.0/24
203.0.113.0/24   # documentation networks a list once carried
10.1.0.0/16
127.0.0.1
2001:19f0::/38
2001:db8::/32
2002::/16
fd00::/8
192.0.8.0/24
`
	s, err := ParsePublicRanges("vultr.txt", strings.NewReader(list))
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]bool{
		"45.32.1.1": true, "2001:19f0::1": true, "192.0.8.1": true,
		"192.0.2.1": false, "198.51.100.1": false, "203.0.113.9": false, "10.1.2.3": false, "127.0.0.1": false,
		"2001:db8::1": false, "2002:c000:201::1": false, "fd00::1": false,
	} {
		if got := s.Contains(netip.MustParseAddr(ip)); got != want {
			t.Errorf("Contains(%s) = %v, want %v", ip, got, want)
		}
	}
	skipped := strings.Join(s.Skipped(), "\n")
	for _, want := range []string{
		"vultr.txt:2: 192.0.2.0/24 is a documentation network (RFC 5737)",
		"vultr.txt:4: 203.0.113.0/24 is a documentation network",
		"vultr.txt:5: 10.1.0.0/16 is a private network",
		"vultr.txt:6: 127.0.0.1 is loopback",
		"vultr.txt:8: 2001:db8::/32 is a documentation network (RFC 3849)",
		"vultr.txt:9: 2002::/16 is 6to4 relay space",
	} {
		if !strings.Contains(skipped, want) {
			t.Errorf("warnings lack %q:\n%s", want, skipped)
		}
	}
	if n := len(s.Skipped()); n != 8 {
		t.Errorf("%d networks skipped, want 8:\n%s", n, skipped)
	}
	own, err := ParseRanges("office.txt", strings.NewReader(list))
	if err != nil || !own.Contains(netip.MustParseAddr("10.1.2.3")) || len(own.Skipped()) != 0 {
		t.Errorf("ParseRanges (a tech's own list) dropped private networks: %v %v", err, own.Skipped())
	}
}
