package classify

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// TestQueryPrefilterAgainstMatches checks that answering every query test in one pass
// (rules.QueryIndex) changes nothing: over random policy rules (keys plain, percent-encoded,
// with '+', "*", values, more than 64 distinct tests so some rules run theirs one by one) and
// random query strings, the policy rules Classify returns are those whose tests
// QueryTest.Matches passes.
func TestQueryPrefilterAgainstMatches(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	keys := []string{"s", "page", "a b", "a+b", "%73", "x%", "é", "*"}
	for i := range 70 {
		keys = append(keys, fmt.Sprintf("k%d", i))
	}
	var b strings.Builder
	b.WriteString("rules:\n  - name: browser\n    class: browser\n    bot: \"\"\n")
	// The first rules' tests are surely in the index: "*", and keys and values spelled in code.
	for i, q := range []string{`"*"`, `s`, `"%73=1"`, `"a+b=a b", page`, `"*=1"`} {
		fmt.Fprintf(&b, "  - name: fixed%d\n    match:\n      query: [%s]\n    budgets:\n      - rate: 10/min\n        per: ip\n", i, q)
	}
	for i := range 120 {
		fmt.Fprintf(&b, "  - name: q%d\n    match:\n      query: [", i)
		for j := range 1 + rng.IntN(3) {
			if j > 0 {
				b.WriteString(", ")
			}
			q := keys[rng.IntN(len(keys))]
			if rng.IntN(2) == 0 {
				q += "=" + []string{"", "1", "recherche", "a b"}[rng.IntN(4)]
			}
			fmt.Fprintf(&b, "%q", q)
		}
		b.WriteString("]\n    budgets:\n      - rate: 10/min\n        per: ip\n")
	}
	set := compileRules(t, "query.yaml", b.String())
	c := New(set, nil, network.PrefixLengths{})
	parts := []string{"s", "%73", "page", "a+b", "a%20b", "a%2Bb", "x%", "x%25", "%C3%A9", "k3", "k69", "k%36%39", "*", "zz", ""}
	var res Result
	for range 3000 {
		var q []string
		for range rng.IntN(4) {
			p := parts[rng.IntN(len(parts))]
			if rng.IntN(2) == 0 {
				p += "=" + []string{"", "1", "recherche", "a+b", "a%20b"}[rng.IntN(5)]
			}
			q = append(q, p)
		}
		query := strings.Join(q, "&")
		c.Classify(&Request{IP: netip.MustParseAddr("90.0.0.7"), UserAgent: "x", Host: "example.org", Method: "GET", Path: "/", Query: query}, &res)
		for _, r := range set.Rules {
			if len(r.Match.Queries) == 0 {
				continue
			}
			want := slices.ContainsFunc(r.Match.Queries, func(qt rules.QueryTest) bool { return qt.Matches(query) })
			if got := slices.Contains(res.Rules, r); got != want {
				t.Fatalf("query %q, rule %s %v: Classify says %v, Matches %v", query, r.Name, r.Match.Query, got, want)
			}
		}
	}
	overflow := 0
	for _, qm := range c.queryMasks {
		if qm.overflow {
			overflow++
		}
	}
	if overflow == 0 || overflow == len(set.Rules)-1 {
		t.Errorf("%d of %d rules with tests beyond the index: expected some of each kind", overflow, len(set.Rules)-1)
	}
}
