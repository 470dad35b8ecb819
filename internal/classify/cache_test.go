package classify

import (
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/floodgate-proxy/floodgate/internal/network"
)

func writeFile(tb testing.TB, path, text string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func (c *uaCache) len() int {
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// A cached answer is the answer: classifying with a warm cache gives what a fresh classifier
// (empty cache) gives, for every User-Agent, and long User-Agents are matched every time.
func TestUACacheSameResults(t *testing.T) {
	set := loadSet(t, testRulesPath)
	asn := openASN(t)
	warm := New(set, asn, network.PrefixLengths{})
	uas := []string{"", " ", "GoodBot/1.0", "spider", "SpiderPro", "ComboBot/2.0", "ComboBot/1.0",
		"curl/8", firefox, "Wget", strings.Repeat("x", uaCacheMaxLen) + " spider",
		strings.Repeat("y", uaCacheMaxLen+1) + " curl/8", "curl/8" + strings.Repeat("y", uaCacheMaxLen+1)}
	for round := 0; round < 3; round++ {
		for _, ua := range uas {
			for _, ip := range []string{"127.0.0.1", "127.0.1.7", "127.0.2.7"} {
				req := Request{IP: netip.MustParseAddr(ip), UserAgent: ua, Host: "example.org"}
				var got, want Result
				warm.Classify(&req, &got)
				New(set, asn, network.PrefixLengths{}).Classify(&req, &want)
				if g, w := describe(&got), describe(&want); g != w {
					t.Errorf("round %d, UA %.30q from %s: warm cache gives %s, fresh classifier %s", round, ua, ip, g, w)
				}
			}
		}
	}
	if n := warm.cache.len(); n != len(uas)-3 {
		t.Errorf("cache holds %d User-Agents, want %d (the ones up to %d bytes)", n, len(uas)-3, uaCacheMaxLen)
	}
}

func TestUACacheBounded(t *testing.T) {
	c := New(loadSet(t, testRulesPath), nil, network.PrefixLengths{})
	const total = uaCacheShards*uaCacheShardCap + 5000
	var out Result
	for i := 0; i < total; i++ {
		c.Classify(&Request{IP: ipLocal, UserAgent: "spider " + strconv.Itoa(i)}, &out)
		if out.Rule != "Spider" {
			t.Fatalf("UA %d: rule %q, want Spider", i, out.Rule)
		}
	}
	n := c.cache.len()
	if n > uaCacheShards*uaCacheShardCap {
		t.Errorf("cache holds %d User-Agents, more than its bound %d", n, uaCacheShards*uaCacheShardCap)
	}
	if n == 0 {
		t.Errorf("cache is empty after %d User-Agents", total)
	}
	for i := range c.cache.shards {
		if l := len(c.cache.shards[i].m); l > uaCacheShardCap {
			t.Errorf("shard %d holds %d, more than %d", i, l, uaCacheShardCap)
		}
	}
	// Still right after shards were emptied.
	c.Classify(&Request{IP: ipLocal, UserAgent: "curl/8"}, &out)
	if out.Rule != "curl" {
		t.Errorf("after filling the cache: rule %q, want curl", out.Rule)
	}
}

// describe renders every field of a Result for comparison.
func describe(r *Result) string {
	id := ""
	if r.IdentityRule != nil {
		id = r.IdentityRule.Name
	}
	return strings.Join([]string{r.Class, r.Bot, r.Rule, strconv.FormatUint(uint64(r.ASN), 10), r.ASOrg,
		r.Prefix.String(), strconv.FormatBool(r.Verified), strconv.FormatBool(r.Impostor), id,
		strings.Join(ruleNames(r.Rules), ",")}, "|")
}
