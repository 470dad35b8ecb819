package verdict

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"
	ulmemory "github.com/ulule/limiter/v3/drivers/store/memory"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/internal/rules"
	"github.com/floodgate-proxy/floodgate/internal/store"
)

// testASNPath is the generated test ASN database, see testdata/mmdb/README.md.
var testASNPath = filepath.Join("..", "..", "testdata", "mmdb", "test-asn.mmdb")

// stores are the real stores a Decider is tested on.
var stores = []struct {
	name string
	new  func() limiter.Store
}{
	{"floodgate-memory", func() limiter.Store { return store.NewMemory(0) }},
	{"ulule-memory", func() limiter.Store { return ulmemory.NewStore() }},
}

// identities are the identity rules most tests start from.
const identities = `
rules:
  - name: GPTBot
    class: ai-crawler
    match: {user_agent: [GPTBot]}
  - name: ClaudeBot
    class: ai-crawler
    match: {user_agent: [ClaudeBot]}
  - name: Browser
    class: browser
    match: {user_agent_regex: ['^Mozilla/5\.0 \(']}
`

// compileRules parses rule files given as text (file i is named "i.yaml") and compiles them.
func compileRules(tb testing.TB, texts ...string) *rules.Set {
	tb.Helper()
	var files []*rules.File
	for i, text := range texts {
		f, err := rules.Parse(fmt.Sprintf("%d.yaml", i), []byte(text))
		if err != nil {
			tb.Fatalf("rule file %d: %v\n%s", i, err, text)
		}
		files = append(files, f)
	}
	set, err := rules.Compile(rules.OSSource{}, files...)
	if err != nil {
		tb.Fatalf("compiling: %v", err)
	}
	return set
}

// pipeline is a real classifier and a real decider, as the handler chains them.
type pipeline struct {
	c     *classify.Classifier
	d     *Decider
	store limiter.Store
}

func newPipeline(tb testing.TB, st limiter.Store, opt Options, texts ...string) *pipeline {
	tb.Helper()
	db, err := network.OpenASN(testASNPath)
	if err != nil {
		tb.Fatalf("opening %s: %v", testASNPath, err)
	}
	tb.Cleanup(func() { db.Close() })
	return &pipeline{c: classify.New(compileRules(tb, texts...), db, network.PrefixLengths{}), d: New(st, opt), store: st}
}

func (p *pipeline) decide(req classify.Request) (Verdict, *classify.Result) {
	var res classify.Result
	p.c.Classify(&req, &res)
	return p.d.Decide(context.Background(), &Request{Req: &req, Class: &res}), &res
}

// count returns the hits the store holds for budget i of the named rule, for req.
func (p *pipeline) count(tb testing.TB, rule string, i int, req classify.Request) int64 {
	tb.Helper()
	var res classify.Result
	p.c.Classify(&req, &res)
	for _, r := range p.c.Set().Rules {
		if r.Name != rule {
			continue
		}
		b := r.Budgets[i]
		key := string(p.d.appendKey(nil, r, i, b, &req, &res, false, false))
		lc, err := p.store.Peek(context.Background(), key, limiter.Rate{Period: b.Rate.Period, Limit: b.Rate.Limit})
		if err != nil {
			tb.Fatalf("peek %s: %v", key, err)
		}
		return lc.Limit - lc.Remaining
	}
	tb.Fatalf("no rule %s", rule)
	return 0
}

func req(ip, ua string) classify.Request {
	return classify.Request{IP: netip.MustParseAddr(ip), UserAgent: ua, Host: "example.org", Method: "GET", Path: "/"}
}

const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

func TestBudgetThrottle(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			p := newPipeline(t, st.new(), Options{}, identities+`
    budgets:
      - rate: 3/hour
        per: ip
`)
			r := req("127.0.1.7", firefox)
			for i := 1; i <= 3; i++ {
				if v, _ := p.decide(r); v.Action != rules.ActionNone || v.Crossed {
					t.Fatalf("request %d of 3/hour: %+v, want a pass", i, v)
				}
			}
			if n := p.count(t, "Browser", 0, r); n != 3 {
				t.Errorf("store counts %d hits, want 3", n)
			}
			v, _ := p.decide(r)
			if v.Action != rules.ActionThrottle || v.Rule != "Browser" || v.Budget != "3/hour per ip" || v.Reason != "budget" {
				t.Fatalf("request 4 of 3/hour: %+v, want throttle by Browser's budget", v)
			}
			if v.RetryAfter < time.Second || v.RetryAfter > time.Hour || v.RetryAfter%time.Second != 0 {
				t.Errorf("RetryAfter %v, want whole seconds within [1s, 1h]", v.RetryAfter)
			}
			if !v.Crossed || !strings.Contains(v.Key, "Browser") || !strings.Contains(v.Key, "127.0.1.7") {
				t.Errorf("first refusal: Crossed %v, key %q; want Crossed and a key naming the rule and the IP", v.Crossed, v.Key)
			}
			if v, _ := p.decide(r); v.Action != rules.ActionThrottle || v.Crossed {
				t.Errorf("request 5: %+v, want throttle, not crossed again", v)
			}
			// Another client has its own counter.
			if v, _ := p.decide(req("127.0.1.8", firefox)); v.Action != rules.ActionNone {
				t.Errorf("another IP: %+v, want a pass", v)
			}
		})
	}
}

// A burst far over the rate makes the sliding-window estimate reach past a period; the
// Retry-After sent stays within the period.
func TestRetryAfterWithinPeriod(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			p := newPipeline(t, st.new(), Options{}, identities+`
    budgets: [{rate: 2/min, per: ip}]
`)
			r := req("127.0.1.7", firefox)
			var v Verdict
			for i := 0; i < 200; i++ {
				v, _ = p.decide(r)
			}
			if v.Action != rules.ActionThrottle || v.RetryAfter < time.Second || v.RetryAfter > time.Minute {
				t.Errorf("after a burst of 200 on 2/min: %v, RetryAfter %v; want throttle within [1s, 1m]", v.Action, v.RetryAfter)
			}
		})
	}
}

func TestWaits(t *testing.T) {
	minute := &rules.Budget{Rate: rules.Rate{Limit: 1, Period: time.Minute}, MaxDelay: 2 * time.Second}
	sub := &rules.Budget{Rate: rules.Rate{Limit: 1, Period: 1500 * time.Millisecond}, MaxDelay: time.Second}
	tests := []struct {
		b                 *rules.Budget
		wait              time.Duration
		retryAfter, delay time.Duration
	}{
		{minute, -time.Second, time.Second, 0},
		{minute, 0, time.Second, 0},
		{minute, 300 * time.Millisecond, time.Second, 300 * time.Millisecond},
		{minute, 1500 * time.Millisecond, 2 * time.Second, 1500 * time.Millisecond},
		{minute, 2 * time.Second, 2 * time.Second, 2 * time.Second},
		{minute, 30*time.Second + 1, 31 * time.Second, 2 * time.Second},
		{minute, 100 * time.Second, time.Minute, 2 * time.Second},
		{sub, 2900 * time.Millisecond, 2 * time.Second, time.Second},
	}
	for _, tt := range tests {
		ra, d := waits(tt.wait, tt.b)
		if ra != tt.retryAfter || d != tt.delay {
			t.Errorf("waits(%v, %v per %v) = %v, %v; want %v, %v", tt.wait, tt.b.Rate.Limit, tt.b.Rate.Period, ra, d, tt.retryAfter, tt.delay)
		}
	}
}

// When several budgets are past their rate the strongest action applies, whatever their order.
func TestStrongestAction(t *testing.T) {
	tests := []struct {
		actions []string
		want    rules.Action
	}{
		{[]string{"log"}, rules.ActionLog},
		{[]string{"delay"}, rules.ActionDelay},
		{[]string{"log", "delay"}, rules.ActionDelay},
		{[]string{"delay", "log"}, rules.ActionDelay},
		{[]string{"delay", "throttle", "log"}, rules.ActionThrottle},
		{[]string{"throttle", "delay"}, rules.ActionThrottle},
		{[]string{"block", "throttle"}, rules.ActionBlock},
		{[]string{"log", "delay", "throttle", "block"}, rules.ActionBlock},
		{[]string{"block", "delay", "log"}, rules.ActionBlock},
	}
	for _, tt := range tests {
		var b strings.Builder
		b.WriteString(identities + "  - name: policy\n    match: {method: [GET]}\n    budgets:\n")
		for _, a := range tt.actions {
			fmt.Fprintf(&b, "      - {rate: 1/hour, per: ip, action: %s}\n", a)
		}
		p := newPipeline(t, store.NewMemory(0), Options{}, b.String())
		r := req("127.0.0.1", firefox)
		if v, _ := p.decide(r); v.Action != rules.ActionNone {
			t.Errorf("%v: first request %v, want a pass", tt.actions, v.Action)
		}
		v, _ := p.decide(r)
		if v.Action != tt.want || v.Rule != "policy" {
			t.Errorf("%v: second request %v by %q, want %v by policy", tt.actions, v.Action, v.Rule, tt.want)
		}
		if tt.want == rules.ActionDelay && (v.Delay <= 0 || v.Delay > rules.DefaultMaxDelay) {
			t.Errorf("%v: Delay %v, want within (0, %v]", tt.actions, v.Delay, rules.DefaultMaxDelay)
		}
		if tt.want == rules.ActionThrottle && v.RetryAfter < time.Second {
			t.Errorf("%v: RetryAfter %v, want at least 1s", tt.actions, v.RetryAfter)
		}
	}
}

func TestShadow(t *testing.T) {
	shadowBudget := `
shadow: true
rules:
  - name: shadow-budget
    match: {method: [GET]}
    budgets: [{rate: 1/hour, per: ip, action: block}]
`
	shadowBlock := `
shadow: true
rules:
  - name: shadow-block
    match: {path: [/wp-login.php]}
    action: block
`
	liveThrottle := `
rules:
  - name: live
    match: {method: [GET]}
    budgets: [{rate: 1/hour, per: ip, action: throttle}]
`
	r := req("127.0.0.1", firefox)
	login := r
	login.Path = "/wp-login.php"

	t.Run("budget", func(t *testing.T) {
		p := newPipeline(t, store.NewMemory(0), Options{}, identities, shadowBudget)
		p.decide(r)
		v, _ := p.decide(r)
		if v.Action != rules.ActionLog || !v.Shadowed || v.Rule != "shadow-budget" || !v.Crossed {
			t.Errorf("shadow budget past its rate: %+v, want log, shadowed, crossed", v)
		}
	})
	t.Run("outright block", func(t *testing.T) {
		p := newPipeline(t, store.NewMemory(0), Options{}, identities, shadowBlock)
		v, _ := p.decide(login)
		if v.Action != rules.ActionLog || !v.Shadowed || v.Rule != "shadow-block" || v.Reason != "rule" {
			t.Errorf("shadow block: %+v, want log by shadow-block, shadowed", v)
		}
		if v, _ := p.decide(r); v.Action != rules.ActionNone || v.Shadowed {
			t.Errorf("request the shadow rule does not match: %+v, want a pass", v)
		}
	})
	t.Run("live rule still acts", func(t *testing.T) {
		p := newPipeline(t, store.NewMemory(0), Options{}, identities, shadowBudget, liveThrottle)
		p.decide(r)
		v, _ := p.decide(r)
		if v.Action != rules.ActionThrottle || v.Rule != "live" {
			t.Errorf("live throttle beside a shadow block budget: %+v, want throttle by live", v)
		}
	})
}

func TestAllow(t *testing.T) {
	allow := `
  - name: monitoring
    match: {path: [/health]}
    action: allow
`
	budget := `
  - name: everyone
    match: {method: [GET]}
    budgets: [{rate: 1/hour, per: ip}]
`
	health := req("127.0.0.1", "UptimeCheck/1.0")
	health.Path = "/health"

	t.Run("skips counting", func(t *testing.T) {
		p := newPipeline(t, store.NewMemory(0), Options{}, identities+allow+budget)
		for i := 0; i < 3; i++ {
			if v, _ := p.decide(health); v.Action != rules.ActionAllow || v.Rule != "monitoring" {
				t.Fatalf("allowed request %d: %+v, want allow by monitoring", i, v)
			}
		}
		if n := p.count(t, "everyone", 0, health); n != 0 {
			t.Errorf("allowed requests were counted: %d hits, want 0", n)
		}
		other := health
		other.Path = "/"
		p.decide(other)
		if n := p.count(t, "everyone", 0, health); n != 1 {
			t.Errorf("a request that is not allowed: %d hits, want 1", n)
		}
	})
	t.Run("block beats allow", func(t *testing.T) {
		p := newPipeline(t, store.NewMemory(0), Options{}, identities+allow+budget+`
  - name: no-uptime
    match: {user_agent: [UptimeCheck]}
    action: block
`)
		if v, _ := p.decide(health); v.Action != rules.ActionBlock || v.Rule != "no-uptime" {
			t.Errorf("block and allow: %+v, want block by no-uptime", v)
		}
		if n := p.count(t, "everyone", 0, health); n != 0 {
			t.Errorf("blocked request counted: %d hits, want 0", n)
		}
	})
	t.Run("shadow block leaves allow alone", func(t *testing.T) {
		p := newPipeline(t, store.NewMemory(0), Options{}, identities+allow+budget, `
shadow: true
rules:
  - name: no-uptime
    match: {user_agent: [UptimeCheck]}
    action: block
`)
		for i := 0; i < 3; i++ {
			if v, _ := p.decide(health); v.Action != rules.ActionLog || !v.Shadowed || v.Rule != "no-uptime" {
				t.Fatalf("request %d: %+v, want log (shadowed block)", i, v)
			}
		}
		if n := p.count(t, "everyone", 0, health); n != 0 {
			t.Errorf("allowed requests counted beside a shadow block: %d hits, want 0", n)
		}
	})
}

func TestImpostor(t *testing.T) {
	verified := func(impostor string) string {
		s := `
ranges:
  goodbot: {cidr: [127.0.2.0/24]}
rules:
  - name: GoodBot
    class: search-bot
    match: {user_agent: [GoodBot]}
    verify: [goodbot]
`
		if impostor != "" {
			s += "    impostor: " + impostor + "\n"
		}
		return s + "    budgets: [{rate: 1/hour, per: ip, action: log}]\n"
	}
	tests := []struct {
		impostor string
		ip       string
		want     rules.Action
		reason   string
	}{
		{"", "127.0.2.9", rules.ActionNone, ""},
		{"", "127.0.1.9", rules.ActionBlock, "impostor"},
		{"block", "127.0.1.9", rules.ActionBlock, "impostor"},
		{"throttle", "127.0.1.9", rules.ActionThrottle, "impostor"},
		{"log", "127.0.1.9", rules.ActionLog, "impostor"},
	}
	for _, tt := range tests {
		p := newPipeline(t, store.NewMemory(0), Options{}, verified(tt.impostor))
		v, res := p.decide(req(tt.ip, "GoodBot/2.0"))
		if v.Action != tt.want || v.Reason != tt.reason || (tt.want != rules.ActionNone && v.Rule != "GoodBot") {
			t.Errorf("impostor %q from %s: %+v (bot %q), want %v reason %q", tt.impostor, tt.ip, v, res.Bot, tt.want, tt.reason)
		}
	}
}

// Each key part separates the counters it names and only those: a second request either
// shares the first one's counter (refused at 1/hour) or has its own (passes).
func TestKeyParts(t *testing.T) {
	const (
		a = "127.0.1.7" // AS16509
		b = "127.0.1.8" // same /24, AS16509
		c = "127.0.2.7" // AS15169
		d = "3.1.2.3"   // AS16509, another /24 (an address fed as data)
	)
	at := func(ip, ua, host string) classify.Request {
		r := req(ip, ua)
		r.Host = host
		return r
	}
	tests := []struct {
		per           string
		first, second classify.Request
		shared        bool
	}{
		{"ip", at(a, "GPTBot", "x.test"), at(a, firefox, "y.test"), true},
		{"ip", at(a, "GPTBot", "x.test"), at(b, "GPTBot", "x.test"), false},
		{"ip", at("::ffff:"+a, "GPTBot", "x.test"), at(a, "GPTBot", "x.test"), true},
		{"prefix", at(a, "GPTBot", "x.test"), at(b, firefox, "y.test"), true},
		{"prefix", at(a, "GPTBot", "x.test"), at(c, "GPTBot", "x.test"), false},
		{"prefix", at("fd00::1", "GPTBot", "x.test"), at("fd00::ffff:2", "GPTBot", "x.test"), true},
		{"prefix", at("fd00::1", "GPTBot", "x.test"), at("fd00:1::1", "GPTBot", "x.test"), false}, // another /48 (two /64s of one /48 share its count: TestIPv6BudgetsPerPrefixCountThe48)
		{"asn", at(a, "GPTBot", "x.test"), at(d, firefox, "y.test"), true},
		{"asn", at(a, "GPTBot", "x.test"), at(c, "GPTBot", "x.test"), false},
		{"bot", at(a, "GPTBot", "x.test"), at(c, "GPTBot/1.1", "y.test"), true},
		{"bot", at(a, "GPTBot", "x.test"), at(a, "ClaudeBot", "x.test"), false},
		{"class", at(a, "GPTBot", "x.test"), at(c, "ClaudeBot", "y.test"), true},
		{"class", at(a, "GPTBot", "x.test"), at(a, firefox, "x.test"), false},
		{"host", at(a, "GPTBot", "x.test"), at(c, firefox, "x.test"), true},
		{"host", at(a, "GPTBot", "x.test"), at(a, "GPTBot", "y.test"), false},
		{"bot+host", at(a, "GPTBot", "x.test"), at(c, "GPTBot", "x.test"), true},
		{"bot+host", at(a, "GPTBot", "x.test"), at(a, "GPTBot", "y.test"), false},
		{"bot+host", at(a, "GPTBot", "x.test"), at(a, "ClaudeBot", "x.test"), false},
		{"asn+bot", at(a, "GPTBot", "x.test"), at(d, "GPTBot", "y.test"), true},
		{"asn+bot", at(a, "GPTBot", "x.test"), at(d, "ClaudeBot", "x.test"), false},
		{"ip+host", at(a, "GPTBot", "x.test"), at(a, firefox, "x.test"), true},
		{"ip+host", at(a, "GPTBot", "x.test"), at(a, "GPTBot", "y.test"), false},
	}
	for _, tt := range tests {
		p := newPipeline(t, store.NewMemory(0), Options{}, identities+`
  - name: count
    match: {method: [GET]}
    budgets: [{rate: 1/hour, per: `+tt.per+`}]
`)
		if v, _ := p.decide(tt.first); v.Action != rules.ActionNone {
			t.Errorf("per %s: first request %v, want a pass", tt.per, v.Action)
			continue
		}
		v, _ := p.decide(tt.second)
		if shared := v.Action == rules.ActionThrottle; shared != tt.shared {
			t.Errorf("per %s: %s %q %s then %s %q %s: shared counter %v, want %v (verdict %+v)", tt.per,
				tt.first.IP, tt.first.UserAgent, tt.first.Host, tt.second.IP, tt.second.UserAgent, tt.second.Host, shared, tt.shared, v)
		}
	}
}

func TestCrossedOncePerKey(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			p := newPipeline(t, st.new(), Options{}, identities+`
    budgets: [{rate: 2/hour, per: ip}, {rate: 5/hour, per: class, action: log}]
`)
			crossed := map[string]int{}
			for i := 0; i < 20; i++ {
				for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
					if v, _ := p.decide(req(ip, firefox)); v.Crossed {
						crossed[v.Key]++
					}
				}
			}
			if len(crossed) != 2 {
				t.Errorf("crossed keys %v, want the two per-ip keys", crossed)
			}
			for k, n := range crossed {
				if n != 1 {
					t.Errorf("key %s crossed %d times, want once", k, n)
				}
			}
		})
	}
}

// crossedSet forgets a key once its window has ended; time comes from the package clock.
func TestCrossedSetWindows(t *testing.T) {
	t0 := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	clock := t0
	now = func() time.Time { return clock }
	t.Cleanup(func() { now = time.Now })
	c := newCrossedSet()
	step := func(key string, reset time.Time, want bool) {
		t.Helper()
		if k, got := c.first([]byte(key), reset); got != want || k != key {
			t.Errorf("at %v, key %s, reset %v: first = %q, %v, want %q, %v", clock.Sub(t0), key, reset.Sub(t0), k, got, key, want)
		}
	}
	step("a", t0.Add(10*time.Second), true)
	step("a", t0.Add(10*time.Second), false)
	step("b", t0.Add(10*time.Second), true)
	clock = t0.Add(9 * time.Second)
	step("a", t0.Add(20*time.Second), false)
	clock = t0.Add(10 * time.Second) // the window has ended
	step("a", t0.Add(20*time.Second), true)
	step("a", t0.Add(20*time.Second), false)
	clock = t0.Add(25 * time.Second)
	step("b", t0.Add(30*time.Second), true)

	for i := 0; i < crossedCap*2; i++ {
		c.first([]byte(fmt.Sprint("k", i)), clock.Add(time.Hour))
	}
	if n := len(c.m); n > crossedCap {
		t.Errorf("crossed set holds %d keys, more than its bound %d", n, crossedCap)
	}
}

// failingStore is a fault injector: a limiter.Store that cannot count (Redis down).
type failingStore struct{ calls int }

func (f *failingStore) fail() (limiter.Context, error) {
	f.calls++
	return limiter.Context{}, fmt.Errorf("store down (injected)")
}
func (f *failingStore) Get(context.Context, string, limiter.Rate) (limiter.Context, error) {
	return f.fail()
}
func (f *failingStore) Peek(context.Context, string, limiter.Rate) (limiter.Context, error) {
	return f.fail()
}
func (f *failingStore) Reset(context.Context, string, limiter.Rate) (limiter.Context, error) {
	return f.fail()
}
func (f *failingStore) Increment(context.Context, string, int64, limiter.Rate) (limiter.Context, error) {
	return f.fail()
}

// hangingStore is a fault injector: a store that answers only when its context ends (Redis
// unreachable, packets dropped).
type hangingStore struct{ failingStore }

func (h *hangingStore) Increment(ctx context.Context, _ string, _ int64, _ limiter.Rate) (limiter.Context, error) {
	<-ctx.Done()
	return limiter.Context{}, ctx.Err()
}

func TestStoreErrorsFailOpen(t *testing.T) {
	budgets := identities + `
    budgets: [{rate: 1/hour, per: ip, action: block}, {rate: 1/hour, per: host, action: throttle}]
  - name: wp-login
    match: {path: [/wp-login.php]}
    action: block
`
	for _, tt := range []struct {
		name  string
		store limiter.Store
	}{
		{"failing", &failingStore{}},
		{"hanging", &hangingStore{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newPipeline(t, tt.store, Options{StoreTimeout: 5 * time.Millisecond}, budgets)
			r := req("127.0.0.1", firefox)
			for i := 0; i < 3; i++ {
				v, _ := p.decide(r)
				if v.Action != rules.ActionNone || v.StoreErrors != 2 {
					t.Fatalf("request %d with the store down: %+v, want a pass with 2 store errors", i, v)
				}
			}
			login := r
			login.Path = "/wp-login.php"
			if v, _ := p.decide(login); v.Action != rules.ActionBlock {
				t.Errorf("outright block with the store down: %+v, want block", v)
			}
		})
	}
}

func TestDelayQueueBound(t *testing.T) {
	p := newPipeline(t, store.NewMemory(0), Options{MaxDelayed: 1}, identities+`
    budgets: [{rate: 1/hour, per: ip, action: delay, max_delay: 50ms}]
`)
	r := req("127.0.0.1", firefox)
	p.decide(r)
	v, _ := p.decide(r)
	if v.Action != rules.ActionDelay || v.Delay <= 0 || v.Delay > 50*time.Millisecond {
		t.Fatalf("past the rate: %+v, want delay within (0, 50ms]", v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	held := make(chan struct{})
	go func() {
		p.d.Hold(ctx, time.Hour)
		close(held)
	}()
	for i := 0; p.d.Delayed() != 1; i++ { // wait for the goroutine to be holding
		if i == 5000 {
			t.Fatal("Hold never counted the held request")
		}
		time.Sleep(time.Millisecond)
	}
	v, _ = p.decide(r)
	if v.Action != rules.ActionThrottle || v.RetryAfter < time.Second || v.RetryAfter > time.Hour {
		t.Errorf("delay queue full: %+v, want throttle with RetryAfter within [1s, 1h]", v)
	}
	cancel()
	<-held
	if n := p.d.Delayed(); n != 0 {
		t.Errorf("after Hold returned: %d held, want 0", n)
	}
	if v, _ := p.decide(r); v.Action != rules.ActionDelay {
		t.Errorf("queue free again: %+v, want delay", v)
	}
}

// Without a store timeout (a store that never blocks), the request's own context still
// bounds a store that hangs.
func TestNoStoreTimeoutUsesRequestContext(t *testing.T) {
	p := newPipeline(t, &hangingStore{}, Options{StoreTimeout: -1}, identities+`
    budgets: [{rate: 1/hour, per: ip}, {rate: 1/hour, per: host}]
`)
	r := req("127.0.0.1", firefox)
	var res classify.Result
	p.c.Classify(&r, &res)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	if v := p.d.Decide(ctx, &Request{Req: &r, Class: &res}); v.Action != rules.ActionNone || v.StoreErrors != 2 {
		t.Errorf("hanging store, request context ended: %+v, want a pass with 2 store errors", v)
	}
}
