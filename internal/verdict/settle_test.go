package verdict

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/pass"
	"github.com/floodgate-proxy/floodgate/internal/protect"
	"github.com/floodgate-proxy/floodgate/internal/rules"
	"github.com/floodgate-proxy/floodgate/internal/store"
)

// TestSettleAgain: a verdict counted once and settled again after the site's state changed
// (it switched to under-attack mode, or was quarantined, while the request waited for the
// backend) is what a request arriving now would get — and settling counts nothing: the
// client's next request is decided as if the first had been counted once.
func TestSettleAgain(t *testing.T) {
	const (
		firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
		gpt     = "Mozilla/5.0 (compatible; GPTBot/1.2)"
		monitor = "Monitor/1.0"
		goodbot = "GoodBot/2.0"
		home    = "127.0.10.5"
		cloud   = "127.0.1.5"
		google  = "127.0.2.5"
		host    = "example.org"
	)
	rows := []struct {
		name               string
		ua, ip, method     string
		path               string
		pass               pass.Level
		returning, visitor bool
		attack, quarantine bool // what happens to the site between the two settlings

		before, after rules.Action
		step          Step
		// recheck: Recheck gives the request an answer of its own instead of the backend
		// (the tiers refused first only: a browser that waited its turn keeps it).
		recheck bool
	}{
		{name: "new browser meets under attack", ua: firefox, ip: home, path: "/", attack: true,
			before: rules.ActionNone, after: rules.ActionChallenge, step: StepUnderAttack},
		{name: "declared automation meets under attack", ua: monitor, ip: home, path: "/", attack: true,
			before: rules.ActionNone, after: rules.ActionChallenge, step: StepUnderAttack, recheck: true},
		{name: "declared automation's POST meets quarantine", ua: monitor, ip: home, method: "POST", path: "/", quarantine: true,
			before: rules.ActionNone, after: rules.ActionThrottle, step: StepQuarantine, recheck: true},
		{name: "AI crawler within its budget meets under attack", ua: gpt, ip: cloud, path: "/", attack: true,
			before: rules.ActionNone, after: rules.ActionChallenge, step: StepUnderAttack, recheck: true},
		{name: "POST meets quarantine", ua: firefox, ip: home, method: "POST", path: "/", quarantine: true,
			before: rules.ActionNone, after: rules.ActionThrottle, step: StepQuarantine},
		{name: "delayed request meets under attack", ua: firefox, ip: home, path: "/slow", attack: true,
			before: rules.ActionNone, after: rules.ActionChallenge, step: StepUnderAttack},
		// Those the switch spares stay spared.
		{name: "returning visitor: cookie level spared", ua: firefox, ip: home, path: "/", returning: true, attack: true,
			before: rules.ActionNone, after: rules.ActionNone, step: StepSpared},
		{name: "pass holder spared", ua: firefox, ip: home, path: "/", pass: pass.LevelScript, attack: true,
			before: rules.ActionNone, after: rules.ActionNone, step: StepSpared},
		{name: "verified search engine", ua: goodbot, ip: google, path: "/", attack: true,
			before: rules.ActionNone, after: rules.ActionNone, step: StepNone},
		{name: "allowed by a rule", ua: monitor, ip: home, path: "/health", attack: true,
			before: rules.ActionAllow, after: rules.ActionAllow, step: StepAllow},
		{name: "GET of a quarantined site flows", ua: firefox, ip: home, path: "/", quarantine: true,
			before: rules.ActionNone, after: rules.ActionNone, step: StepNone},
		{name: "nothing changed", ua: firefox, ip: home, path: "/",
			before: rules.ActionNone, after: rules.ActionNone, step: StepNone},
	}
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			p := newPipeline(t, store.NewMemory(0), Options{}, precedenceRules)
			sites := liveSites{q: protect.NewQuarantine(0), d: protect.NewDetector(protect.DetectorOptions{})}
			method := tt.method
			if method == "" {
				method = "GET"
			}
			r := classify.Request{IP: netip.MustParseAddr(tt.ip), UserAgent: tt.ua, Host: host, Method: method, Path: tt.path}
			decide := func() (Request, Verdict) {
				var res classify.Result
				p.c.Classify(&r, &res)
				in := Request{Req: &r, Class: &res, Pass: tt.pass, Returning: tt.returning, Visitor: tt.visitor, Sites: sites}
				return in, p.d.Count(context.Background(), &in)
			}
			in, counted := decide()
			settled := p.d.Settle(&in, counted)
			if settled.Action != tt.before {
				t.Fatalf("before the switch: %v, want %v", settled.Action, tt.before)
			}
			if tt.attack {
				sites.d.SetMode(host, protect.ModeOn)
			}
			if tt.quarantine {
				sites.q.Start(host, time.Now().Add(time.Minute), "test")
			}
			for i := range 3 { // settled as often as asked, the same
				if v := p.d.Settle(&in, counted); v.Action != tt.after || v.Step != tt.step {
					t.Fatalf("settled again (%d): %v at step %v, want %v at step %v", i, v.Action, v.Step, tt.after, tt.step)
				}
			}
			if v, changed := p.d.Recheck(&in, &counted, &settled); changed != tt.recheck ||
				(changed && (v.Action != tt.after || v.Step != tt.step)) || (!changed && v != settled) {
				t.Errorf("rechecked (tier %v): %v at step %v, changed %v; want changed %v", settled.Tier, v.Action, v.Step, changed, tt.recheck)
			}
			// Nothing was counted twice: the shipped budgets of 1/hour (GPTBot, /slow, POST
			// quarantine) are past their rate at the client's second request, not before.
			sites.d.SetMode(host, protect.ModeOff)
			sites.q.End(host)
			in, counted = decide()
			v := p.d.Settle(&in, counted)
			budgeted := tt.ua == gpt || tt.path == "/slow" || method == "POST"
			if budgeted != (v.Step == StepBudget || v.Step == StepQuarantine) {
				t.Errorf("second request: %v at step %v (budgeted: %v): settling counted the first again, or counting lost it", v.Action, v.Step, budgeted)
			}
		})
	}
}
