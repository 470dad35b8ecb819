package replay

import (
	"context"
	"fmt"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/network"
	"github.com/floodgate-proxy/floodgate/internal/normalize"
	"github.com/floodgate-proxy/floodgate/internal/protect"
	"github.com/floodgate-proxy/floodgate/internal/rules"
	"github.com/floodgate-proxy/floodgate/internal/store"
	"github.com/floodgate-proxy/floodgate/internal/verdict"
)

// Config is what a replay decides with.
type Config struct {
	// Rules is the compiled rule set.
	Rules *rules.Set
	// ASN tells addresses' AS numbers (an ASN database or the shipped prefix lists); nil: none.
	ASN classify.ASNLookup
	// Prefixes are the network prefix lengths (defaults /24 and /64).
	Prefixes network.PrefixLengths
	// AttackRate is the default under-attack trigger in requests per second for every site
	// (a site's attack_rate overrides it); 0 switches automatic under-attack mode off.
	AttackRate float64
	// ChallengeLevel is the level under-attack mode challenges at (default cookie).
	ChallengeLevel string
	// DefaultHost is the host of log lines that name none (combined logs).
	DefaultHost string
}

// Outcome is what floodgate would have done with one request.
type Outcome struct {
	Class, Bot string
	// Rule is the rule that decided the action, or the identity rule when none did.
	Rule   string
	Action rules.Action
	// Site is the site the request counts for (its configured name, or its host).
	Site   string
	Prefix string
	ASN    uint32
	ASOrg  string
}

// Engine plays requests, in time order, through classify → count → decide, with counters
// in memory on the log's clock, the quarantine and the under-attack detector.
type Engine struct {
	cfg        Config
	cl         *classify.Classifier
	dec        *verdict.Decider
	quarantine *protect.Quarantine
	detector   *protect.Detector
	// now is the virtual clock: the time of the request being played.
	now      time.Time
	lastTick time.Time
	res      classify.Result
	req      classify.Request
	// trace, when set, records the next decision (explain).
	trace *verdict.Trace
	// Events lists under-attack switches and quarantines, in time order.
	Events []Event
}

// Event is a site's switch into or out of under-attack mode, or its quarantine.
type Event struct {
	At   time.Time
	Site string
	// Kind is "under attack", "calm" or "quarantine".
	Kind   string
	Reason string
}

// NewEngine builds an engine for cfg.
func NewEngine(cfg Config) *Engine {
	e := &Engine{cfg: cfg, cl: classify.New(cfg.Rules, cfg.ASN, cfg.Prefixes.WithDefaults())}
	st := store.NewMemoryAt(0, func() time.Time { return e.now })
	e.dec = verdict.New(st, verdict.Options{StoreTimeout: -1})
	e.quarantine = protect.NewQuarantineAt(0, func() time.Time { return e.now })
	siteRates := map[string]float64{}
	cfg.Rules.Sites.Each(func(s *rules.Site) {
		if s.AttackRate.Limit > 0 {
			siteRates[s.Name] = float64(s.AttackRate.Limit) / s.AttackRate.Period.Seconds()
		}
	})
	e.detector = protect.NewDetector(protect.DetectorOptions{
		Defaults:   protect.SiteThresholds{TriggerRate: cfg.AttackRate},
		Thresholds: func(site string) protect.SiteThresholds { return protect.SiteThresholds{TriggerRate: siteRates[site]} },
		OnAfter:    time.Second,
		OnSwitch: func(site string, on bool, reason string) {
			kind := "calm"
			if on {
				kind = "under attack"
			}
			e.Events = append(e.Events, Event{At: e.lastTick, Site: site, Kind: kind, Reason: reason})
		},
	})
	cfg.Rules.Sites.Each(func(s *rules.Site) {
		if s.UnderAttack != protect.ModeAuto {
			e.detector.SetMode(s.Name, s.UnderAttack)
		}
	})
	return e
}

// advance moves the virtual clock to t, ticking the detector once per second in between
// (a gap longer than two minutes is one tick: the detector's window is shorter).
func (e *Engine) advance(t time.Time) {
	if t.Before(e.now) {
		t = e.now // a log slightly out of order: count it now
	}
	e.now = t
	if e.lastTick.IsZero() {
		e.lastTick = t.Truncate(time.Second)
		return
	}
	sec := t.Truncate(time.Second)
	if sec.Sub(e.lastTick) > 2*time.Minute {
		e.lastTick = sec.Add(-time.Second)
	}
	for e.lastTick.Before(sec) {
		e.lastTick = e.lastTick.Add(time.Second)
		e.detector.Tick(e.lastTick)
	}
}

// Play decides one request, as the handler would at the moment the log says it came.
func (e *Engine) Play(en *Entry) Outcome {
	e.advance(en.Time)
	host := en.Host
	if host == "" {
		host = e.cfg.DefaultHost
	}
	method := en.Method
	if method == "" {
		method = "GET"
	}
	path := en.Path
	if path == "" {
		path = "/"
	}
	e.req = classify.Request{IP: en.IP, UserAgent: en.UserAgent, Host: host, Method: method, Path: path, Query: en.Query}
	req, res := &e.req, &e.res
	e.cl.Classify(req, res)
	in := verdict.Request{Req: req, Class: res, Sites: e, Now: e.now, Trace: e.trace}
	v := e.dec.Decide(context.Background(), &in)
	if v.Quarantine > 0 {
		// The handler's step: start the quarantine the verdict asks for.
		if e.quarantine.Start(req.Host, e.now.Add(v.Quarantine), fmt.Sprintf("rule %s: %s", v.Rule, v.Budget)) {
			e.Events = append(e.Events, Event{At: e.now, Site: req.Host, Kind: "quarantine",
				Reason: fmt.Sprintf("rule %s: %s, for %s", v.Rule, v.Budget, v.Quarantine)})
		}
	}
	smp := protect.Sample{Requests: 1}
	if normalize.IsStatic(path) {
		smp.Requests = 0
	}
	passed := v.Action < rules.ActionChallenge
	if passed {
		if en.Status >= 500 {
			smp.Errors5xx = 1
		}
		smp.Latency = en.Latency
		if res.HasResponseRules && en.Status > 0 {
			e.dec.CountResponse(context.Background(), req, res, en.Status)
		}
	}
	site := in.SiteName()
	e.detector.Observe(site, smp)
	out := Outcome{Class: res.Class, Bot: res.Bot, Rule: v.Rule, Action: v.Action, Site: site, ASN: res.ASN, ASOrg: res.ASOrg}
	if out.Rule == "" {
		out.Rule = res.Rule
	}
	if res.Prefix.IsValid() {
		out.Prefix = res.Prefix.String()
	}
	return out
}

// QuarantinedUntil is the replay's quarantine list (verdict.SiteView).
func (e *Engine) QuarantinedUntil(host string, t time.Time) (time.Time, bool) {
	return e.quarantine.Until(host, t)
}

// UnderAttack is the replay's under-attack detector (verdict.SiteView).
func (e *Engine) UnderAttack(site string) bool { return e.detector.Active(site) }
