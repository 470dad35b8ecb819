// Package verdict decides what happens to a classified request: it counts the request against
// the budgets of every rule that applies and picks the strongest action due. It knows nothing
// of Caddy; counters live in any ulule/limiter Store.
package verdict

import (
	"context"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ulule/limiter/v3"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// now is the clock; tests replace it.
var now = time.Now

// Verdict is the decision for one request.
type Verdict struct {
	// Action is what to do: ActionNone or ActionAllow pass the request; ActionLog passes it
	// and reports; ActionDelay holds it for Delay then passes it; ActionThrottle answers 429
	// with RetryAfter; ActionBlock answers 403.
	Action rules.Action
	// Rule names the rule that decided the action; empty when nothing did.
	Rule string
	// Budget describes the budget that decided, e.g. "60/min per bot+host"; empty for
	// outright actions.
	Budget string
	// Reason says why in a few words, for logs: "budget", "rule", "impostor".
	Reason string
	// RetryAfter is when the client may come back (throttle), rounded up to whole seconds.
	RetryAfter time.Duration
	// Delay is how long to hold the request (delay).
	Delay time.Duration
	// Shadowed is true when a stronger action was due but a shadow file turned it into log.
	Shadowed bool
	// Crossed is true when this request is the one that took its budget past the rate:
	// the moment worth a log line, once per key and window.
	Crossed bool
	// Key is the counting key of the deciding budget (for that log line; never a metric label).
	Key string
	// StoreErrors counts budgets that could not be counted (the request was let through).
	StoreErrors int
	// ChallengeLevel is the level to challenge at when Action is ActionChallenge.
	ChallengeLevel string
	// Quarantine, when not zero, says a quarantine budget of the request's site is past its
	// rate: the site is to be quarantined for this long.
	Quarantine time.Duration
}

// Decider counts requests against budgets and decides. It is safe for concurrent use.
type Decider struct {
	store   limiter.Store
	timeout time.Duration
	// prefix keeps keys of different floodgate deployments apart in a shared store.
	prefix string
	// crossed remembers keys already reported over budget in their window.
	crossed *crossedSet
	// delayed counts requests held by delay now; past maxDelayed, delay becomes throttle.
	delayed    atomic.Int64
	maxDelayed int64
}

// Options tune a Decider.
type Options struct {
	// StoreTimeout bounds the counting of one request's budgets; past it the request passes
	// (fail open) and the budgets not counted show in Verdict.StoreErrors. Default 50ms.
	// Negative: no timeout, for stores that never wait on the network (store.Memory,
	// store.Batched), which saves four allocations per request.
	StoreTimeout time.Duration
	// KeyPrefix begins every counting key. Default "fg:".
	KeyPrefix string
	// MaxDelayed bounds how many requests delay may hold at once; the rest are throttled.
	// Default 1000.
	MaxDelayed int64
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
	return &Decider{store: store, timeout: opt.StoreTimeout, prefix: opt.KeyPrefix,
		crossed: newCrossedSet(), maxDelayed: opt.MaxDelayed}
}

// Decide counts the request against the budgets of the rules in res and returns the verdict.
func (d *Decider) Decide(ctx context.Context, req *classify.Request, res *classify.Result) Verdict {
	var v Verdict
	site := res.Site
	siteShadow := site != nil && site.Shadow
	// Outright actions first: block beats allow; an impostor gets its rule's impostor action.
	var allowedBy *rules.Rule
	for _, r := range res.Rules {
		action, level, _, _ := site.Effective(r)
		switch action {
		case rules.ActionBlock, rules.ActionChallenge:
			if d.raise(&v, action, r.Shadow || siteShadow) {
				v.Rule, v.Budget, v.Reason, v.ChallengeLevel = r.Name, "", "rule", level
			}
		case rules.ActionAllow:
			if allowedBy == nil {
				allowedBy = r
			}
		}
	}
	if res.Impostor && res.IdentityRule != nil {
		if d.raise(&v, res.IdentityRule.Impostor, res.IdentityRule.Shadow || siteShadow) {
			v.Rule, v.Budget, v.Reason = res.IdentityRule.Name, "", "impostor"
			// No budget says when to come back: an impostor may try again in a minute.
			v.RetryAfter = time.Minute
		}
	}
	if v.Action == rules.ActionBlock {
		return v
	}
	// Allow skips every budget, and is never challenged, unless something stronger is due
	// (an impostor). A shadowed block leaves it at log: without the shadow file the request
	// would be allowed.
	if allowedBy != nil && (v.Action <= rules.ActionLog || v.Action == rules.ActionChallenge) {
		if v.Action == rules.ActionChallenge {
			v = Verdict{}
		}
		if v.Action == rules.ActionNone {
			v.Action, v.Rule, v.Reason = rules.ActionAllow, allowedBy.Name, "rule"
		}
		return v
	}
	var keyBuf [128]byte
	var reset int64 // of the deciding budget
	cctx, cancel := ctx, context.CancelFunc(nil)
	for _, r := range res.Rules {
		_, _, budgets, overridden := site.Effective(r)
		shadow := r.Shadow || siteShadow
		for i, b := range budgets {
			key := d.appendKey(keyBuf[:0], r, i, b, req, res, overridden)
			if cancel == nil && d.timeout > 0 { // one deadline for all of the request's budgets
				cctx, cancel = context.WithTimeout(ctx, d.timeout)
			}
			rate := limiter.Rate{Period: b.Rate.Period, Limit: b.Rate.Limit}
			var lc limiter.Context
			var err error
			if r.IsResponse() {
				// Response budgets are counted once the response is known (CountResponse);
				// here they only say whether the client is already past them.
				lc, err = d.store.Peek(cctx, string(key), rate)
			} else {
				lc, err = d.store.Increment(cctx, string(key), 1, rate)
			}
			if err != nil {
				v.StoreErrors++
				continue
			}
			if !lc.Reached {
				continue
			}
			if b.Quarantine > 0 && !shadow {
				v.Quarantine = max(v.Quarantine, b.Quarantine)
			}
			retryAfter, delay := waits(time.Unix(lc.Reset, 0).Sub(now()), b)
			if b.Action == v.Action && !shadow && retryAfter > v.RetryAfter {
				// Two budgets past their rate with the same action: the longer wait holds.
				v.RetryAfter = retryAfter
			}
			if !d.raise(&v, b.Action, shadow) {
				continue
			}
			v.Rule, v.Budget, v.Reason, v.Key = r.Name, b.Label, "budget", string(key)
			v.ChallengeLevel = b.ChallengeLevel
			reset = lc.Reset
			v.RetryAfter, v.Delay = retryAfter, delay
		}
	}
	if cancel != nil {
		cancel()
	}
	if v.Key != "" {
		// Only the deciding budget is reported: a key marked here but not reported would
		// never get its line.
		v.Crossed = d.crossed.first(v.Key, time.Unix(reset, 0))
	}
	if v.Action == rules.ActionDelay {
		if d.delayed.Load() >= d.maxDelayed {
			v.Action, v.Reason = rules.ActionThrottle, "budget (delay queue full)"
		}
	}
	return v
}

// CountResponse counts a response against the budgets of the response rules (match.status)
// among the rules that applied to the request, once its status is known.
func (d *Decider) CountResponse(ctx context.Context, req *classify.Request, res *classify.Result, status int) {
	var keyBuf [128]byte
	for _, r := range res.Rules {
		if !r.IsResponse() || !slices.Contains(r.Match.Status, status) {
			continue
		}
		_, _, budgets, overridden := res.Site.Effective(r)
		for i, b := range budgets {
			key := d.appendKey(keyBuf[:0], r, i, b, req, res, overridden)
			_, _ = d.store.Increment(ctx, string(key), 1, limiter.Rate{Period: b.Rate.Period, Limit: b.Rate.Limit})
		}
	}
}

// waits turns the time until the store admits the client again into a Retry-After, whole
// seconds rounded up, at least 1s and at most the budget's period (the sliding-window
// estimate can exceed a period after a burst, yet a client quiet for a whole period is
// within any "N per period"), and a delay, at most the budget's max_delay.
func waits(wait time.Duration, b *rules.Budget) (retryAfter, delay time.Duration) {
	wait = max(wait, 0)
	retryAfter = max(wait.Truncate(time.Second), time.Second)
	if wait > retryAfter {
		retryAfter += time.Second
	}
	period := max(b.Rate.Period.Truncate(time.Second), time.Second)
	if b.Rate.Period > period {
		period += time.Second
	}
	return min(retryAfter, period), min(wait, b.MaxDelay)
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

// raise makes a the verdict's action if it is stronger; in shadow, a stronger action only
// raises to log and marks the verdict shadowed. It reports whether the verdict changed.
func (d *Decider) raise(v *Verdict, a rules.Action, shadow bool) bool {
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

// appendKey writes the counting key of budget i of rule r for this identity:
// prefix + rule [+ "@" + site, when the site overrides the rule's budgets] + "#" + i + ":" +
// the key parts joined by "|". A client without a known ASN is counted per network prefix
// under "asn" (as "?<prefix>"), so that without an ASN database budgets per asn do not lump
// every client together.
func (d *Decider) appendKey(buf []byte, r *rules.Rule, i int, b *rules.Budget, req *classify.Request, res *classify.Result, siteOverride bool) []byte {
	id := &res.Identity
	buf = append(buf, d.prefix...)
	buf = append(buf, r.Name...)
	if siteOverride {
		buf = append(buf, '@')
		buf = append(buf, res.Site.Name...)
	}
	buf = append(buf, '#')
	buf = strconv.AppendInt(buf, int64(i), 10)
	buf = append(buf, ':')
	for j, part := range b.Per {
		if j > 0 {
			buf = append(buf, '|')
		}
		switch part {
		case rules.KeyIP:
			buf = req.IP.Unmap().AppendTo(buf)
		case rules.KeyPrefix:
			buf = id.Prefix.AppendTo(buf)
		case rules.KeyASN:
			if id.ASN == 0 {
				buf = append(buf, '?')
				buf = id.Prefix.AppendTo(buf)
				break
			}
			buf = strconv.AppendUint(buf, uint64(id.ASN), 10)
		case rules.KeyBot:
			buf = append(buf, id.Bot...)
		case rules.KeyClass:
			buf = append(buf, id.Class...)
		case rules.KeyHost:
			buf = append(buf, req.Host...)
		}
	}
	return buf
}
