package verdict

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/pass"
	"github.com/floodgate-proxy/floodgate/internal/protect"
	"github.com/floodgate-proxy/floodgate/internal/rules"
	"github.com/floodgate-proxy/floodgate/internal/store"
)

// precedenceRules hold one rule for each thing that can decide: identities (a crawler, a
// verified search engine whose impostors are throttled, browsers, declared automation),
// outright allow, block and challenge, budgets (throttle, delay, quarantine), a site with its
// own challenge level and exempt paths, and a rule file in shadow.
const precedenceRules = `
ranges:
  goodbot: {cidr: [127.0.2.0/24]}
rules:
  - name: GPTBot
    class: ai-crawler
    match: {user_agent: [GPTBot]}
    budgets: [{rate: 1/hour, per: ip+host}]
  - name: GoodBot
    class: search-bot
    match: {user_agent: [GoodBot]}
    verify: [goodbot]
    impostor: throttle
  - name: Monitor
    class: bot
    match: {user_agent: [Monitor]}
  - name: Browser
    class: browser
    match: {user_agent_regex: ['^Mozilla/5\.0 \(']}
  - name: health
    match: {path: [/health, /both, /both-shadowed]}
    action: allow
  - name: admin
    match: {path: [/admin, /both]}
    action: block
  - name: login
    match: {path: [/login]}
    action: challenge
    challenge_level: work
  - name: cookie-gate
    match: {path: [/cookie-gate]}
    action: challenge
    challenge_level: cookie
  - name: slow
    match: {path: [/slow]}
    budgets: [{rate: 1/hour, per: ip, action: delay, max_delay: 1s}]
  - name: post-burst
    match: {method: [POST]}
    budgets: [{rate: 1/hour, per: ip+host, action: quarantine, cooldown: 10m}]
sites:
  - name: shop
    hosts: [shop.example.org]
    challenge_level: script
    challenge_exempt: ["/api/**"]
`

// shadowRules is a rule file in shadow: its block only logs.
const shadowRules = `
shadow: true
rules:
  - name: shadow-block
    match: {path: [/shadowed, /both-shadowed]}
    action: block
`

// liveSites is the proxy's own view of its sites, made of the real quarantine list and
// under-attack detector.
type liveSites struct {
	q *protect.Quarantine
	d *protect.Detector
}

func (s liveSites) QuarantinedUntil(host string, t time.Time) (time.Time, bool) {
	return s.q.Until(host, t)
}
func (s liveSites) UnderAttack(site string) bool { return s.d.Active(site) }

// TestPrecedence holds which step wins when several apply: one row per combination that
// matters. Each row runs on a fresh decider and store; warm requests of the same client come
// first (to take a budget past its rate).
func TestPrecedence(t *testing.T) {
	const (
		firefox    = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
		oldFirefox = "Mozilla/5.0 (X11; Linux x86_64; rv:52.0) Gecko/20100101 Firefox/52.0" // 2017: no person runs it
		gpt        = "Mozilla/5.0 (compatible; GPTBot/1.2)"
		goodbot    = "GoodBot/2.0"
		monitor    = "Monitor/1.0"
		home       = "127.0.10.5" // a residential network (test ASN database)
		google     = "127.0.2.5"  // inside goodbot's ranges
		cloud      = "127.0.1.5"  // outside them
		shop       = "shop.example.org"
		other      = "example.org" // no site entry
		none       = rules.ActionNone
	)
	type row struct {
		name                  string
		ua, ip, host, method  string
		path                  string
		warm                  int        // identical requests before the one decided
		pass                  pass.Level // strongest valid pass held
		refused               pass.Reason
		exempt, shadow        bool
		returning             bool // holds a returning visitor's cookie
		visitor               bool // holds a visitor cookie (any count)
		quarantined, attacked bool
		delayQueueFull        bool

		action   rules.Action
		step     Step
		rule     string
		level    pass.Level // challenge level, when challenged
		tier     Tier
		shadowed bool
		refusal  pass.Reason // PassRefused
	}
	rows := []row{
		// Outright actions and allow. A spared challenge keeps the rule that asked for it
		// (metrics and logs say what would have challenged).
		{name: "nothing applies", ua: firefox, ip: home, path: "/", action: none, step: StepNone, tier: TierNew},
		{name: "allow", ua: monitor, ip: home, path: "/health", action: rules.ActionAllow, step: StepAllow, rule: "health", tier: TierKnownGood},
		{name: "block beats allow", ua: monitor, ip: home, path: "/both", action: rules.ActionBlock, step: StepRule, rule: "admin", tier: TierDeclared},
		{name: "block", ua: firefox, ip: home, path: "/admin", action: rules.ActionBlock, step: StepRule, rule: "admin", tier: TierNew},
		{name: "challenge rule", ua: firefox, ip: home, path: "/login", action: rules.ActionChallenge, step: StepRule, rule: "login", level: pass.LevelWork, tier: TierNew},
		{name: "challenge rule, weaker pass", ua: firefox, ip: home, path: "/login", pass: pass.LevelCookie, action: rules.ActionChallenge, step: StepRule, rule: "login", level: pass.LevelWork, tier: TierBrowser, refusal: pass.ReasonWeakerLevel},
		{name: "challenge rule, expired pass", ua: firefox, ip: home, path: "/login", refused: pass.ReasonExpired, action: rules.ActionChallenge, step: StepRule, rule: "login", level: pass.LevelWork, tier: TierNew, refusal: pass.ReasonExpired},
		{name: "challenge rule, no pass", ua: firefox, ip: home, path: "/login", refused: pass.ReasonMissing, action: rules.ActionChallenge, step: StepRule, rule: "login", level: pass.LevelWork, tier: TierNew},
		{name: "challenge rule, pass of its level", ua: firefox, ip: home, path: "/login", pass: pass.LevelWork, action: none, step: StepSpared, rule: "login", tier: TierKnownGood},
		{name: "challenge rule, exempt path", ua: firefox, ip: home, path: "/login", exempt: true, action: none, step: StepSpared, rule: "login", tier: TierNew},
		{name: "challenge rule, verified search engine", ua: goodbot, ip: google, path: "/login", action: none, step: StepSpared, rule: "login", tier: TierKnownGood},
		// Impostors.
		{name: "impostor", ua: goodbot, ip: cloud, path: "/", action: rules.ActionThrottle, step: StepImpostor, rule: "GoodBot", tier: TierSuspect},
		{name: "verified", ua: goodbot, ip: google, path: "/", action: none, step: StepNone, tier: TierKnownGood},
		{name: "impostor beats allow", ua: goodbot, ip: cloud, path: "/health", action: rules.ActionThrottle, step: StepImpostor, rule: "GoodBot", tier: TierSuspect},
		{name: "block beats impostor", ua: goodbot, ip: cloud, path: "/admin", action: rules.ActionBlock, step: StepRule, rule: "admin", tier: TierSuspect},
		// Budgets.
		{name: "within budget", ua: gpt, ip: cloud, path: "/", action: none, step: StepNone, tier: TierSuspect},
		{name: "past budget", ua: gpt, ip: cloud, path: "/", warm: 1, action: rules.ActionThrottle, step: StepBudget, rule: "GPTBot", tier: TierSuspect},
		{name: "block beats budget", ua: gpt, ip: cloud, path: "/admin", warm: 1, action: rules.ActionBlock, step: StepRule, rule: "admin", tier: TierSuspect},
		{name: "budget throttle beats challenge rule", ua: gpt, ip: cloud, path: "/login", warm: 1, action: rules.ActionThrottle, step: StepBudget, rule: "GPTBot", tier: TierSuspect},
		{name: "delay", ua: firefox, ip: home, path: "/slow", warm: 1, action: rules.ActionDelay, step: StepBudget, rule: "slow", tier: TierNew},
		// Returning visitors: a tier above other browsers, unless a budget acted on them; a
		// visitor cookie makes nothing of a client that is not a browser.
		{name: "returning visitor", ua: firefox, ip: home, path: "/", returning: true, action: none, step: StepNone, tier: TierReturning},
		{name: "returning visitor past a budget", ua: firefox, ip: home, path: "/slow", warm: 1, returning: true, action: rules.ActionDelay, step: StepBudget, rule: "slow", tier: TierBrowser},
		// Under attack at the cookie level, a visitor cookie spares the challenge: it proves
		// what a cookie challenge asks (the client keeps cookies), and a challenge page where
		// a person's browser asked for an image or a script is a broken page. A stronger
		// level still challenges it.
		{name: "returning visitor under attack: cookie level spared", ua: firefox, ip: home, path: "/", returning: true, attacked: true, action: none, step: StepSpared, rule: "under-attack", tier: TierReturning},
		{name: "returning visitor under attack: script level challenged", ua: firefox, ip: home, host: shop, path: "/", returning: true, attacked: true, action: rules.ActionChallenge, step: StepUnderAttack, rule: "under-attack", level: pass.LevelScript, tier: TierReturning},
		{name: "visitor cookie on an AI crawler", ua: gpt, ip: cloud, path: "/", returning: true, action: none, step: StepNone, tier: TierSuspect},
		// Browsers that kept what floodgate gave them (a visitor cookie, a cookie pass) are
		// admitted before those that kept nothing (a first page; a botnet taking a fresh
		// address each time); a budget acting on the holder takes that away.
		{name: "browser with a visitor cookie", ua: firefox, ip: home, path: "/", visitor: true, action: none, step: StepNone, tier: TierBrowser},
		{name: "browser with a cookie pass", ua: firefox, ip: home, path: "/", pass: pass.LevelCookie, action: none, step: StepNone, tier: TierBrowser},
		{name: "browser that kept nothing", ua: firefox, ip: home, path: "/", action: none, step: StepNone, tier: TierNew},
		{name: "visitor cookie past a budget", ua: firefox, ip: home, path: "/slow", warm: 1, visitor: true, action: rules.ActionDelay, step: StepBudget, rule: "slow", tier: TierNew},
		{name: "visitor cookie under attack: cookie level spared, keeps its tier", ua: firefox, ip: home, path: "/", visitor: true, attacked: true, action: none, step: StepSpared, rule: "under-attack", tier: TierBrowser},
		{name: "visitor cookie, cookie-level rule: spared", ua: firefox, ip: home, path: "/cookie-gate", visitor: true, action: none, step: StepSpared, rule: "cookie-gate", tier: TierBrowser},
		{name: "visitor cookie, work-level rule: challenged", ua: firefox, ip: home, path: "/login", visitor: true, action: rules.ActionChallenge, step: StepRule, rule: "login", level: pass.LevelWork, tier: TierBrowser},
		{name: "visitor cookie past a budget under attack: the budget acts", ua: gpt, ip: cloud, path: "/", warm: 1, visitor: true, attacked: true, action: rules.ActionThrottle, step: StepBudget, rule: "GPTBot", tier: TierSuspect},
		{name: "visitor cookie on declared automation", ua: monitor, ip: home, path: "/", visitor: true, action: none, step: StepNone, tier: TierDeclared},
		{name: "outdated browser with a visitor cookie", ua: oldFirefox, ip: home, path: "/", visitor: true, action: none, step: StepNone, tier: TierNew},
		// Signals that lower a browser by a tier each (never refused for them alone).
		{name: "outdated browser", ua: oldFirefox, ip: home, path: "/", action: none, step: StepNone, tier: TierDeclared},
		{name: "outdated returning visitor", ua: oldFirefox, ip: home, path: "/", returning: true, action: none, step: StepNone, tier: TierBrowser},
		{name: "delay queue full", ua: firefox, ip: home, path: "/slow", warm: 1, delayQueueFull: true, action: rules.ActionThrottle, step: StepDelayQueue, rule: "slow", tier: TierNew},
		{name: "allow skips budgets", ua: gpt, ip: cloud, path: "/health", warm: 3, action: rules.ActionAllow, step: StepAllow, rule: "health", tier: TierKnownGood},
		// Quarantine.
		// A quarantine budget refuses nothing itself: the quarantine it starts does (issue 10:
		// the budget refused with its own window's Retry-After, and spared no one).
		{name: "quarantine budget", ua: firefox, ip: home, method: "POST", path: "/", warm: 1, action: rules.ActionThrottle, step: StepQuarantine, rule: "quarantine", tier: TierNew},
		{name: "quarantine budget, pass holder", ua: firefox, ip: home, method: "POST", path: "/", warm: 1, pass: pass.LevelScript, action: none, step: StepNone, tier: TierKnownGood},
		{name: "quarantine budget, cookie pass is no proof", ua: firefox, ip: home, method: "POST", path: "/", warm: 1, pass: pass.LevelCookie, action: rules.ActionThrottle, step: StepQuarantine, rule: "quarantine", tier: TierBrowser},
		{name: "quarantined POST", ua: firefox, ip: home, method: "POST", path: "/", quarantined: true, action: rules.ActionThrottle, step: StepQuarantine, rule: "quarantine", tier: TierNew},
		{name: "quarantined GET flows", ua: firefox, ip: home, path: "/", quarantined: true, action: none, step: StepNone, tier: TierNew},
		{name: "quarantine beats allow", ua: monitor, ip: home, method: "POST", path: "/health", quarantined: true, action: rules.ActionThrottle, step: StepQuarantine, rule: "quarantine", tier: TierDeclared},
		{name: "quarantine spares a pass holder", ua: firefox, ip: home, method: "POST", path: "/", pass: pass.LevelWork, quarantined: true, action: none, step: StepNone, tier: TierKnownGood},
		{name: "quarantine spares a returning visitor", ua: firefox, ip: home, method: "POST", path: "/", returning: true, quarantined: true, action: none, step: StepNone, tier: TierReturning},
		{name: "quarantine does not spare a cookie pass", ua: firefox, ip: home, method: "POST", path: "/", pass: pass.LevelCookie, quarantined: true, action: rules.ActionThrottle, step: StepQuarantine, rule: "quarantine", tier: TierBrowser},
		{name: "quarantine spares a verified search engine", ua: goodbot, ip: google, method: "POST", path: "/", quarantined: true, action: none, step: StepNone, tier: TierKnownGood},
		{name: "block beats quarantine", ua: firefox, ip: home, method: "POST", path: "/admin", quarantined: true, action: rules.ActionBlock, step: StepRule, rule: "admin", tier: TierNew},
		{name: "quarantine beats under attack", ua: firefox, ip: home, method: "POST", path: "/", quarantined: true, attacked: true, action: rules.ActionThrottle, step: StepQuarantine, rule: "quarantine", tier: TierNew},
		// Under attack.
		{name: "under attack", ua: firefox, ip: home, path: "/", attacked: true, action: rules.ActionChallenge, step: StepUnderAttack, rule: "under-attack", level: pass.LevelCookie, tier: TierNew},
		{name: "under attack, site's level", ua: firefox, ip: home, host: shop, path: "/", attacked: true, action: rules.ActionChallenge, step: StepUnderAttack, rule: "under-attack", level: pass.LevelScript, tier: TierNew},
		{name: "under attack, pass", ua: firefox, ip: home, path: "/", pass: pass.LevelScript, attacked: true, action: none, step: StepSpared, rule: "under-attack", tier: TierKnownGood},
		{name: "under attack, cookie pass: spared, no priority", ua: firefox, ip: home, path: "/", pass: pass.LevelCookie, attacked: true, action: none, step: StepSpared, rule: "under-attack", tier: TierBrowser},
		{name: "under attack, pass weaker than the site's level", ua: firefox, ip: home, host: shop, path: "/", pass: pass.LevelCookie, attacked: true, action: rules.ActionChallenge, step: StepUnderAttack, rule: "under-attack", level: pass.LevelScript, tier: TierBrowser, refusal: pass.ReasonWeakerLevel},
		{name: "under attack, verified search engine", ua: goodbot, ip: google, path: "/", attacked: true, action: none, step: StepNone, tier: TierKnownGood},
		{name: "under attack, allowed", ua: monitor, ip: home, path: "/health", attacked: true, action: rules.ActionAllow, step: StepAllow, rule: "health", tier: TierKnownGood},
		{name: "under attack, exempt path", ua: firefox, ip: home, path: "/robots.txt", exempt: true, attacked: true, action: none, step: StepSpared, rule: "under-attack", tier: TierNew},
		{name: "under attack, site's exempt path", ua: firefox, ip: home, host: shop, path: "/api/orders", attacked: true, action: none, step: StepSpared, rule: "under-attack", tier: TierNew},
		{name: "under attack, site's exempt path elsewhere", ua: firefox, ip: home, path: "/api/orders", attacked: true, action: rules.ActionChallenge, step: StepUnderAttack, rule: "under-attack", level: pass.LevelCookie, tier: TierNew},
		{name: "under attack beats delay", ua: firefox, ip: home, path: "/slow", warm: 1, attacked: true, action: rules.ActionChallenge, step: StepUnderAttack, rule: "under-attack", level: pass.LevelCookie, tier: TierNew},
		{name: "throttle beats under attack", ua: gpt, ip: cloud, path: "/", warm: 1, attacked: true, action: rules.ActionThrottle, step: StepBudget, rule: "GPTBot", tier: TierSuspect},
		{name: "under attack, impostor throttled", ua: goodbot, ip: cloud, path: "/", attacked: true, action: rules.ActionThrottle, step: StepImpostor, rule: "GoodBot", tier: TierSuspect},
		{name: "under attack, declared automation", ua: monitor, ip: home, path: "/", attacked: true, action: rules.ActionChallenge, step: StepUnderAttack, rule: "under-attack", level: pass.LevelCookie, tier: TierDeclared},
		// Shadow.
		{name: "shadow block", ua: firefox, ip: home, path: "/admin", shadow: true, action: rules.ActionLog, step: StepRule, rule: "admin", tier: TierNew, shadowed: true},
		{name: "shadow budget", ua: gpt, ip: cloud, path: "/", warm: 1, shadow: true, action: rules.ActionLog, step: StepBudget, rule: "GPTBot", tier: TierSuspect, shadowed: true},
		{name: "shadow quarantine", ua: firefox, ip: home, method: "POST", path: "/", quarantined: true, shadow: true, action: rules.ActionLog, step: StepQuarantine, rule: "quarantine", tier: TierNew, shadowed: true},
		{name: "shadow under attack", ua: firefox, ip: home, path: "/", attacked: true, shadow: true, action: rules.ActionLog, step: StepUnderAttack, rule: "under-attack", level: pass.LevelCookie, tier: TierNew, shadowed: true},
		{name: "shadow leaves allow", ua: monitor, ip: home, path: "/health", shadow: true, action: rules.ActionAllow, step: StepAllow, rule: "health", tier: TierKnownGood},
		{name: "shadow file's block", ua: firefox, ip: home, path: "/shadowed", action: rules.ActionLog, step: StepRule, rule: "shadow-block", tier: TierNew, shadowed: true},
		{name: "shadow file's block leaves allow", ua: monitor, ip: home, path: "/both-shadowed", action: rules.ActionLog, step: StepRule, rule: "shadow-block", tier: TierDeclared, shadowed: true},
		{name: "shadow file's block, under attack", ua: firefox, ip: home, path: "/shadowed", attacked: true, action: rules.ActionChallenge, step: StepUnderAttack, rule: "under-attack", level: pass.LevelCookie, tier: TierNew, shadowed: true},
	}
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			p := newPipeline(t, store.NewMemory(0), Options{}, precedenceRules, shadowRules)
			if tt.delayQueueFull {
				p.d.delayed.Store(p.d.maxDelayed)
			}
			sites := liveSites{q: protect.NewQuarantine(0), d: protect.NewDetector(protect.DetectorOptions{})}
			host := tt.host
			if host == "" {
				host = other
			}
			method := tt.method
			if method == "" {
				method = "GET"
			}
			site := host
			if host == shop {
				site = "shop"
			}
			if tt.quarantined {
				sites.q.Start(host, time.Now().Add(10*time.Minute), "test")
			}
			if tt.attacked {
				sites.d.SetMode(site, protect.ModeOn)
			}
			r := classify.Request{IP: netip.MustParseAddr(tt.ip), UserAgent: tt.ua, Host: host, Method: method, Path: tt.path}
			var v Verdict
			var in Request
			for range tt.warm + 1 {
				var res classify.Result
				p.c.Classify(&r, &res)
				in = Request{Req: &r, Class: &res, Pass: tt.pass, PassRefused: tt.refused, Returning: tt.returning, Visitor: tt.visitor, Exempt: tt.exempt, Shadow: tt.shadow, Sites: sites, Trace: &Trace{}}
				v = p.d.Decide(context.Background(), &in)
			}
			if v.Action != tt.action || v.Step != tt.step || v.Rule != tt.rule || v.Tier != tt.tier ||
				v.Shadowed != tt.shadowed || v.PassRefused != tt.refusal ||
				(tt.action == rules.ActionChallenge && v.ChallengeLevel != tt.level) {
				t.Errorf("got %v at step %v by %q (level %v) tier %v shadowed %v refused %q\n"+
					"want %v at step %v by %q (level %v) tier %v shadowed %v refused %q",
					v.Action, v.Step, v.Rule, v.ChallengeLevel, v.Tier, v.Shadowed, string(v.PassRefused),
					tt.action, tt.step, tt.rule, tt.level, tt.tier, tt.shadowed, string(tt.refusal))
				t.Logf("trace:\n%s", in.Trace)
			}
		})
	}
}

// The trace names every rule and budget considered and marks the entry that decided.
func TestTrace(t *testing.T) {
	p := newPipeline(t, store.NewMemory(0), Options{}, precedenceRules, shadowRules)
	r := classify.Request{IP: netip.MustParseAddr("127.0.1.5"), UserAgent: "GPTBot/1.2", Host: "example.org", Method: "GET", Path: "/login"}
	var tr *Trace
	for range 2 {
		var res classify.Result
		p.c.Classify(&r, &res)
		tr = &Trace{}
		p.d.Decide(context.Background(), &Request{Req: &r, Class: &res, Trace: tr})
	}
	var decided []string
	for _, e := range tr.Entries {
		if e.Decided {
			decided = append(decided, e.Step.String()+" "+e.Rule)
		}
	}
	if strings.Join(decided, ", ") != "rule login, budget GPTBot" {
		t.Errorf("entries that decided: %q, want the challenge rule then the budget that beats it\n%s", decided, tr)
	}
	out := tr.String()
	for _, want := range []string{"budget 1/hour per ip+host (", "key fg:GPTBot#0:127.0.1.5|example.org)", "-> throttle", "tier 6 (untrusted)"} {
		if !strings.Contains(out, want) {
			t.Errorf("trace lacks %q:\n%s", want, out)
		}
	}
}
