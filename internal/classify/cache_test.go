package classify

import (
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

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
// (empty cache) gives, for every User-Agent; a long User-Agent is kept by its first
// MaxUserAgent bytes, the part that is matched.
func TestUACacheSameResults(t *testing.T) {
	set := loadSet(t, testRulesPath)
	asn := openASN(t)
	warm := New(set, asn, network.PrefixLengths{})
	uas := []string{"", " ", "GoodBot/1.0", "spider", "SpiderPro", "ComboBot/2.0", "ComboBot/1.0",
		"curl/8", firefox, "Wget", strings.Repeat("x", MaxUserAgent) + " spider",
		strings.Repeat("y", MaxUserAgent+1) + " curl/8", "curl/8" + strings.Repeat("y", MaxUserAgent+1)}
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
	if n := warm.cache.len(); n != len(uas) {
		t.Errorf("cache holds %d User-Agents, want %d", n, len(uas))
	}
	for i := range warm.cache.shards {
		for _, slot := range warm.cache.shards[i].m {
			if len(slot.ua) > MaxUserAgent {
				t.Errorf("cached User-Agent of %d bytes, longer than MaxUserAgent (%d)", len(slot.ua), MaxUserAgent)
			}
		}
	}
}

// The cache is keyed by the User-Agent's hash: an entry whose stored User-Agent is another
// (two User-Agents with one hash) is a miss, never the other's answer.
func TestUACacheHashCollision(t *testing.T) {
	c := newUACache()
	spider := uaEntry{facts: uaFacts{major: 1}}
	c.put("spider", spider)
	if e, ok := c.get("spider"); !ok || e.facts.major != 1 {
		t.Fatalf("get(spider) = %v, %v; want the entry put", e, ok)
	}
	// Put spider's entry in curl's slot, as a collision would leave it.
	h := xxhash.Sum64String("curl/8")
	c.shards[h%uaCacheShards].m[h] = &uaSlot{ua: "spider", e: spider}
	if e, ok := c.get("curl/8"); ok {
		t.Errorf("get(curl/8) = %v from spider's slot; want a miss", e)
	}
}

// An attacker's huge User-Agent is matched by its first MaxUserAgent bytes only: what follows
// them does not change the answer, whatever it holds.
func TestLongUserAgentIsCut(t *testing.T) {
	c := New(loadSet(t, testRulesPath), nil, network.PrefixLengths{})
	prefix := "curl/8 " + strings.Repeat("a", MaxUserAgent)
	tests := []struct{ name, ua, rule string }{
		{"bot token within the limit", "curl/8" + strings.Repeat(" a", 8<<10), "curl"},
		{"bot token past the limit is not seen", strings.Repeat("y", MaxUserAgent) + " spider", ""},
		{"16 KB of padding then a token", prefix[:MaxUserAgent] + strings.Repeat("Wget ", 3<<10), "curl"},
	}
	for _, tt := range tests {
		var got, cut Result
		c.Classify(&Request{IP: ipLocal, UserAgent: tt.ua}, &got)
		New(loadSet(t, testRulesPath), nil, network.PrefixLengths{}).Classify(&Request{IP: ipLocal, UserAgent: tt.ua[:MaxUserAgent]}, &cut)
		if got.Rule != tt.rule || describe(&got) != describe(&cut) {
			t.Errorf("%s: rule %q (%s); want %q, the same as its first %d bytes (%s)", tt.name, got.Rule, describe(&got), tt.rule, MaxUserAgent, describe(&cut))
		}
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

// TestUACacheFront: the lock-free front answers a User-Agent with the entry put for it, never
// another's that shares its slot, over many more User-Agents than it has slots, the first
// and second time (from the shards, then from the front); a front slot holding another
// User-Agent's entry, as a collision leaves it, is a miss.
func TestUACacheFront(t *testing.T) {
	c := newUACache()
	n := 3 * uaFrontSlots
	ua := func(i int) string { return "Mozilla/5.0 (X11; Linux x86_64) Firefox/" + strconv.Itoa(i) }
	for i := range n {
		c.put(ua(i), uaEntry{facts: uaFacts{major: i}})
	}
	hits := 0
	for round := range 2 {
		for i := range n {
			e, ok := c.get(ua(i))
			if !ok {
				continue // its shard was emptied: a miss, never a wrong answer
			}
			hits++
			if e.facts.major != i {
				t.Fatalf("round %d: get(%q) gives the entry of User-Agent %d", round, ua(i), e.facts.major)
			}
		}
	}
	if hits == 0 {
		t.Fatal("no hits: the test says nothing of the front")
	}
	// Another User-Agent's entry in curl/8's front slot, and none in the shards.
	h := xxhash.Sum64String("curl/8")
	c.front[(h/uaCacheShards)%uaFrontSlots].Store(&uaSlot{ua: "spider", e: uaEntry{facts: uaFacts{major: 1}}})
	if e, ok := c.get("curl/8"); ok {
		t.Errorf("get(curl/8) = %v from spider's entry in its front slot; want a miss", e)
	}
}
