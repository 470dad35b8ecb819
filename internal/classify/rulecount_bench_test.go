package classify

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// pathRuleSet returns a set of n policy rules, each matching one site's path (half exact
// paths, half globs) with a budget, the shape of a tech's per-member-site rules.
func pathRuleSet(tb testing.TB, n int) *rules.Set {
	tb.Helper()
	var b strings.Builder
	b.WriteString("rules:\n  - name: browser\n    class: browser\n    bot: \"\"\n    match:\n      user_agent: [Mozilla/]\n")
	for i := range n {
		path := fmt.Sprintf("/site%d/wp-login.php", i)
		if i%2 == 1 {
			path = fmt.Sprintf("/site%d/**/feed", i)
		}
		fmt.Fprintf(&b, "  - name: r%d\n    match:\n      path: [%q]\n    budgets:\n      - rate: 10/min\n        per: ip\n", i, path)
	}
	return compileRules(tb, "bench.yaml", b.String())
}

// compileRules parses and compiles a rule file written by a test.
func compileRules(tb testing.TB, name, text string) *rules.Set {
	tb.Helper()
	f, err := rules.Parse(name, []byte(text))
	if err != nil {
		tb.Fatal(err)
	}
	set, err := rules.Compile(rules.OSSource{}, f)
	if err != nil {
		tb.Fatal(err)
	}
	return set
}

// BenchmarkClassifyPathRules measures classification against n path rules, the cost that
// rules.PathRuleCostWarning documents: every request tests every path rule.
//
//	go test -run XXX -bench ClassifyPathRules ./internal/classify
func BenchmarkClassifyPathRules(b *testing.B) {
	for _, n := range []int{0, 10, 100, 300, 1000, 3000, 10000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			c := New(pathRuleSet(b, n), nil, network.PrefixLengths{})
			req := Request{IP: netip.MustParseAddr("90.0.0.7"), UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
				Host: "member.example.org", Method: "GET", Path: "/2024/05/un-article/feed"}
			var res Result
			b.ReportAllocs()
			for b.Loop() {
				c.Classify(&req, &res)
			}
		})
	}
}
