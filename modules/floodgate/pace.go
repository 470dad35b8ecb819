package floodgate

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/floodgate-proxy/floodgate/internal/admission"
	"github.com/floodgate-proxy/floodgate/internal/rules"
	"github.com/floodgate-proxy/floodgate/internal/verdict"
)

// A scraper that retries as soon as a refusal comes back ("closed loop") sends as many
// requests as the proxy can refuse: the matrix benchmark measured 4,000-8,000 refusals a
// second on 2 cores, the proxy's CPU spent on them, and people's pages waiting for that CPU
// while the backend sat 30 % busy. Pacing holds such a refusal for a moment before it is
// sent: a closed-loop client then costs one request per hold, whatever its speed. Only
// refusals nobody is waiting on — automation and untrusted clients (tier automation and
// below) refused while their site is under attack or the backend is short, and the POSTs of
// a quarantined site — and never a challenge (a person's first page: the answers pacer
// below holds those only while the proxy is short of CPU) or a browser's 503. Bounded: at
// most maxHeldRefusals are held at once (past it, refusals go out at once: a held request is
// a goroutine and a connection), each at most refusalHold.
const (
	refusalHold     = time.Second
	maxHeldRefusals = 1024
)

// watchedHold is the shortest hold that watches for its client leaving. A shorter one (the
// answers pacer's, at most a page time) is slept through: a client that leaves meanwhile
// costs the rest of the hold, and the hold costs no timer, no channel for the request's
// context and no select — under a flood of refusals the proxy short of CPU holds every one
// (the overhead benchmark's refused GPTBot: 2 % of the proxy's CPU in time.NewTimer and
// selectgo).
const watchedHold = 100 * time.Millisecond

// pacer holds refusals (see above). The zero pacer holds nothing.
type pacer struct {
	held  atomic.Int64
	max   int64
	hold  atomic.Int64 // nanoseconds
	total atomic.Int64 // answers held so far
}

// newPacer returns a pacer holding at most max refusals, each for hold.
func newPacer(max int64, hold time.Duration) *pacer {
	p := &pacer{max: max}
	p.hold.Store(int64(hold))
	return p
}

// refusals paces floodgate's refusals, one for the process: the bound is on what the
// machine holds.
var refusals = newPacer(maxHeldRefusals, refusalHold)

// pace holds the caller for the pacer's hold, or until ctx ends (a hold of watchedHold or
// more), unless p.max refusals are held already. It reports whether it held.
func (p *pacer) pace(ctx context.Context) bool {
	hold := time.Duration(p.hold.Load())
	if hold <= 0 {
		return false
	}
	if p.held.Add(1) > p.max {
		p.held.Add(-1)
		return false
	}
	defer p.held.Add(-1)
	p.total.Add(1)
	if hold < watchedHold {
		time.Sleep(hold)
		return true
	}
	t := time.NewTimer(hold)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return true
}

// paceable reports whether a refusal by verdict v (a block or a throttle) may be held: the
// POSTs of a quarantined site, and automation and untrusted clients while their site is
// under attack.
func paceable(in *verdict.Request, v *verdict.Verdict) bool {
	if v.Action < rules.ActionThrottle || v.Shadowed {
		return false
	}
	return v.Step == verdict.StepQuarantine ||
		(v.Tier >= admission.TierAutomation && in.Sites != nil && in.Sites.UnderAttack(in.SiteName()))
}

// The proxy's CPU, admitted by trust. A closed-loop flood that floodgate answers itself
// with challenges (a stealth botnet: browser User-Agents, a fresh address per request, no
// cookies, so tier new and every request challenged) is not slowed by the refusal pacer:
// a challenge is a person's first page. It then sends as many requests as the proxy can
// answer, and the proxy's CPU goes to them: the matrix benchmark measured 12,000 challenges a
// second on 2 cores (stealth-closed-30x-4w20, issue11) and people's pages waiting for a CPU
// (their time in the proxy 3.8 → 55.8 ms p95) with the backend a third busy.
//
// So the answers floodgate makes itself to the lowest tiers — challenges and refusals to
// tier new and below — are held for a hold that follows the proxy's own measured delay (the
// scheduling wait and network wake lag of its goroutines, admission.RuntimeSchedDelay, read
// every answerTick): while that delay is above its target the hold doubles, from the target
// up; below it the hold shrinks by an eighth a tick, and falls to nothing under half the
// target. A closed-loop flood then costs the proxy what it can spare; on a calm day, and
// under a flood the proxy has CPU for (open loop, a flash crowd), the delay stays low and
// nothing is held. Nothing here is a number to guess:
//   - the target is the backend's healthy latency times (admission.Tolerance - 1): the
//     proxy's own queue is given the room the limit gives the backend's (10 %);
//   - the hold is at most the healthy latency: a person's first page on a site under attack
//     (a challenge, then the page) waits at most one more page time, and a flood cannot make
//     it wait longer; before a healthy latency is learned, nothing is held.
//
// Never held: anyone above tier new (pass holders, returning visitors, browsers that kept
// their cookie), verified search engines and allowed automation (tier trusted), answers to
// a challenge (the verify path, handled before any verdict), and requests floodgate lets
// through to the backend.
const answerTick = 100 * time.Millisecond

// nextHold is the hold of the next tick, from the hold now and the proxy's delay measured
// over the last tick, for a backend whose healthy latency is baseline (0: not learned).
func nextHold(hold, delay, baseline time.Duration) time.Duration {
	target := time.Duration(float64(baseline) * (admission.Tolerance - 1))
	switch {
	case baseline < minAnswerHold: // none learned yet (0), or too fast to be worth a hold
		return 0
	case delay > target:
		return min(max(2*hold, target, minAnswerHold), baseline)
	case hold-hold/8 < max(target/2, minAnswerHold):
		return 0
	}
	return hold - hold/8
}

// minAnswerHold is the shortest hold of own answers: a hold costs the proxy a park, a timer
// and a wake of the held goroutine (on a busy proxy also an idle thread woken to run it).
// On the overhead benchmark's instant backend (healthy latency 0.2-0.5 ms) every refusal to
// the flooding GPTBot was held that long: the scheduler's share of the floodgate-429 proxy's
// profile grew by about half of all floodgate added to a refusal, while a hold of 0.3 ms
// slowed a client whose requests take 2-3 ms by a tenth. A hold pays for itself only when
// it is a good part of the client's cycle, so none shorter than a millisecond is made (the
// matrix's backends, 20-200 ms pages, are not concerned).
const minAnswerHold = time.Millisecond

// answers holds floodgate's own answers to the lowest tiers (see above), one for the
// process like refusals; the protection's clock sets its hold (adaptHolds).
var answers = newPacer(maxHeldRefusals, 0)

// holdPin, when not zero, is the hold adaptHolds keeps whatever the delay (tests).
var holdPin atomic.Int64

// adaptHolds sets the hold of p every answerTick, from the proxy's delay that sched
// measures and the backend's healthy latency (baseline), until stop is closed; it sets no
// hold when it stops.
func adaptHolds(p *pacer, sched admission.SchedDelay, baseline func() time.Duration, stop <-chan struct{}) {
	defer p.hold.Store(0)
	a := newHoldAdapter(sched)
	t := time.NewTicker(answerTick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			hold := a.next(time.Duration(p.hold.Load()), baseline())
			if pin := holdPin.Load(); pin != 0 {
				hold = time.Duration(pin)
			}
			p.hold.Store(int64(hold))
		case <-stop:
			return
		}
	}
}

// holdAdapter turns readings of the proxy's delay into holds (nextHold).
type holdAdapter struct {
	sched      admission.SchedDelay
	last       admission.ProxyDelay
	wait, wake time.Duration // the last measured means
}

func newHoldAdapter(sched admission.SchedDelay) *holdAdapter {
	return &holdAdapter{sched: sched, last: sched()}
}

// next reads the proxy's delay since the last reading, one scheduling wait and one network
// wake (as admission's limit counts it), and returns the hold that follows hold.
func (a *holdAdapter) next(hold, baseline time.Duration) time.Duration {
	d := a.sched()
	delay := d.DelaySince(a.last, &a.wait, &a.wake)
	a.last = d
	return nextHold(hold, delay, baseline)
}

// ownAnswer reports whether verdict v has floodgate answer the request itself (a
// challenge, a block or a throttle, not in shadow) to a client of tier new or below.
func ownAnswer(v *verdict.Verdict) bool {
	return v.Tier >= admission.TierNew && !v.Shadowed && v.Action >= rules.ActionChallenge
}

// paceAnswer holds the answer verdict v asks for, when it is one of floodgate's own to the
// lowest tiers: a refusal nobody waits on for refusalHold (refusals), another for the hold
// the proxy's CPU calls for (answers, see answerPacer).
func paceAnswer(ctx context.Context, in *verdict.Request, v *verdict.Verdict) {
	switch {
	case paceable(in, v):
		refusals.pace(ctx) // a scraper retrying at once costs one request a hold
	case ownAnswer(v):
		answers.pace(ctx)
	}
}

// pacerMetrics report the pacers: the hold of own answers now, and the answers held so far
// by pacer.
func pacerMetrics() []prometheus.Collector {
	held := func(kind string, p *pacer) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "floodgate", Name: "held_answers_total", ConstLabels: prometheus.Labels{"kind": kind},
			Help: "Answers floodgate held before sending them: refusals nobody waits on (refusal), and own answers to new and untrusted clients while the proxy was short of CPU (answer).",
		}, func() float64 { return float64(p.total.Load()) })
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "floodgate", Name: "answer_hold_seconds",
			Help: "How long floodgate holds its own answers (challenges, refusals) to new and untrusted clients now: 0 unless its CPU is short.",
		}, func() float64 { return time.Duration(answers.hold.Load()).Seconds() }),
		held("refusal", refusals), held("answer", answers),
	}
}
