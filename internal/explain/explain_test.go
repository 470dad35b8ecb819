package explain

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/internal/store"
	"github.com/floodgate-proxy/floodgate/internal/verdict"
	"github.com/floodgate-proxy/floodgate/rules"
)

func TestExplainNamesWhyRulesDidNotMatch(t *testing.T) {
	set, err := rulefiles.Load(rulefiles.Shipped)
	if err != nil {
		t.Fatal(err)
	}
	cl := classify.New(set, nil, network.PrefixLengths{}.WithDefaults())
	tests := []struct {
		in   Input
		want map[string]string // rule -> start of its line's why ("+" prefix: matched)
		act  string
	}{
		{Input{IP: "20.0.0.1", UA: "GPTBot/1.2", Host: "shop.example", Method: "post", Path: "/wp-login.php"}, map[string]string{
			"GPTBot":      "+the first identity rule",
			"Googlebot":   "the User-Agent matches none",
			"hosting-aws": "not looked at: identity already decided by GPTBot",
			"wp-login":    "+applies",
			"xmlrpc":      "path /wp-login.php matches none of [/xmlrpc.php]",
			"post-burst":  "+applies",
			"wp-search":   `query "" has none of [s]`,
		}, "pass"},
		{Input{IP: "90.1.2.3", UA: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", Path: "/a?s=x"}, map[string]string{
			"outdated-browsers": "the browser is not outdated",
			"wp-search":         "+applies",
			"hosting-hetzner":   "AS of 90.1.2.3 unknown",
			"not-found-flood":   "+applies; counts responses with status [404] only",
		}, "pass"},
		{Input{IP: "90.1.2.3", UA: "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"}, map[string]string{
			"outdated-browsers": "+applies",
		}, ""},
	}
	for _, tt := range tests {
		req, err := tt.in.Request()
		if err != nil {
			t.Fatal(err)
		}
		dec := verdict.New(store.NewMemory(0), verdict.Options{StoreTimeout: -1})
		e := Explain(context.Background(), cl, dec, nil, req, tt.in.Status, time.Now())
		lines := map[string]RuleLine{}
		for _, l := range e.Rules {
			lines[l.Name] = l
		}
		if len(e.Rules) != len(set.Rules) {
			t.Errorf("%v: %d rule lines for %d rules", tt.in, len(e.Rules), len(set.Rules))
		}
		for name, want := range tt.want {
			l, ok := lines[name]
			matched := strings.HasPrefix(want, "+")
			if !ok || l.Matched != matched || !strings.HasPrefix(l.Why, strings.TrimPrefix(want, "+")) {
				t.Errorf("%v: rule %s: %+v, want matched %v and %q", tt.in.UA, name, l, matched, want)
			}
		}
		if tt.act != "" && e.Verdict.Action.String() != tt.act {
			t.Errorf("%v: action %s, want %s", tt.in.UA, e.Verdict.Action, tt.act)
		}
		var b strings.Builder
		if err := e.WriteText(&b); err != nil || !strings.Contains(b.String(), "Decision, step by step") || !strings.Contains(b.String(), "Action: ") {
			t.Errorf("text: %v\n%s", err, b.String())
		}
	}
	if _, err := (Input{UA: "x"}).Request(); err == nil {
		t.Error("an input without ip was accepted")
	}
}
