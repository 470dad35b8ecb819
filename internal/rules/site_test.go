package rules

import (
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/pass"
	"github.com/floodgate-proxy/floodgate/internal/protect"
)

func TestSites(t *testing.T) {
	set, err := Load(testSource(), "good/20-policy.yaml", "good/40-sites.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lookups := []struct{ host, site string }{
		{"shop.example.org", "shop"},
		{"www.shop.example.org", "shop"},
		{"a.b.shop.example.org", "shop"},
		{"calm.example.org", "calm.example.org"},
		{"www.calm.example.org", ""}, // exact pattern only
		{"example.org", ""},
		{"shop.example.org.evil.net", ""},
		{"", ""},
		{"org", ""},
	}
	for _, l := range lookups {
		got := ""
		if s := set.Sites.Lookup(l.host); s != nil {
			got = s.Name
		}
		if got != l.site {
			t.Errorf("Lookup(%q) = %q, want %q", l.host, got, l.site)
		}
	}
	if n := set.Sites.Len(); n != 3 {
		t.Errorf("%d host patterns indexed, want 3", n)
	}

	shop := set.Sites.Lookup("shop.example.org")
	if shop.MaxInflight != 20 || shop.UnderAttack != protect.ModeAuto || shop.ChallengeLevel != pass.LevelScript ||
		shop.AttackRate != (Rate{Limit: 50, Period: time.Second}) || len(shop.ChallengeExempt) != 2 {
		t.Errorf("shop compiled as %+v", shop)
	}
	calm := set.Sites.Lookup("calm.example.org")
	if calm.UnderAttack != protect.ModeOff || !calm.Shadow {
		t.Errorf("calm: under_attack %q shadow %v", calm.UnderAttack, calm.Shadow)
	}

	byName := map[string]*Rule{}
	for _, r := range set.Rules {
		byName[r.Name] = r
	}
	post := byName["wp-post-burst"]
	if b := post.Budgets[0]; b.Quarantine != 15*time.Minute || b.Action != ActionThrottle {
		t.Errorf("wp-post-burst budget: quarantine %v action %v", b.Quarantine, b.Action)
	}
	e := shop.Effective(post)
	budgets, overridden := e.Budgets, e.Overridden
	if !overridden || len(budgets) != 1 || budgets[0].Rate.Limit != 600 || budgets[0].Quarantine != DefaultQuarantine {
		t.Errorf("shop's override of wp-post-burst: overridden %v budgets %+v", overridden, budgets)
	}
	if e := (*Site)(nil).Effective(post); e.Overridden || len(e.Budgets) != 1 || e.Budgets[0].Rate.Limit != 120 {
		t.Errorf("no site: overridden %v budgets %v", e.Overridden, e.Budgets)
	}
	nf := byName["not-found-flood"]
	if !nf.IsResponse() || len(nf.Match.Status) != 2 {
		t.Errorf("not-found-flood: response %v status %v", nf.IsResponse(), nf.Match.Status)
	}
	if e := calm.Effective(nf); !e.Overridden || len(e.Budgets) != 0 {
		t.Errorf("calm removes not-found-flood's budgets: overridden %v budgets %v", e.Overridden, e.Budgets)
	}
	// A class override applies to identity rules of that class only.
	crawler := &Rule{Name: "SomeAI", Class: ClassAICrawler, Action: ActionNone}
	if e := shop.Effective(crawler); !e.Overridden || e.Action != ActionBlock {
		t.Errorf("shop blocks ai-crawler: got action %v overridden %v", e.Action, e.Overridden)
	}
	policy := &Rule{Name: "x", Match: Match{Class: []string{ClassAICrawler}}}
	if e := shop.Effective(policy); e.Overridden {
		t.Error("a class override applied to a policy rule")
	}
}
