package verdict

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/internal/pass"
	"github.com/floodgate-proxy/floodgate/internal/rules"
	"github.com/floodgate-proxy/floodgate/internal/store"
)

const siteRules = `
rules:
  - name: post-burst
    match: {method: [POST]}
    budgets:
      - {rate: 3/min, per: host, action: quarantine, cooldown: 5m}
  - name: not-found
    match: {status: [404]}
    budgets:
      - {rate: 2/min, per: ip+host}
  - name: login
    match: {path: [/wp-login.php]}
    action: challenge
    challenge_level: work
  - name: crawl-budget
    match: {class: [ai-crawler]}
    budgets:
      - {rate: 100/min, per: bot, action: challenge, challenge_level: script}
sites:
  - name: shop
    hosts: [shop.example.org]
    overrides:
      - {class: ai-crawler, action: block}
      - rule: post-burst
        budgets: [{rate: 1/min, per: host, action: quarantine}]
  - name: quiet
    hosts: ["*.quiet.example.org"]
    shadow: true
`

func TestSitePolicy(t *testing.T) {
	const gpt = "GPTBot/1.2"
	const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	ip := netip.MustParseAddr("90.0.0.7")
	req := func(host, method, path, ua string) classify.Request {
		return classify.Request{IP: ip, Host: host, Method: method, Path: path, UserAgent: ua}
	}

	t.Run("class override blocks on one site only", func(t *testing.T) {
		p := newPipeline(t, store.NewMemory(0), Options{}, identities, siteRules)
		if v, _ := p.decide(req("shop.example.org", "GET", "/", gpt)); v.Action != rules.ActionBlock || v.Rule != "GPTBot" {
			t.Errorf("GPTBot on shop: %v by %q, want block by GPTBot", v.Action, v.Rule)
		}
		if v, _ := p.decide(req("other.example.org", "GET", "/", gpt)); v.Action != rules.ActionNone {
			t.Errorf("GPTBot elsewhere: %v, want pass", v.Action)
		}
	})

	t.Run("challenge levels come from the deciding rule or budget", func(t *testing.T) {
		p := newPipeline(t, store.NewMemory(0), Options{}, identities, siteRules)
		if v, _ := p.decide(req("a.example.org", "GET", "/wp-login.php", firefox)); v.Action != rules.ActionChallenge || v.ChallengeLevel != pass.LevelWork {
			t.Errorf("login: %v at %q, want challenge at work", v.Action, v.ChallengeLevel)
		}
		var v Verdict
		for i := 0; i < 101; i++ {
			v, _ = p.decide(req("a.example.org", "GET", "/", gpt))
		}
		if v.Action != rules.ActionChallenge || v.ChallengeLevel != pass.LevelScript || v.Rule != "crawl-budget" {
			t.Errorf("101st GPTBot request: %v at %q by %q, want challenge at script by crawl-budget", v.Action, v.ChallengeLevel, v.Rule)
		}
	})

	t.Run("quarantine budget is per site and overridable", func(t *testing.T) {
		p := newPipeline(t, store.NewMemory(0), Options{}, identities, siteRules)
		var got []time.Duration
		for i := 0; i < 4; i++ {
			v, _ := p.decide(req("blog.example.org", "POST", "/wp-comments-post.php", firefox))
			got = append(got, v.Quarantine)
		}
		if got[2] != 0 || got[3] != 5*time.Minute {
			t.Errorf("quarantine after POSTs 1..4 on a 3/min budget: %v, want the 4th to quarantine for 5m", got)
		}
		// Another site's POSTs are counted apart; shop's override lowers the rate and
		// takes the default cooldown.
		v1, _ := p.decide(req("shop.example.org", "POST", "/", firefox))
		v2, _ := p.decide(req("shop.example.org", "POST", "/", firefox))
		if v1.Quarantine != 0 || v2.Quarantine != rules.DefaultQuarantine || v2.Action != rules.ActionThrottle {
			t.Errorf("shop POSTs: %v then %v/%v, want none then quarantine %v with throttle", v1.Quarantine, v2.Quarantine, v2.Action, rules.DefaultQuarantine)
		}
		if v, _ := p.decide(req("blog.example.org", "GET", "/", firefox)); v.Quarantine != 0 || v.Action != rules.ActionNone {
			t.Errorf("a GET on a site past its POST budget: %v quarantine %v, want pass", v.Action, v.Quarantine)
		}
	})

	t.Run("response budgets count responses, then act on requests", func(t *testing.T) {
		p := newPipeline(t, store.NewMemory(0), Options{}, identities, siteRules)
		for i := 0; i < 3; i++ {
			r := req("a.example.org", "GET", "/wp-admin/x.php", firefox)
			v, res := p.decide(r)
			if v.Action != rules.ActionNone {
				t.Fatalf("request %d before 3 404s: %v", i+1, v.Action)
			}
			p.d.CountResponse(context.Background(), &r, res, 404)
		}
		// 200s are not counted.
		r := req("a.example.org", "GET", "/", firefox)
		_, res := p.decide(r)
		p.d.CountResponse(context.Background(), &r, res, 200)
		if v, _ := p.decide(req("a.example.org", "GET", "/anything", firefox)); v.Action != rules.ActionThrottle || v.Rule != "not-found" {
			t.Errorf("after 3 404s on a 2/min budget: %v by %q, want throttle by not-found", v.Action, v.Rule)
		}
		if v, _ := p.decide(req("b.example.org", "GET", "/", firefox)); v.Action != rules.ActionNone {
			t.Errorf("another site: %v, want pass (404s count per ip+host)", v.Action)
		}
	})

	t.Run("a shadow site only logs", func(t *testing.T) {
		p := newPipeline(t, store.NewMemory(0), Options{}, identities, siteRules)
		v, _ := p.decide(req("www.quiet.example.org", "GET", "/wp-login.php", firefox))
		if v.Action != rules.ActionLog || !v.Shadowed {
			t.Errorf("challenge on a shadow site: %v shadowed %v, want log, shadowed", v.Action, v.Shadowed)
		}
		for i := 0; i < 5; i++ {
			v, _ = p.decide(req("www.quiet.example.org", "POST", "/", firefox))
		}
		if v.Quarantine != 0 || v.Action != rules.ActionLog {
			t.Errorf("POST burst on a shadow site: %v quarantine %v, want log and no quarantine", v.Action, v.Quarantine)
		}
	})
}

func TestASNKeyWithoutASN(t *testing.T) {
	set := compileRules(t, identities, `
rules:
  - name: per-asn
    match: {class: [browser]}
    budgets:
      - {rate: 2/min, per: asn}
`)
	st := store.NewMemory(0)
	p := &pipeline{c: classify.New(set, nil, network.PrefixLengths{}), d: New(st, Options{}), store: st}
	const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	for i := 0; i < 3; i++ {
		p.decide(classify.Request{IP: netip.MustParseAddr("198.51.100.7"), UserAgent: firefox})
	}
	// Without an ASN database, another network is not lumped in with the first.
	if v, _ := p.decide(classify.Request{IP: netip.MustParseAddr("203.0.113.9"), UserAgent: firefox}); v.Action != rules.ActionNone {
		t.Errorf("a client of another network after the first spent 'its' ASN budget: %v, want pass", v.Action)
	}
	if v, _ := p.decide(classify.Request{IP: netip.MustParseAddr("198.51.100.8"), UserAgent: firefox}); v.Action != rules.ActionThrottle {
		t.Errorf("same network: %v, want throttle", v.Action)
	}
}

func TestImpostorThrottleHasRetryAfter(t *testing.T) {
	p := newPipeline(t, store.NewMemory(0), Options{}, `
ranges:
  google: {cidr: [66.249.64.0/19]}
rules:
  - name: Googlebot
    class: search-bot
    match: {user_agent: [Googlebot]}
    verify: [google]
    impostor: throttle
`)
	v, _ := p.decide(classify.Request{IP: netip.MustParseAddr("90.0.0.7"), UserAgent: "Googlebot/2.1"})
	if v.Action != rules.ActionThrottle || v.RetryAfter < time.Second {
		t.Errorf("impostor throttle: %v with Retry-After %v, want throttle with a Retry-After", v.Action, v.RetryAfter)
	}
}

func TestAllowBeatsChallenge(t *testing.T) {
	p := newPipeline(t, store.NewMemory(0), Options{}, identities, `
rules:
  - name: uptime-monitor
    class: bot
    match: {user_agent: [UptimeRobot]}
    action: allow
  - name: challenge-everything
    match: {path: ["/**"]}
    action: challenge
`)
	v, _ := p.decide(classify.Request{IP: netip.MustParseAddr("90.0.0.7"), UserAgent: "UptimeRobot/2.0 (+http://www.uptimerobot.com/)", Path: "/"})
	if v.Action != rules.ActionAllow || v.Rule != "uptime-monitor" {
		t.Errorf("allowed automation on a challenged path: %v by %q, want allow by uptime-monitor", v.Action, v.Rule)
	}
	v, _ = p.decide(classify.Request{IP: netip.MustParseAddr("90.0.0.7"), UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", Path: "/"})
	if v.Action != rules.ActionChallenge {
		t.Errorf("a browser on a challenged path: %v, want challenge", v.Action)
	}
}
