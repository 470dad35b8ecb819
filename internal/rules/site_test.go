package rules

import (
	"testing"
	"time"
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
	if shop.MaxInflight != 20 || shop.UnderAttack != UnderAttackAuto || shop.ChallengeLevel != "script" ||
		shop.AttackRate != (Rate{Limit: 50, Period: time.Second}) || len(shop.ChallengeExempt) != 2 {
		t.Errorf("shop compiled as %+v", shop)
	}
	calm := set.Sites.Lookup("calm.example.org")
	if calm.UnderAttack != UnderAttackOff || !calm.Shadow {
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
	_, _, budgets, overridden := shop.Effective(post)
	if !overridden || len(budgets) != 1 || budgets[0].Rate.Limit != 600 || budgets[0].Quarantine != DefaultQuarantine {
		t.Errorf("shop's override of wp-post-burst: overridden %v budgets %+v", overridden, budgets)
	}
	if _, _, b, o := (*Site)(nil).Effective(post); o || len(b) != 1 || b[0].Rate.Limit != 120 {
		t.Errorf("no site: overridden %v budgets %v", o, b)
	}
	nf := byName["not-found-flood"]
	if !nf.IsResponse() || len(nf.Match.Status) != 2 {
		t.Errorf("not-found-flood: response %v status %v", nf.IsResponse(), nf.Match.Status)
	}
	if _, _, b, o := calm.Effective(nf); !o || len(b) != 0 {
		t.Errorf("calm removes not-found-flood's budgets: overridden %v budgets %v", o, b)
	}
	// A class override applies to identity rules of that class only.
	crawler := &Rule{Name: "SomeAI", Class: ClassAICrawler, Action: ActionNone}
	if a, _, _, o := shop.Effective(crawler); !o || a != ActionBlock {
		t.Errorf("shop blocks ai-crawler: got action %v overridden %v", a, o)
	}
	policy := &Rule{Name: "x", Match: Match{Class: []string{ClassAICrawler}}}
	if _, _, _, o := shop.Effective(policy); o {
		t.Error("a class override applied to a policy rule")
	}
}
