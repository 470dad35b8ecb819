package rulefiles_test

import (
	"bufio"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/rules"
)

// firstPrefixes reads the shipped hosting prefix list: for each AS, its first IPv4 and first
// IPv6 prefix.
func firstPrefixes(t *testing.T) map[string][]netip.Prefix {
	t.Helper()
	f, err := os.Open(filepath.FromSlash(rulefiles.ASNPrefixesFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]netip.Prefix{}
	as, have4, have6 := "", false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "AS") {
			as, have4, have6 = strings.Fields(line)[0], false, false
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		p := netip.MustParsePrefix(line)
		if p.Addr().Is4() && !have4 || !p.Addr().Is4() && !have6 {
			out[as] = append(out[as], p)
			have4, have6 = have4 || p.Addr().Is4(), have6 || !p.Addr().Is4()
		}
	}
	return out
}

// TestHostingNetworksWithoutASNDatabase: with no ASN database, an address of every listed
// hosting AS is classified as that provider's hosting bot, by the shipped rules as floodgate
// loads them (rulefiles.ASNPrefixes); an address outside every list stays a browser.
func TestHostingNetworksWithoutASNDatabase(t *testing.T) {
	set, err := rulefiles.Load(rulefiles.Shipped)
	if err != nil {
		t.Fatal(err)
	}
	prefixes, from, err := rulefiles.ASNPrefixes(rulefiles.Shipped)
	if err != nil || prefixes == nil || from != "shipped:"+rulefiles.ASNPrefixesFile {
		t.Fatalf("shipped AS prefix lists: %v, %v (%s)", prefixes, err, from)
	}
	if n, ases := prefixes.Networks(); n < 1000 || ases < 30 {
		t.Fatalf("shipped AS prefix lists: %d prefixes of %d AS numbers, expected the listed providers' address space", n, ases)
	}
	c := classify.New(set, prefixes, network.PrefixLengths{})
	const browser = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"
	got := firstPrefixes(t)
	if len(got) < 30 {
		t.Fatalf("%d AS numbers with prefixes in %s", len(got), rulefiles.ASNPrefixesFile)
	}
	for as, ps := range got {
		for _, p := range ps {
			for _, ip := range []netip.Addr{p.Addr(), p.Masked().Addr().Next()} {
				var res classify.Result
				c.Classify(&classify.Request{IP: ip, UserAgent: browser, Host: "example.org", Method: "GET", Path: "/"}, &res)
				if res.Class != "bot" || !strings.HasPrefix(res.Bot, "hosting:") || "AS"+itoa(res.ASN) != as {
					t.Errorf("%s %s (%s): class %q bot %q asn %d rule %q, want a hosting bot of %s", as, ip, p, res.Class, res.Bot, res.ASN, res.Rule, as)
				}
			}
		}
	}
	for _, ip := range []string{"90.1.2.3", "2a01:cb00::1"} {
		var res classify.Result
		c.Classify(&classify.Request{IP: netip.MustParseAddr(ip), UserAgent: browser, Host: "example.org", Method: "GET", Path: "/"}, &res)
		if res.Class != "browser" || res.ASN != 0 {
			t.Errorf("%s (no listed provider): class %q asn %d, want browser with no AS", ip, res.Class, res.ASN)
		}
	}
}

// TestExportedPrefixListIsUsed: a folder exported and refreshed by a tech uses its own list;
// a broken list is a file:line error; a rule file with no list beside it has none.
func TestExportedPrefixListIsUsed(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := rulefiles.Export(dir); err != nil {
		t.Fatal(err)
	}
	// A tech's refreshed list: one provider, one documentation prefix.
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(rulefiles.ASNPrefixesFile)), []byte("AS24940 Hetzner Online GmbH\n198.51.100.0/24\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, from, err := rulefiles.ASNPrefixes(dir, "/etc/floodgate/local.yaml")
	if err != nil || from != filepath.Join(dir, filepath.FromSlash(rulefiles.ASNPrefixesFile)) {
		t.Fatalf("ASNPrefixes(exported folder) = %v from %s, %v", p, from, err)
	}
	if a, ok := p.Lookup(netip.MustParseAddr("198.51.100.7")); !ok || a.Number != 24940 {
		t.Errorf("refreshed list: 198.51.100.7 -> %v %v, want AS24940", a, ok)
	}
	if _, ok := p.Lookup(netip.MustParseAddr("5.9.0.1")); ok {
		t.Errorf("refreshed list still answers for an address it no longer lists")
	}
	// A broken list is a clear error naming the file and line.
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(rulefiles.ASNPrefixesFile)), []byte("AS24940 Hetzner\nnot-a-cidr\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rulefiles.ASNPrefixes(dir); err == nil || !strings.Contains(err.Error(), "hosting.txt:2:") {
		t.Errorf("broken list: error %v, want one naming hosting.txt:2", err)
	}
	// No list beside a rule file: none, no error.
	if p, _, err := rulefiles.ASNPrefixes(filepath.Join(t.TempDir(), "local.yaml")); p != nil || err != nil {
		t.Errorf("no list: %v, %v; want nil, nil", p, err)
	}
}

func itoa(n uint32) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
