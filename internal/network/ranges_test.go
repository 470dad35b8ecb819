package network

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"testing"
)

func mustParseRanges(tb testing.TB, text string) *RangeSet {
	tb.Helper()
	s, err := ParseRanges("test", strings.NewReader(text))
	if err != nil {
		tb.Fatalf("ParseRanges: %v", err)
	}
	return s
}

func TestRangeSetContains(t *testing.T) {
	s := mustParseRanges(t, `# a comment
192.0.2.0/24
198.51.100.7          # a bare IPv4 address is a /32
203.0.113.0/25
203.0.113.128/25      # adjacent: merges with the line above
10.0.0.0/8
10.1.0.0/16           # inside 10.0.0.0/8
255.255.255.0/24      # touches the end of the IPv4 space

2001:db8::/32
2001:db8:1::/48       # inside
2001:db9::5
::ffff:100.64.0.0/112 # IPv4-mapped: 100.64.0.0/16
ffff:ffff:ffff:ffff::/64
`)
	tests := []struct {
		ip   string
		want bool
	}{
		{"192.0.2.0", true},
		{"192.0.2.255", true},
		{"192.0.1.255", false},
		{"192.0.3.0", false},
		{"198.51.100.7", true},
		{"198.51.100.6", false},
		{"198.51.100.8", false},
		{"203.0.113.0", true},
		{"203.0.113.127", true},
		{"203.0.113.128", true},
		{"203.0.113.255", true},
		{"203.0.114.0", false},
		{"10.255.255.255", true},
		{"11.0.0.0", false},
		{"9.255.255.255", false},
		{"255.255.255.255", true},
		{"0.0.0.0", false},
		{"100.64.3.4", true},
		{"100.65.0.0", false},
		{"::ffff:192.0.2.9", true},  // mapped address looked up as IPv4
		{"::ffff:100.64.0.1", true}, // mapped network stored as IPv4
		{"2001:db8::", true},
		{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true},
		{"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", false},
		{"2001:db9::", false},
		{"2001:db9::5", true},
		{"2001:db9::6", false},
		{"2001:db9::4", false},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", true},
		{"ffff:ffff:ffff:fffe::", false},
		{"::", false},
		{"::1", false},
		{"2001:db8::1%eth0", true}, // zone ignored
	}
	for _, tt := range tests {
		if got := s.Contains(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("Contains(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
	if s.Contains(netip.Addr{}) {
		t.Error("Contains(zero Addr) = true")
	}
	if got, want := s.Prefixes(), 12; got != want {
		t.Errorf("Prefixes() = %d, want %d", got, want)
	}
	// 192.0.2/24, .7, 203.0.113/24, 10/8, 100.64/16, 255.255.255/24;
	// 2001:db8::/32, 2001:db9::5, ffff:...::/64
	if got, want := s.Ranges(), 9; got != want {
		t.Errorf("Ranges() = %d, want %d (merging)", got, want)
	}
	if s.Name() != "test" {
		t.Errorf("Name() = %q", s.Name())
	}
}

func TestRangeSetEdges(t *testing.T) {
	tests := []struct {
		name   string
		set    *RangeSet
		ip     string
		want   bool
		ranges int
	}{
		{"nil set", nil, "192.0.2.1", false, 0},
		{"zero set", &RangeSet{}, "192.0.2.1", false, 0},
		{"empty list", mustParseRanges(t, "\n# nothing\n\n"), "192.0.2.1", false, 0},
		{"all IPv4", mustParseRanges(t, "0.0.0.0/0"), "255.255.255.255", true, 1},
		{"all IPv4 not IPv6", mustParseRanges(t, "0.0.0.0/0"), "2001:db8::1", false, 1},
		{"all IPv6", mustParseRanges(t, "::/0"), "ffff::1", true, 1},
		{"all IPv6 not IPv4", mustParseRanges(t, "::/0"), "192.0.2.1", false, 1},
		{"all IPv6 and more", mustParseRanges(t, "::/0\n2001:db8::/32\n::/1"), "8000::", true, 1},
		{"all IPv4 and more", mustParseRanges(t, "0.0.0.0/0\n255.255.255.255\n128.0.0.0/1"), "1.2.3.4", true, 1},
		{"host bits ignored", mustParseRanges(t, "192.0.2.77/24"), "192.0.2.1", true, 1},
		{"CRLF and BOM", mustParseRanges(t, "\ufeff192.0.2.0/24\r\n198.51.100.0/24\r\n"), "198.51.100.1", true, 2},
		{"adjacent v6 merge", mustParseRanges(t, "2001:db8::/33\n2001:db8:8000::/33"), "2001:db8:ffff::1", true, 1},
		{"v6 /64 boundary", mustParseRanges(t, "2001:db8:0:1::/64"), "2001:db8:0:2::", false, 1},
		{"NewRangeSet", NewRangeSet("n", netip.MustParsePrefix("192.0.2.0/24"), netip.Prefix{}), "192.0.2.1", true, 1},
		{"Union", Union("u", mustParseRanges(t, "192.0.2.0/25"), nil, mustParseRanges(t, "192.0.2.128/25\n2001:db8::/32")), "192.0.2.200", true, 2},
	}
	for _, tt := range tests {
		if got := tt.set.Contains(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("%s: Contains(%s) = %v, want %v", tt.name, tt.ip, got, tt.want)
		}
		if got := tt.set.Ranges(); got != tt.ranges {
			t.Errorf("%s: Ranges() = %d, want %d", tt.name, got, tt.ranges)
		}
	}
}

func TestParseRangesErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string // the whole error text
	}{
		{"one bad line", "192.0.2.0/24\nnot an address\n", `bad.txt:2: "not an address" is not a CIDR (expected e.g. 192.0.2.0/24 or 2001:db8::/32)`},
		{"all bad lines", "192.0.2.0/33\n\n# ok\n2001:db8::/129 # too long\n192.0.2.0/24\n300.1.2.3\n",
			`bad.txt:1: "192.0.2.0/33" is not a CIDR (expected e.g. 192.0.2.0/24 or 2001:db8::/32)` + "\n" +
				`bad.txt:4: "2001:db8::/129" is not a CIDR (expected e.g. 192.0.2.0/24 or 2001:db8::/32)` + "\n" +
				`bad.txt:6: "300.1.2.3" is not a CIDR (expected e.g. 192.0.2.0/24 or 2001:db8::/32)`},
		{"range syntax", "192.0.2.0-192.0.2.255", `bad.txt:1: "192.0.2.0-192.0.2.255" is not a CIDR (expected e.g. 192.0.2.0/24 or 2001:db8::/32)`},
		{"two on a line", "192.0.2.0/24 198.51.100.0/24", `bad.txt:1: "192.0.2.0/24 198.51.100.0/24" is not a CIDR (expected e.g. 192.0.2.0/24 or 2001:db8::/32)`},
		{"zone", "fe80::1%eth0", `bad.txt:1: "fe80::1%eth0" is not a CIDR (expected e.g. 192.0.2.0/24 or 2001:db8::/32)`},
		{"slash only", "/24", `bad.txt:1: "/24" is not a CIDR (expected e.g. 192.0.2.0/24 or 2001:db8::/32)`},
		{"line too long", "192.0.2.0/24\n" + strings.Repeat("x", maxLineLen+1) + "\n", `bad.txt:2: line longer than 4096 bytes (expected one CIDR per line; is this a range list?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseRanges("bad.txt", strings.NewReader(tt.text))
			if err == nil {
				t.Fatalf("ParseRanges = %d ranges, nil error; want %q", s.Ranges(), tt.want)
			}
			if s != nil {
				t.Errorf("ParseRanges returned a set along with the error")
			}
			if err.Error() != tt.want {
				t.Errorf("error =\n%s\nwant\n%s", err, tt.want)
			}
		})
	}
}

func TestParseRangesManyBadLines(t *testing.T) {
	var b strings.Builder
	for i := range maxBadLines + 7 {
		fmt.Fprintf(&b, "junk%d\n", i)
	}
	_, err := ParseRanges("junk.txt", strings.NewReader(b.String()))
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxBadLines+1 {
		t.Errorf("%d error lines, want %d", len(lines), maxBadLines+1)
	}
	if last := lines[len(lines)-1]; last != "junk.txt: 7 more bad lines not shown" {
		t.Errorf("last line = %q", last)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

func TestParseRangesReadError(t *testing.T) {
	_, err := ParseRanges("f.txt", failingReader{})
	if err == nil || err.Error() != "f.txt: read after line 0: disk on fire" {
		t.Errorf("error = %v", err)
	}
}

// loadRanges parses the shared ipranges/<name> lists (IPv4 and IPv6).
func loadRanges(tb testing.TB, name string) (*RangeSet, []netip.Prefix) {
	tb.Helper()
	var sets []*RangeSet
	var prefixes []netip.Prefix
	for _, file := range []string{"ipv4_merged.txt", "ipv6_merged.txt"} {
		path := sharedData(tb, "ipranges", name, file)
		f, err := os.Open(path)
		if err != nil {
			tb.Fatal(err)
		}
		s, err := ParseRanges(path, f)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := f.Seek(0, 0); err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			prefixes = append(prefixes, netip.MustParsePrefix(strings.TrimSpace(sc.Text())))
		}
		_ = f.Close()
		sets = append(sets, s)
	}
	return Union(name, sets...), prefixes
}

// TestRangeSetAppleProxy checks the big iCloud Private Relay list against
// a linear scan of its prefixes, on addresses inside and around them.
func TestRangeSetAppleProxy(t *testing.T) {
	s, prefixes := loadRanges(t, "apple-proxy")
	if s.Prefixes() != len(prefixes) || len(prefixes) < 10000 {
		t.Fatalf("Prefixes() = %d, file lines = %d", s.Prefixes(), len(prefixes))
	}
	linear := func(ip netip.Addr) bool {
		for _, p := range prefixes {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 2000; i++ {
		p := prefixes[rng.IntN(len(prefixes))]
		first, last := p.Addr(), lastAddr(p)
		for _, ip := range []netip.Addr{first, last, first.Prev(), last.Next()} {
			if !ip.IsValid() {
				continue
			}
			if got, want := s.Contains(ip), linear(ip); got != want {
				t.Fatalf("Contains(%s) = %v, linear scan says %v (around %s)", ip, got, want, p)
			}
		}
	}
}

func BenchmarkRangeSetContains(b *testing.B) {
	s, prefixes := loadRanges(b, "apple-proxy")
	b.Logf("apple-proxy: %d prefixes, %d ranges", s.Prefixes(), s.Ranges())
	rng := rand.New(rand.NewPCG(3, 4))
	var v4, v6 []netip.Addr
	for range 1024 {
		p := prefixes[rng.IntN(len(prefixes))]
		if p.Addr().Is4() {
			v4 = append(v4, p.Addr(), lastAddr(p).Next())
		} else {
			v6 = append(v6, p.Addr(), lastAddr(p).Next())
		}
	}
	for _, bc := range []struct {
		name  string
		addrs []netip.Addr
	}{{"v4", v4}, {"v6", v6}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s.Contains(bc.addrs[i%len(bc.addrs)])
				i++
			}
		})
	}
}
