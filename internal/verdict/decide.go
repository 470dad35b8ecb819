package verdict

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/ulule/limiter/v3"

	"github.com/floodgate-proxy/floodgate/internal/pass"
	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// Decider decides, counting requests against budgets. It is safe for concurrent use.
type Decider struct {
	store limiter.Store
	// bytes is store when it takes keys as bytes (no string per budget counted).
	bytes   bytesStore
	timeout time.Duration
	// prefix keeps keys of different floodgate deployments apart in a shared store.
	prefix string
	// crossed remembers keys already reported over budget in their window.
	crossed *crossedSet
	// delayed counts requests held by delay now; past maxDelayed, delay becomes throttle.
	delayed    atomic.Int64
	maxDelayed int64
	// attackLevel is the challenge level of sites under attack that set none.
	attackLevel pass.Level
}

// Options tune a Decider.
type Options struct {
	// StoreTimeout bounds the counting of one request's budgets (and of its response's);
	// past it the request passes (fail open) and the budgets not counted show in
	// Verdict.StoreErrors. Default 50ms. Negative: no timeout, for stores that never wait on
	// the network (store.Memory, store.Batched), which saves four allocations per request.
	StoreTimeout time.Duration
	// KeyPrefix begins every counting key. Default "fg:".
	KeyPrefix string
	// MaxDelayed bounds how many requests delay may hold at once; the rest are throttled.
	// Default 1000.
	MaxDelayed int64
	// UnderAttackLevel is the challenge level shown while a site is under attack, for sites
	// that set none. Default cookie (rules.DefaultChallengeLevel).
	UnderAttackLevel pass.Level
}

// New builds a Decider counting in store.
func New(store limiter.Store, opt Options) *Decider {
	if opt.StoreTimeout == 0 {
		opt.StoreTimeout = 50 * time.Millisecond
	}
	if opt.KeyPrefix == "" {
		opt.KeyPrefix = "fg:"
	}
	if opt.MaxDelayed <= 0 {
		opt.MaxDelayed = 1000
	}
	if opt.UnderAttackLevel == pass.LevelNone {
		opt.UnderAttackLevel = rules.DefaultChallengeLevel
	}
	d := &Decider{store: store, timeout: opt.StoreTimeout, prefix: opt.KeyPrefix,
		crossed: newCrossedSet(), maxDelayed: opt.MaxDelayed, attackLevel: opt.UnderAttackLevel}
	d.bytes, _ = store.(bytesStore)
	return d
}

// bytesStore is a store that takes counting keys as bytes it does not keep (it copies a key
// it stores), so that counting a budget makes no string. store.Memory is one.
// The *At methods take the request's time (Request.Now; zero: the store reads its clock).
type bytesStore interface {
	IncrementBytesAt(ctx context.Context, key []byte, count int64, rate limiter.Rate, now time.Time) (limiter.Context, error)
	PeekBytesAt(ctx context.Context, key []byte, rate limiter.Rate, now time.Time) (limiter.Context, error)
}

// Decide decides what happens to the request, in this order:
//
//  1. outright: a rule's block or challenge, an impostor's action, a rule's allow (block
//     beats allow; allow beats challenge; an impostor's throttle beats allow). A block, or an
//     allow that nothing beats, skips the budgets.
//  2. budgets: every budget of every rule that applies is counted; the strongest action due
//     wins (block > throttle > challenge > delay > log); a quarantine budget past its rate
//     asks for a quarantine. Past MaxDelayed held requests, delay becomes throttle.
//  3. quarantine: a quarantined site's POST, PUT, PATCH and DELETE are throttled.
//  4. under attack: a client that is not known good (allowed, verified) is challenged.
//  5. shadow: the handler's or app's shadow turns a refusal into log.
//  6. spared: a challenge is not shown on exempt paths, to verified search engines, or to a
//     client holding a pass of the level asked.
//  7. tier: the client's admission tier (its place in the backend's queue).
//
// Rule files and sites in shadow count and log from step 1 on: their refusals are log.
func (d *Decider) Decide(ctx context.Context, in *Request) Verdict {
	return d.Settle(in, d.Count(ctx, in))
}

// Count runs the steps of the decision that count the request (1 and 2: outright actions and
// budgets) and returns their verdict, for Settle. Decide is Settle(in, Count(ctx, in)).
func (d *Decider) Count(ctx context.Context, in *Request) Verdict {
	var v Verdict
	if d.outright(in, &v) {
		d.budgets(ctx, in, &v)
	}
	return v
}

// Settle runs the steps that read the sites' state as it is now (3 to 7: quarantine, under
// attack, shadow, spared, tier) on a verdict of Count, and counts nothing. Settling the same
// counted verdict again later decides a request anew on the sites' state of that moment
// without counting it twice: a request that waited for the backend while its site switched
// to under-attack mode or was quarantined meets the switch (see Recheck), instead of
// reaching the backend on a decision its flood has made stale.
func (d *Decider) Settle(in *Request, v Verdict) Verdict {
	d.quarantine(in, &v)
	d.underAttack(in, &v)
	shadow(in, &v)
	spare(in, &v)
	v.Tier = tier(in, &v)
	if in.Trace != nil {
		in.Trace.note(StepTier, rules.ActionNone, false, "tier %d (%s)", v.Tier, v.Tier)
	}
	return v
}

// Recheck decides again, on the sites' state now, a request that waited for the backend:
// it settles the request's counted verdict (Count's) once more, and reports whether the
// request now gets an answer of its own instead of the backend — a challenge or a refusal
// stronger than settled, its verdict when it began to wait. A flood's first seconds fill the
// backend's queue before its site switches to under-attack mode (or is quarantined); the
// requests still waiting then were decided before the switch and would each take a worker
// on that stale decision (a POST burst on 4 workers × 200 ms: 7 of 28 POSTs reached the
// backend up to 2 s after their site switched, people waiting behind them).
//
// Only the tiers refused first (declared automation, untrusted) are rechecked: a browser
// that waited its turn, a person as far as floodgate knows, keeps it. Sent back to pass a
// challenge, it would wait a second time at the end of the queue (a flash crowd of new
// visitors on a site switched on by its own pressure: in the matrix's flash-2x-4w200, sites
// not attacked went to 3.73× calm against 1.85× when every tier was rechecked).
func (d *Decider) Recheck(in *Request, counted, settled *Verdict) (Verdict, bool) {
	if settled.Tier <= TierNew {
		return *settled, false
	}
	v := d.Settle(in, *counted)
	if v.Action < rules.ActionChallenge || v.Action <= settled.Action {
		return *settled, false
	}
	return v, true
}

// outright applies the rules' outright actions and the impostor action (step 1). It reports
// whether budgets are to be counted: not after a block, nor for an allowed request.
func (d *Decider) outright(in *Request, v *Verdict) (countBudgets bool) {
	allowedBy := ruleActions(in, v)
	impostor(in, v)
	if v.Action == rules.ActionBlock {
		in.Trace.rule(StepBudget, nil, rules.Effect{}, false, "skipped: blocked")
		return false
	}
	// Allow skips every budget, and is never challenged, unless something stronger is due
	// (an impostor). A shadowed block leaves it at log: without the shadow file the request
	// would be allowed.
	if allowedBy == nil || v.Action > rules.ActionLog && v.Action != rules.ActionChallenge {
		return true
	}
	if v.Action == rules.ActionChallenge {
		*v = Verdict{}
	}
	if v.Action == rules.ActionNone {
		v.Action, v.Step, v.Rule, v.Reason = rules.ActionAllow, StepAllow, allowedBy.Name, "rule"
	}
	in.Trace.rule(StepAllow, allowedBy, rules.Effect{Action: rules.ActionAllow}, v.Action == rules.ActionAllow, "budgets skipped")
	return false
}

// ruleActions raises the verdict to the strongest block or challenge of the rules that
// apply, and returns the first rule that allows the request, if any.
func ruleActions(in *Request, v *Verdict) (allowedBy *rules.Rule) {
	res := in.Class
	siteShadow := res.Site != nil && res.Site.Shadow
	for _, r := range res.Rules {
		e := res.Site.Effective(r)
		switch e.Action {
		case rules.ActionBlock, rules.ActionChallenge:
			raised := raise(v, e.Action, r.Shadow || siteShadow)
			if raised {
				v.Step, v.Rule, v.Budget, v.Reason, v.ChallengeLevel = StepRule, r.Name, "", "rule", e.ChallengeLevel
			}
			in.Trace.rule(StepRule, r, e, raised, "outright action")
		case rules.ActionAllow:
			if allowedBy == nil {
				allowedBy = r
			}
			in.Trace.rule(StepAllow, r, e, false, "allows")
		default:
			if len(e.Budgets) == 0 {
				in.Trace.rule(StepRule, r, e, false, "applies, no action, no budget")
			}
		}
	}
	return allowedBy
}

// impostor gives a client that claims a verified identity from outside its ranges the
// identity rule's impostor action.
func impostor(in *Request, v *Verdict) {
	res := in.Class
	id := res.IdentityRule
	if !res.Impostor || id == nil {
		return
	}
	raised := raise(v, id.Impostor, id.Shadow || res.Site != nil && res.Site.Shadow)
	if raised {
		v.Step, v.Rule, v.Budget, v.Reason = StepImpostor, id.Name, "", "impostor"
		// No budget says when to come back: an impostor may try again in a minute.
		v.RetryAfter = time.Minute
	}
	in.Trace.rule(StepImpostor, id, rules.Effect{Action: id.Impostor}, raised, "outside the ranges it is verified by")
}

// quarantine throttles a quarantined site's requests that change state (step 3).
func (d *Decider) quarantine(in *Request, v *Verdict) {
	if !unsafeMethod(in.Req.Method) || v.Action >= rules.ActionThrottle {
		return
	}
	t := in.clock()
	var until time.Time
	ok := false
	if in.Sites != nil {
		until, ok = in.Sites.QuarantinedUntil(in.Req.Host, t)
	}
	if v.Quarantine > 0 && (!ok || t.Add(v.Quarantine).After(until)) {
		until, ok = t.Add(v.Quarantine), true // this request starts it (the caller records it)
	}
	if !ok {
		return
	}
	if in.spareQuarantine() {
		in.Trace.note(StepQuarantine, v.Action, false, "site %s quarantined until %s; a known-good client is spared", in.Req.Host, until.UTC().Format(time.RFC3339))
		return
	}
	v.Action, v.Step, v.Rule, v.Reason, v.Budget = rules.ActionThrottle, StepQuarantine, "quarantine", "site quarantined", ""
	// Retry-After: when the quarantine ends, whole seconds rounded up.
	v.RetryAfter = until.Sub(t)
	if r := v.RetryAfter.Truncate(time.Second); r < v.RetryAfter {
		v.RetryAfter = r + time.Second
	}
	if in.Trace != nil {
		in.Trace.note(StepQuarantine, v.Action, true, "site %s quarantined until %s", in.Req.Host, until.UTC().Format(time.RFC3339))
	}
}

// spareQuarantine says a client keeps its POSTs through its site's quarantine: a stranger
// who trips a member's quarantine must not shut the member's known clients out. Known good:
// a proven pass (see provenPass), a verified search engine, a returning visitor.
func (in *Request) spareQuarantine() bool {
	return in.provenPass() || in.Class.Verified || in.Returning
}

// provenPass says the client holds a pass that cost it something a bot does not do for
// free: a script or proof-of-work pass. A cookie pass proves only that the client keeps
// cookies — every scraper with a cookie jar earns one in one round trip — so it spares the
// challenge it answered but earns no trust: no place ahead in the backend's queue (the
// matrix benchmark saw a flood's cookie-pass holders crowd out returning visitors), no way
// through a quarantine.
func (in *Request) provenPass() bool {
	return in.Pass.Satisfies(pass.LevelScript)
}

// underAttack challenges clients that are not known good while their site is under attack
// (step 4): those allowed by a rule and verified search engines are not challenged; pass
// holders are spared the challenge in step 6.
func (d *Decider) underAttack(in *Request, v *Verdict) {
	if in.Sites == nil || v.Action >= rules.ActionChallenge || v.Action == rules.ActionAllow || in.Class.Verified {
		return
	}
	site := in.SiteName()
	if !in.Sites.UnderAttack(site) {
		return
	}
	v.Action, v.Step, v.Rule, v.Reason, v.Budget = rules.ActionChallenge, StepUnderAttack, "under-attack", "site under attack", ""
	v.ChallengeLevel = d.attackLevel
	if s := in.Class.Site; s != nil && s.ChallengeLevel != pass.LevelNone {
		v.ChallengeLevel = s.ChallengeLevel
	}
	if in.Trace != nil {
		in.Trace.note(StepUnderAttack, v.Action, true, "site %s under attack: challenge at %s", site, v.ChallengeLevel)
	}
}

// shadow turns a refusal into log when the handler or the app is in shadow (step 5).
func shadow(in *Request, v *Verdict) {
	if !in.Shadow || v.Action <= rules.ActionLog {
		return
	}
	if in.Trace != nil {
		in.Trace.note(StepShadow, rules.ActionLog, false, "%s turned into log", v.Action)
	}
	v.Action, v.Shadowed = rules.ActionLog, true
}

// spare lets a challenged request through without the challenge (step 6): exempt paths,
// verified search engines, clients holding a pass of the level asked, and at the cookie
// level clients holding a visitor cookie.
func spare(in *Request, v *Verdict) {
	if v.Action != rules.ActionChallenge {
		return
	}
	need := max(v.ChallengeLevel, pass.LevelCookie)
	why := ""
	switch {
	case in.Class.Verified:
		why = "verified search engine"
	case in.Exempt:
		why = "exempt path"
	case in.Class.Site.IsExempt(in.Req.Path):
		why = "the site's exempt path"
	case in.Pass.Satisfies(need):
		why = "holds a " + in.Pass.String() + " pass"
	case need == pass.LevelCookie && (in.Visitor || in.Returning):
		// A visitor cookie proves all a cookie challenge asks, that the client keeps
		// cookies, and it was given on an ordinary answer: a person's image or script
		// answered with a challenge page under attack is a broken page.
		why = "holds a visitor cookie"
	}
	if why == "" {
		v.PassRefused = in.PassRefused
		if in.Pass != pass.LevelNone {
			v.PassRefused = pass.ReasonWeakerLevel
		}
		if v.PassRefused == pass.ReasonMissing {
			v.PassRefused = ""
		}
		return
	}
	v.Action, v.Step = rules.ActionNone, StepSpared
	if in.Trace != nil {
		in.Trace.note(StepSpared, rules.ActionNone, true, "challenge at %s spared: %s", need, why)
	}
}

// raise makes a the verdict's action if it is stronger; in shadow, a stronger action only
// raises to log and marks the verdict shadowed. It reports whether the verdict changed.
func raise(v *Verdict, a rules.Action, shadow bool) bool {
	if shadow && a > rules.ActionLog {
		if v.Action >= rules.ActionLog {
			v.Shadowed = true
			return false
		}
		v.Shadowed = true
		a = rules.ActionLog
	}
	if a <= v.Action {
		return false
	}
	v.Action = a
	return true
}

// unsafeMethod reports whether a method changes state on the site (what quarantine refuses).
func unsafeMethod(m string) bool {
	switch m {
	case "GET", "HEAD", "OPTIONS":
		return false
	}
	return true
}

// Hold sleeps for a delay verdict, counting the held request; it returns early when ctx ends.
func (d *Decider) Hold(ctx context.Context, delay time.Duration) {
	d.delayed.Add(1)
	defer d.delayed.Add(-1)
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Delayed reports how many requests delay holds now.
func (d *Decider) Delayed() int64 { return d.delayed.Load() }
