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
	seen  atomic.Int64 // answers paced so far, held or not (the hold law's rate)
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
	p.seen.Add(1)
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
//   - the hold is at most the healthy latency unless measured probes find it pays to hold
//     longer (holdLaw: a closed-loop flood), then at most maxAnswerHold: a person's first
//     page on a site under attack (a challenge, then the page) waits at most one more page
//     time, or that hold while such a flood is held longer; before a healthy latency is
//     learned, nothing is held.
//
// Never held: anyone above tier new (pass holders, returning visitors, browsers that kept
// their cookie), verified search engines and allowed automation (tier trusted), answers to
// a challenge (the verify path, handled before any verdict), and requests floodgate lets
// through to the backend.
const answerTick = 100 * time.Millisecond

// holdTarget is the proxy's delay the hold of own answers aims under, for a backend whose
// healthy latency is baseline: the room the limit gives the backend's queue (see above).
func holdTarget(baseline time.Duration) time.Duration {
	return time.Duration(float64(baseline) * (admission.Tolerance - 1))
}

// nextHold is the hold of the next tick, from the hold now and the proxy's delay measured
// over the last tick, for a backend whose healthy latency is baseline (0: not learned).
func nextHold(hold, delay, baseline time.Duration) time.Duration {
	target := holdTarget(baseline)
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
	a.answers = p.seen.Load
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

// holdAdapter turns readings of the proxy's delay, and counts of own answers, into holds
// (nextHold, then holdLaw past the healthy latency).
type holdAdapter struct {
	sched      admission.SchedDelay
	last       admission.ProxyDelay
	wait, wake time.Duration // the last measured means
	answers    func() int64  // own answers paced so far (nil: none counted, no probe)
	seen       int64         // answers at the last reading
	law        holdLaw
}

func newHoldAdapter(sched admission.SchedDelay) *holdAdapter {
	return &holdAdapter{sched: sched, last: sched()}
}

// next reads the proxy's delay since the last reading, one scheduling wait and one network
// wake (as admission's limit counts it), and the own answers paced since, and returns the
// hold that follows hold.
func (a *holdAdapter) next(hold, baseline time.Duration) time.Duration {
	d := a.sched()
	delay := d.DelaySince(a.last, &a.wait, &a.wake)
	a.last = d
	var n int64
	if a.answers != nil {
		seen := a.answers()
		n, a.seen = seen-a.seen, seen
	}
	return a.law.next(hold, delay, baseline, n)
}

// Past the healthy latency, a hold pays only against a flood that waits for its answer
// before it sends the next request (closed loop): N such clients send N / (hold + their
// own time) requests a second, so doubling the hold nearly halves what they cost. An
// open-loop flood sends at its own rate whatever the hold, and a longer hold only keeps
// rate × hold requests (goroutines, connections) held at once: session 7 measured a fixed
// 1 s ceiling take stealth-open-10x-8w50 from 1.01x to 2.08-6.24x calm while it took
// stealth-closed-30x-4w20 from 2.81-3.26x to 2.05-2.30x. So the hold grows past the healthy
// latency by probes, each measured: while the proxy's delay stays above its target at a
// hold at or past the healthy latency, the hold doubles, and is kept only if the own
// answers a tick then fell by at least probePays (a closed-loop client's rate falls by
// (h+c)/(2h+c): at least a quarter once the hold is half the client's own time or more);
// otherwise it goes back and no probe is made for probeBackoff ticks, doubling with each
// probe in a row that did not pay. A hold past the healthy latency is dropped a step when
// it stops paying: when the answers held at once (rate × hold) grow by half over what they
// were when it was kept (an open-loop flood joined), and it shrinks by an eighth a tick
// like any hold once the delay is low. It is at most maxAnswerHold, and a probe that would
// hold more than half of the pacer's bound at once is not made.
const (
	probePays     = 0.75
	probeBackoff  = 10 // ticks: 1 s
	maxAnswerHold = refusalHold
	probeMeasure  = 2 // ticks the rate is read over, before and after a probe
)

// heldAtOnce is how many answers a hold keeps held at once, n arriving a tick (rate × hold).
func heldAtOnce(n int64, hold time.Duration) float64 {
	return float64(n) * float64(hold) / float64(answerTick)
}

// holdLaw is the state of the hold past the healthy latency. The zero holdLaw probes
// nothing yet.
type holdLaw struct {
	recent  [probeMeasure]int64 // own answers in the last ticks, newest first
	from    time.Duration       // the hold before the probe under way (0: none)
	before  int64               // own answers over probeMeasure ticks at from
	settle  int                 // ticks left before the probe's rate is read
	backoff int                 // ticks before the next probe
	misses  int                 // probes in a row that did not pay
	held    float64             // answers held at once when the hold past the healthy latency was kept (0: read next)
	stable  int                 // ticks the hold has not changed
}

// next returns the hold that follows hold, for the proxy's delay over the last tick, the
// backend's healthy latency (baseline) and the n own answers paced over the last tick.
func (l *holdLaw) next(hold, delay, baseline time.Duration, n int64) time.Duration {
	copy(l.recent[1:], l.recent[:])
	l.recent[0] = n
	var sum int64
	for _, r := range l.recent {
		sum += r
	}
	if l.backoff > 0 {
		l.backoff--
	}
	next := l.step(hold, delay, baseline, n, sum)
	if next == hold {
		l.stable++
	} else {
		l.stable = 0
	}
	return next
}

func (l *holdLaw) step(hold, delay, baseline time.Duration, n, sum int64) time.Duration {
	target := holdTarget(baseline)
	if baseline < minAnswerHold {
		*l = holdLaw{}
		return 0
	}
	if l.from > 0 { // a probe is under way at hold
		if l.settle > 0 {
			l.settle--
			return hold
		}
		if float64(sum) <= probePays*float64(l.before) { // it paid: kept
			l.from, l.misses, l.held = 0, 0, 0
			return hold
		}
		back := l.from
		l.from = 0
		l.misses++
		l.backoff = probeBackoff << min(l.misses-1, 5)
		return back
	}
	if hold > baseline {
		held := heldAtOnce(n, hold)
		switch {
		case l.held == 0:
			l.held = held
		case held > 1.5*l.held: // stopped paying: an open-loop flood joined
			// The reading it was kept at stays: a closed-loop flood holds as many at
			// once at any hold, so the hold keeps dropping until it holds no more
			// than half again as many, or is back at the healthy latency.
			if next := max(hold/2, baseline); next > baseline {
				return next
			}
			l.held = 0
			return baseline
		}
	}
	if hold > baseline && delay <= target {
		// A hold a probe found paying shrinks only once the proxy's delay is under half
		// its target (it has CPU to spare), from where it is; between half and the
		// target it stays: shrinking it there only brings the flood back for the next
		// probe to push out again (stealth-closed-30x-4w20: the hold fell back to the
		// healthy latency within half a second of each kept probe).
		if delay >= target/2 {
			return hold
		}
		next := hold - hold/8
		if next < baseline {
			l.held = 0
		}
		return max(next, baseline)
	}
	if delay <= target || hold < baseline {
		return nextHold(min(hold, baseline), delay, baseline)
	}
	// The delay is above its target at the healthy latency or past it: probe a longer hold?
	probe := min(2*hold, maxAnswerHold)
	if probe <= hold || l.backoff > 0 || sum == 0 || l.stable+1 < probeMeasure ||
		heldAtOnce(n, probe) > float64(maxHeldRefusals)/2 {
		return hold
	}
	l.from, l.before = hold, sum
	l.settle = int((probe+answerTick-1)/answerTick) + probeMeasure - 1
	return probe
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
