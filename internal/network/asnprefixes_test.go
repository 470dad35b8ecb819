package network

import (
	"bufio"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestParseASNPrefixesErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"prefix before AS", "192.0.2.0/24\n", "f.txt:1: prefix 192.0.2.0/24 comes before any AS line (expected e.g. AS16509 first)"},
		{"bad AS", "# c\nAS12x Foo\n", `f.txt:2: "AS12x Foo" is not an AS line (expected e.g. AS16509 AMAZON-02)`},
		{"AS zero", "AS0\n", `f.txt:1: "AS0" is not an AS line (expected e.g. AS16509 AMAZON-02)`},
		{"bad CIDR", "AS1 A\n192.0.2.0/33\n", `f.txt:2: "192.0.2.0/33" is not a CIDR (expected e.g. 192.0.2.0/24 or 2001:db8::/32, after an AS line)`},
		{"two AS for one v4 address", "AS1\n192.0.2.0/24\nAS2\n192.0.2.128/25\n", "f.txt: AS1 and AS2 both list 192.0.2.128"},
		{"two AS for one v6 address", "AS1\n2001:db8::/32\nAS2\n2001:db8:1::/48\n", "f.txt: AS1 and AS2 both list 2001:db8:1::"},
	} {
		_, err := ParseASNPrefixes("f.txt", strings.NewReader(tc.in))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: error %v, want %s", tc.name, err, tc.want)
		}
	}
}

func TestASNPrefixesLookup(t *testing.T) {
	p, err := ParseASNPrefixes("f.txt", strings.NewReader(`
AS1 ONE  # comment
192.0.2.0/25
192.0.2.0/26      # nested in the one above: merged
198.51.100.0/24
AS2 TWO
192.0.2.128/25    # touches AS1's: both kept apart
2001:db8::/32
AS3
255.255.255.0/24
`))
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]uint32{
		"192.0.2.0": 1, "192.0.2.127": 1, "192.0.2.128": 2, "192.0.2.255": 2, "192.0.3.0": 0,
		"198.51.100.200": 1, "198.51.99.255": 0, "0.0.0.0": 0, "255.255.255.255": 3,
		"::ffff:192.0.2.1": 1, "2001:db8:ffff::1": 2, "2001:db9::": 0, "::": 0,
	} {
		a, ok := p.Lookup(netip.MustParseAddr(ip))
		if ok != (want != 0) || a.Number != want {
			t.Errorf("Lookup(%s) = %v %v, want AS%d", ip, a, ok, want)
		}
	}
	if a, _ := p.Lookup(netip.MustParseAddr("192.0.2.1")); a.Org != "ONE" {
		t.Errorf("org = %q, want ONE", a.Org)
	}
	if _, ok := (*ASNPrefixes)(nil).Lookup(netip.MustParseAddr("192.0.2.1")); ok {
		t.Error("nil lists answered")
	}
}

// TestShippedASNPrefixesAgainstLinearScan checks the lookup on the shipped hosting prefix
// lists against a scan of every prefix, at the edges of random prefixes.
func TestShippedASNPrefixesAgainstLinearScan(t *testing.T) {
	path := filepath.Join("..", "..", "rules", "ranges", "asn", "hosting.txt")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := ParseASNPrefixes(path, f)
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		p   netip.Prefix
		asn string
	}
	var all []entry
	_, _ = f.Seek(0, 0)
	sc := bufio.NewScanner(f)
	as := ""
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "AS") {
			as = strings.TrimPrefix(strings.Fields(l)[0], "AS")
		} else if l != "" && l[0] != '#' {
			all = append(all, entry{netip.MustParsePrefix(l), as})
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 500 {
		e := all[rng.IntN(len(all))]
		lo, hi := rangeOf(e.p)
		for _, ip := range []netip.Addr{lo, hi, lo.Prev(), hi.Next()} {
			if !ip.IsValid() {
				continue
			}
			want := ""
			for _, x := range all {
				if x.p.Contains(ip) {
					want = x.asn
				}
			}
			a, ok := p.Lookup(ip)
			got := ""
			if ok {
				got = strconv.FormatUint(uint64(a.Number), 10)
			}
			if got != want {
				t.Fatalf("Lookup(%s) = AS%s, linear scan says AS%s (around %s)", ip, got, want, e.p)
			}
		}
	}
}
