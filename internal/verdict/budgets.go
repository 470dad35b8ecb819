package verdict

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ulule/limiter/v3"

	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/rules"
)

// budgets counts the request against the budgets of every rule that applies and raises the
// verdict to the strongest action due (step 2).
func (d *Decider) budgets(ctx context.Context, in *Request, v *Verdict) {
	res := in.Class
	siteShadow := res.Site != nil && res.Site.Shadow
	keyBuf, deciding := keyBufs.Get().(*[]byte), keyBufs.Get().(*[]byte)
	defer keyBufs.Put(keyBuf)
	defer keyBufs.Put(deciding)
	*deciding = (*deciding)[:0] // the deciding budget's key
	c := d.counter(ctx)
	defer c.done()
	var reset int64 // of the deciding budget
	for _, r := range res.Rules {
		e := res.Site.Effective(r)
		for i, b := range e.Budgets {
			for wide := range keysOf(b, res) {
				key := d.appendKey((*keyBuf)[:0], r, i, b, in.Req, res, e.Overridden, wide == 1)
				*keyBuf = key
				// Response budgets are counted once the response is known (CountResponse);
				// here they only say whether the client is already past them.
				lc, err := c.count(key, b, !r.IsResponse(), in.Now)
				if apply(in, v, r, b, key, lc, err, r.Shadow || siteShadow) {
					reset = lc.Reset
					*deciding = append((*deciding)[:0], key...)
				}
			}
		}
	}
	if len(*deciding) > 0 {
		// Only the deciding budget is reported: a key marked here but not reported would
		// never get its line.
		v.Key, v.Crossed = d.crossed.first(*deciding, time.Unix(reset, 0))
	}
	if v.Action == rules.ActionDelay && d.delayed.Load() >= d.maxDelayed {
		v.Action, v.Step, v.Reason = rules.ActionThrottle, StepDelayQueue, "budget (delay queue full)"
		if in.Trace != nil {
			in.Trace.note(StepDelayQueue, v.Action, true, "%d requests held already: delay becomes throttle", d.maxDelayed)
		}
	}
}

// apply raises the verdict by one budget as counted; it reports whether that budget decides
// the verdict now.
func apply(in *Request, v *Verdict, r *rules.Rule, b *rules.Budget, key []byte, lc limiter.Context, err error, shadow bool) bool {
	if err != nil || !lc.Reached {
		if err != nil {
			v.StoreErrors++
		}
		in.Trace.budget(r, b, key, lc, err, false, shadow)
		return false
	}
	if b.Quarantine > 0 && !shadow {
		// A quarantine budget refuses nothing itself: it starts the site's quarantine, and
		// the quarantine step refuses the site's unsafe requests (sparing its known-good
		// clients, with a Retry-After of the cooldown).
		v.Quarantine = max(v.Quarantine, b.Quarantine)
		in.Trace.budget(r, b, key, lc, nil, false, shadow)
		return false
	}
	retryAfter, delay := waits(time.Unix(lc.Reset, 0).Sub(in.clock()), b)
	if b.Action == v.Action && !shadow && retryAfter > v.RetryAfter {
		// Two budgets past their rate with the same action: the longer wait holds.
		v.RetryAfter = retryAfter
	}
	raised := raise(v, b.Action, shadow)
	in.Trace.budget(r, b, key, lc, nil, raised, shadow)
	if !raised {
		return false
	}
	v.Step, v.Rule, v.Budget, v.Reason = StepBudget, r.Name, b.Label, "budget" // v.Key: budgets
	v.ChallengeLevel = b.ChallengeLevel
	v.RetryAfter, v.Delay = retryAfter, delay
	return true
}

// counter counts a request's budgets in the store, all within one deadline (made when the
// first budget is counted, for stores that need one).
type counter struct {
	d      *Decider
	ctx    context.Context
	cancel context.CancelFunc
}

func (d *Decider) counter(ctx context.Context) counter { return counter{d: d, ctx: ctx} }

// count counts one hit of budget b for key (increment), or reads its state, at the
// request's time at (zero: the store's clock).
func (c *counter) count(key []byte, b *rules.Budget, increment bool, at time.Time) (limiter.Context, error) {
	if c.cancel == nil && c.d.timeout > 0 {
		c.ctx, c.cancel = context.WithTimeout(c.ctx, c.d.timeout)
	}
	return c.d.count(c.ctx, key, limiter.Rate{Period: b.Rate.Period, Limit: b.Rate.Limit}, increment, at)
}

// done ends the deadline.
func (c *counter) done() {
	if c.cancel != nil {
		c.cancel()
	}
}

// pastNote says, in a trace, that a budget is past its rate.
func pastNote(b *rules.Budget, shadow bool) string {
	switch {
	case shadow:
		return "past its rate, in shadow: log only"
	case b.Quarantine > 0:
		return "past its rate: quarantine the site for " + b.Quarantine.String()
	}
	return "past its rate"
}

// CountResponse counts a response against the budgets of the response rules (match.status)
// among the rules that applied to the request, once its status is known, within the same
// store deadline as Decide.
func (d *Decider) CountResponse(ctx context.Context, req *classify.Request, res *classify.Result, status int) {
	keyBuf := keyBufs.Get().(*[]byte)
	defer keyBufs.Put(keyBuf)
	c := d.counter(ctx)
	defer c.done()
	for _, r := range res.Rules {
		if !r.IsResponse() || !slices.Contains(r.Match.Status, status) {
			continue
		}
		e := res.Site.Effective(r)
		for i, b := range e.Budgets {
			for wide := range keysOf(b, res) {
				key := d.appendKey((*keyBuf)[:0], r, i, b, req, res, e.Overridden, wide == 1)
				*keyBuf = key
				_, _ = c.count(key, b, true, time.Time{})
			}
		}
	}
}

// keyBufs hold the buffers counting keys are written in: a store may take a key as bytes
// (bytesStore), which makes a stack buffer escape.
var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 128); return &b }}

// count counts one hit for key (increment) or reads its state (peek), at the request's time
// at when the store takes it (bytesStore; zero: the store's clock).
func (d *Decider) count(ctx context.Context, key []byte, rate limiter.Rate, increment bool, at time.Time) (limiter.Context, error) {
	switch {
	case d.bytes != nil && increment:
		return d.bytes.IncrementBytesAt(ctx, key, 1, rate, at)
	case d.bytes != nil:
		return d.bytes.PeekBytesAt(ctx, key, rate, at)
	case increment:
		return d.store.Increment(ctx, string(key), 1, rate)
	}
	return d.store.Peek(ctx, string(key), rate)
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

// keysOf is how many keys a budget counts for this client: two for a budget per prefix and
// an IPv6 client — its /64 and its /48 (Identity.WidePrefix), each against the budget's
// rate, so that picking a new /64 of one's /48 for every request does not rotate past it —
// else one.
func keysOf(b *rules.Budget, res *classify.Result) int {
	if res.WidePrefix.IsValid() && slices.Contains(b.Per, rules.KeyPrefix) {
		return 2
	}
	return 1
}

// appendKey writes the counting key of budget i of rule r for this identity:
// prefix + rule [+ "@" + site, when the site overrides the rule's budgets] + "#" + i + ":" +
// the key parts joined by "|". A client without a known ASN is counted per network prefix
// under "asn" (as "?<prefix>"), so that without an ASN database budgets per asn do not lump
// every client together.
func (d *Decider) appendKey(buf []byte, r *rules.Rule, i int, b *rules.Budget, req *classify.Request, res *classify.Result, siteOverride, wide bool) []byte {
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
			if wide {
				buf = id.WidePrefix.AppendTo(buf)
				break
			}
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
