package classify

import (
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// testRulesPath is the rule file written for these tests.
var testRulesPath = filepath.Join("..", "..", "testdata", "rules", "classify", "classify.yaml")

// testASNPath is the generated test ASN database, see testdata/mmdb/README.md.
var testASNPath = filepath.Join("..", "..", "testdata", "mmdb", "test-asn.mmdb")

func loadSet(tb testing.TB, paths ...string) *rules.Set {
	tb.Helper()
	set, err := rules.Load(rules.OSSource{}, paths...)
	if err != nil {
		tb.Fatalf("loading %v: %v", paths, err)
	}
	return set
}

func openASN(tb testing.TB) *network.ASNDB {
	tb.Helper()
	db, err := network.OpenASN(testASNPath)
	if err != nil {
		tb.Fatalf("opening %s: %v", testASNPath, err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func newTestClassifier(tb testing.TB) *Classifier {
	tb.Helper()
	return New(loadSet(tb, testRulesPath), openASN(tb), network.PrefixLengths{})
}

func ruleNames(rs []*rules.Rule) []string {
	names := []string{}
	for _, r := range rs {
		names = append(names, r.Name)
	}
	return names
}

type want struct {
	class, bot, rule   string
	verified, impostor bool
	asn                uint32
	rules              []string // names of Result.Rules, in set order; nil: the identity rule alone
}

func checkResult(t *testing.T, req Request, got *Result, w want) {
	t.Helper()
	if w.rules == nil { // by default, the identity rule alone
		w.rules = []string{}
		if w.rule != "" {
			w.rules = []string{w.rule}
		}
	}
	if got.Class != w.class || got.Bot != w.bot || got.Rule != w.rule {
		t.Errorf("%+v: class/bot/rule = %q/%q/%q, want %q/%q/%q", req, got.Class, got.Bot, got.Rule, w.class, w.bot, w.rule)
	}
	if got.Verified != w.verified || got.Impostor != w.impostor {
		t.Errorf("%+v: verified/impostor = %v/%v, want %v/%v", req, got.Verified, got.Impostor, w.verified, w.impostor)
	}
	if got.ASN != w.asn {
		t.Errorf("%+v: ASN = %d, want %d", req, got.ASN, w.asn)
	}
	if names := ruleNames(got.Rules); !slices.Equal(names, w.rules) {
		t.Errorf("%+v: rules = %v, want %v", req, names, w.rules)
	}
	switch {
	case w.rule == "" && got.IdentityRule != nil:
		t.Errorf("%+v: IdentityRule = %s, want nil", req, got.IdentityRule.Name)
	case w.rule != "" && (got.IdentityRule == nil || got.IdentityRule.Name != w.rule):
		t.Errorf("%+v: IdentityRule = %v, want %s", req, got.IdentityRule, w.rule)
	}
}

var (
	ipLocal   = netip.MustParseAddr("127.0.0.1") // not in the ASN database
	ipAmazon  = netip.MustParseAddr("127.0.1.7") // AS16509
	ipGoogle  = netip.MustParseAddr("127.0.2.7") // AS15169, inside range goodbot
	ipMSFT    = netip.MustParseAddr("127.0.3.1") // AS8075
	ipPartner = netip.MustParseAddr("127.0.5.3")
	ipOffice  = netip.MustParseAddr("127.0.9.200")
	ipV6Local = netip.MustParseAddr("::1") // AS3215, inside range goodbot
)

const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

func TestClassify(t *testing.T) {
	c := newTestClassifier(t)
	tests := []struct {
		name string
		req  Request
		want want
	}{
		// Identity: first match in load order, verified or impostor.
		{"verified bot", Request{IP: ipGoogle, UserAgent: "GoodBot/1.0"},
			want{class: "search-bot", bot: "GoodBot", rule: "GoodBot", verified: true, asn: 15169, rules: []string{"GoodBot"}}},
		{"verified bot over IPv6", Request{IP: ipV6Local, UserAgent: "GoodBot/1.0"},
			want{class: "search-bot", bot: "GoodBot", rule: "GoodBot", verified: true, asn: 3215, rules: []string{"GoodBot"}}},
		{"verified bot, IPv4-mapped address", Request{IP: netip.MustParseAddr("::ffff:127.0.2.9"), UserAgent: "GoodBot/1.0"},
			want{class: "search-bot", bot: "GoodBot", rule: "GoodBot", verified: true, asn: 15169, rules: []string{"GoodBot"}}},
		{"user_agent is case-insensitive", Request{IP: ipGoogle, UserAgent: "x (compatible; GOODBOT/2)"},
			want{class: "search-bot", bot: "GoodBot", rule: "GoodBot", verified: true, asn: 15169, rules: []string{"GoodBot"}}},
		// An impostor is class bot, so bots-everywhere (match.class: bot) applies to it.
		{"impostor from a cloud: first identity rule wins over the asn rule", Request{IP: ipAmazon, UserAgent: "GoodBot/1.0"},
			want{class: "bot", bot: "impostor:GoodBot", rule: "GoodBot", impostor: true, asn: 16509, rules: []string{"GoodBot", "bots-everywhere"}}},
		{"unverifiable without an address: the claim stands, unverified, not an impostor", Request{UserAgent: "GoodBot/1.0"},
			want{class: "search-bot", bot: "GoodBot", rule: "GoodBot", rules: []string{"GoodBot"}}},
		{"impostor of a bot with its own family name", Request{IP: ipMSFT, UserAgent: "my lenientBOT"},
			want{class: "bot", bot: "impostor:lenient", rule: "LenientBot", impostor: true, asn: 8075, rules: []string{"LenientBot", "bots-everywhere"}}},
		{"longer token first", Request{IP: ipLocal, UserAgent: "x SpiderPro/3"},
			want{class: "bot", bot: "SpiderPro", rule: "SpiderPro", rules: []string{"SpiderPro", "bots-everywhere"}}},
		{"shorter token", Request{IP: ipLocal, UserAgent: "spider"},
			want{class: "ai-crawler", bot: "spider-family", rule: "Spider", rules: []string{"Spider", "bots-everywhere"}}},
		{"second entry of a list", Request{IP: ipLocal, UserAgent: "ARACHNID/1.0"},
			want{class: "ai-crawler", bot: "spider-family", rule: "Spider", rules: []string{"Spider", "bots-everywhere"}}},
		{"user_agent and user_agent_regex both hold", Request{IP: ipLocal, UserAgent: "ComboBot/2.1"},
			want{class: "ai-crawler", bot: "Combo", rule: "Combo", rules: []string{"Combo", "bots-everywhere"}}},
		{"user_agent holds, user_agent_regex does not", Request{IP: ipLocal, UserAgent: "ComboBot/1.0"},
			want{class: "unknown"}},
		{"user_agent_regex holds, user_agent does not", Request{IP: ipLocal, UserAgent: "Other/2.0"},
			want{class: "unknown"}},
		{"user_agent_regex", Request{IP: ipLocal, UserAgent: "curl/8.5.0"},
			want{class: "bot", bot: "curl", rule: "curl", rules: []string{"curl", "bots-everywhere"}}},
		{"user_agent_regex is case-insensitive", Request{IP: ipLocal, UserAgent: "CURL/8.5.0"},
			want{class: "bot", bot: "curl", rule: "curl", rules: []string{"curl", "bots-everywhere"}}},
		{"user_agent_regex anchored", Request{IP: ipLocal, UserAgent: "libcurl/8.5.0"},
			want{class: "unknown"}},
		{"user_agent_empty: missing", Request{IP: ipLocal},
			want{class: "bot", bot: "no-user-agent", rule: "NoUA", rules: []string{"NoUA", "bots-everywhere"}}},
		{"user_agent_empty: blank", Request{IP: ipLocal, UserAgent: " \t "},
			want{class: "bot", bot: "no-user-agent", rule: "NoUA", rules: []string{"NoUA", "bots-everywhere"}}},
		{"user_agent_empty: not for a dash", Request{IP: ipLocal, UserAgent: "-"},
			want{class: "unknown"}},
		{"asn", Request{IP: ipAmazon, UserAgent: "Wget/1.21"},
			want{class: "bot", bot: "AmazonCloud", rule: "AmazonCloud", asn: 16509, rules: []string{"AmazonCloud", "bots-everywhere"}}},
		{"asn of another network", Request{IP: ipMSFT, UserAgent: "Wget/1.21"},
			want{class: "unknown", asn: 8075}},
		{"cidr v4", Request{IP: ipPartner, UserAgent: "Wget/1.21"},
			want{class: "partner", bot: "PartnerNet", rule: "PartnerNet", rules: []string{"PartnerNet"}}},
		{"cidr v4, IPv4-mapped address", Request{IP: netip.MustParseAddr("::ffff:127.0.5.200"), UserAgent: "Wget/1.21"},
			want{class: "partner", bot: "PartnerNet", rule: "PartnerNet", rules: []string{"PartnerNet"}}},
		{"cidr v6", Request{IP: netip.MustParseAddr("fd00:5:1::9"), UserAgent: "Wget/1.21"},
			want{class: "partner", bot: "PartnerNet", rule: "PartnerNet", rules: []string{"PartnerNet"}}},
		{"cidr v6 outside", Request{IP: netip.MustParseAddr("fd00:6::9"), UserAgent: "Wget/1.21"},
			want{class: "unknown"}},
		{"ranges", Request{IP: ipOffice, UserAgent: firefox},
			want{class: "browser", bot: "office", rule: "Office", rules: []string{"Office"}}},
		{"browser", Request{IP: ipLocal, UserAgent: firefox},
			want{class: "browser", bot: "browser", rule: "Browser", rules: []string{"Browser"}}},
		{"unknown: no rule", Request{IP: ipLocal, UserAgent: "Wget/1.21", Host: "example.net", Method: "GET", Path: "/"},
			want{class: "unknown"}},

		// Policy rules: all that match apply, in set order, beside the identity rule.
		{"path and method", Request{IP: ipLocal, UserAgent: firefox, Method: "POST", Path: "/wp-login.php"},
			want{class: "browser", bot: "browser", rule: "Browser", rules: []string{"Browser", "login-post"}}},
		{"path without the method", Request{IP: ipLocal, UserAgent: firefox, Method: "GET", Path: "/wp-login.php"},
			want{class: "browser", bot: "browser", rule: "Browser", rules: []string{"Browser"}}},
		{"path glob **", Request{IP: ipLocal, UserAgent: firefox, Method: "GET", Path: "/wp-content/uploads/2024/08/x.php"},
			want{class: "browser", bot: "browser", rule: "Browser", rules: []string{"Browser", "uploads-php"}}},
		{"path glob ** not a suffix", Request{IP: ipLocal, UserAgent: firefox, Method: "GET", Path: "/wp-content/uploads/x.php.jpg"},
			want{class: "browser", bot: "browser", rule: "Browser"}},
		{"path glob *", Request{IP: ipLocal, UserAgent: firefox, Path: "/a/x/b"},
			want{class: "browser", bot: "browser", rule: "Browser", rules: []string{"Browser", "one-level"}}},
		{"path glob * stops at /", Request{IP: ipLocal, UserAgent: firefox, Path: "/a/x/y/b"},
			want{class: "browser", bot: "browser", rule: "Browser"}},
		{"query parameter", Request{IP: ipLocal, UserAgent: firefox, Path: "/", Query: "s=foo"},
			want{class: "browser", bot: "browser", rule: "Browser", rules: []string{"Browser", "search"}}},
		{"query parameter, encoded", Request{IP: ipLocal, UserAgent: firefox, Path: "/", Query: "x=1&%73=foo"},
			want{class: "browser", bot: "browser", rule: "Browser", rules: []string{"Browser", "search"}}},
		{"query parameter with value", Request{IP: ipLocal, UserAgent: firefox, Path: "/", Query: "page=recherche&x=1"},
			want{class: "browser", bot: "browser", rule: "Browser", rules: []string{"Browser", "search"}}},
		{"query parameter with another value", Request{IP: ipLocal, UserAgent: firefox, Path: "/", Query: "page=accueil&ss=1"},
			want{class: "browser", bot: "browser", rule: "Browser"}},
		{"host exact", Request{IP: ipLocal, UserAgent: firefox, Host: "example.org"},
			want{class: "browser", bot: "browser", rule: "Browser", rules: []string{"Browser", "example-exact"}}},
		{"host subdomain", Request{IP: ipLocal, UserAgent: firefox, Host: "www.example.org"},
			want{class: "browser", bot: "browser", rule: "Browser", rules: []string{"Browser", "example-subdomains"}}},
		{"host lookalikes", Request{IP: ipLocal, UserAgent: firefox, Host: "notexample.org"},
			want{class: "browser", bot: "browser", rule: "Browser"}},
		{"host with the name as a prefix", Request{IP: ipLocal, UserAgent: firefox, Host: "example.org.evil.test"},
			want{class: "browser", bot: "browser", rule: "Browser"}},
		{"match.class with host", Request{IP: ipPartner, UserAgent: "sync", Host: "example.org"},
			want{class: "partner", bot: "PartnerNet", rule: "PartnerNet", rules: []string{"PartnerNet", "example-exact", "partner-on-example"}}},
		{"match.class keeps other classes out", Request{IP: ipLocal, UserAgent: firefox, Host: "example.org"},
			want{class: "browser", bot: "browser", rule: "Browser", rules: []string{"Browser", "example-exact"}}},
		{"policy rules apply to unknown clients too", Request{IP: ipLocal, UserAgent: "Wget", Host: "a.example.org", Path: "/wp-content/uploads/a.php", Query: "s"},
			want{class: "unknown", rules: []string{"uploads-php", "search", "example-subdomains"}}},
		{"every matching policy rule", Request{IP: ipLocal, UserAgent: "spider", Host: "example.org", Method: "POST", Path: "/wp-login.php", Query: "s=1"},
			want{class: "ai-crawler", bot: "spider-family", rule: "Spider", rules: []string{"Spider", "login-post", "search", "example-exact", "bots-everywhere"}}},
	}
	// One Result reused for every request, as a handler would: nothing may leak from one
	// request into the next. Run twice: the second pass is served by the User-Agent cache.
	var out Result
	for pass := 0; pass < 2; pass++ {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req := tt.req
				c.Classify(&req, &out)
				checkResult(t, req, &out, tt.want)
			})
		}
	}
}

func TestClassifyWithoutASNDatabase(t *testing.T) {
	c := New(loadSet(t, testRulesPath), nil, network.PrefixLengths{})
	var out Result
	req := Request{IP: ipAmazon, UserAgent: "Wget/1.21"}
	c.Classify(&req, &out)
	checkResult(t, req, &out, want{class: "unknown"})
}

func TestClassifyPrefix(t *testing.T) {
	set := loadSet(t, testRulesPath)
	tests := []struct {
		lengths network.PrefixLengths
		ip      string
		want    string // "" for the zero Prefix
	}{
		{network.PrefixLengths{}, "127.0.1.7", "127.0.1.0/24"},
		{network.PrefixLengths{}, "::ffff:127.0.1.7", "127.0.1.0/24"},
		{network.PrefixLengths{}, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{network.PrefixLengths{}, "::1", "::/64"},
		{network.PrefixLengths{V4: 16, V6: 48}, "127.0.1.7", "127.0.0.0/16"},
		{network.PrefixLengths{V4: 16, V6: 48}, "2001:db8:1:2:3:4:5:6", "2001:db8:1::/48"},
		{network.PrefixLengths{V4: 32, V6: 128}, "127.0.1.7", "127.0.1.7/32"},
		{network.PrefixLengths{V4: 32, V6: 128}, "2001:db8::9", "2001:db8::9/128"},
		{network.PrefixLengths{V6: 56}, "127.0.1.7", "127.0.1.0/24"},
		{network.PrefixLengths{}, "", ""},
	}
	for _, tt := range tests {
		c := New(set, nil, tt.lengths)
		req := Request{UserAgent: "x"}
		if tt.ip != "" {
			req.IP = netip.MustParseAddr(tt.ip)
		}
		var out Result
		out.Prefix = netip.MustParsePrefix("192.0.2.0/24") // must be overwritten
		c.Classify(&req, &out)
		got := ""
		if out.Prefix.IsValid() {
			got = out.Prefix.String()
		}
		if got != tt.want {
			t.Errorf("lengths %+v, ip %q: prefix %q, want %q", tt.lengths, tt.ip, got, tt.want)
		}
	}
}

// The identity rule with no match fields matches everything; a file loaded after another
// only sees what the first left unclaimed (load order across files).
func TestClassifyLoadOrderAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	first := filepath.Join(dir, "1.yaml")
	second := filepath.Join(dir, "2.yaml")
	writeFile(t, first, "rules:\n  - name: Early\n    class: bot\n    match: {user_agent: [spider]}\n")
	writeFile(t, second, "rules:\n  - name: Late\n    class: ai-crawler\n    match: {user_agent: [spider]}\n  - name: Everyone\n    class: browser\n")
	for _, tt := range []struct {
		files []string
		ua    string
		rule  string
	}{
		{[]string{first, second}, "A Spider", "Early"},
		{[]string{second, first}, "A Spider", "Late"},
		{[]string{first, second}, "Firefox", "Everyone"},
		{[]string{first, second}, "", "Everyone"},
	} {
		c := New(loadSet(t, tt.files...), nil, network.PrefixLengths{})
		var out Result
		c.Classify(&Request{IP: ipLocal, UserAgent: tt.ua}, &out)
		if out.Rule != tt.rule {
			t.Errorf("files %v, UA %q: rule %q, want %q", tt.files, tt.ua, out.Rule, tt.rule)
		}
	}
}

func TestClassifyConcurrent(t *testing.T) {
	c := newTestClassifier(t)
	uas := []string{"GoodBot/1", "spider", firefox, "", "curl/8", "ComboBot/2.0", "Wget"}
	want := make([]string, len(uas))
	for i, ua := range uas {
		var out Result
		c.Classify(&Request{IP: ipAmazon, UserAgent: ua}, &out)
		want[i] = out.Rule + "/" + out.Bot
	}
	done := make(chan []string, 4)
	for g := 0; g < 4; g++ {
		go func() {
			var out Result
			var bad []string
			for n := 0; n < 500; n++ {
				i := n % len(uas)
				c.Classify(&Request{IP: ipAmazon, UserAgent: uas[i]}, &out)
				if got := out.Rule + "/" + out.Bot; got != want[i] {
					bad = append(bad, uas[i]+": "+got+", want "+want[i])
				}
			}
			done <- bad
		}()
	}
	for g := 0; g < 4; g++ {
		if bad := <-done; len(bad) > 0 {
			t.Errorf("concurrent classification differs: %v", bad[:min(len(bad), 5)])
		}
	}
}
