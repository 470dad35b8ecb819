package floodgate

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/admission"
	"github.com/floodgate-proxy/floodgate/internal/classify"
	"github.com/floodgate-proxy/floodgate/internal/rules"
	"github.com/floodgate-proxy/floodgate/internal/verdict"
)

// A held refusal is bounded in count and in time: past max held, refusals go out at once;
// each held one is released after the hold, or as soon as its client leaves.
func TestPacerBoundedInCountAndTime(t *testing.T) {
	p := newPacer(3, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() { defer wg.Done(); p.pace(ctx) }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.held.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := p.held.Load(); n != 3 {
		t.Fatalf("%d held, want 3", n)
	}
	// The fourth finds the bound reached: not held (it would block for an hour).
	if p.pace(context.Background()) {
		t.Error("a refusal was held past the bound")
	}
	cancel() // the clients leave: every held refusal is released
	wg.Wait()
	if n := p.held.Load(); n != 0 {
		t.Errorf("%d still counted as held", n)
	}

	short := newPacer(1, 20*time.Millisecond)
	done := make(chan bool, 1)
	go func() { done <- short.pace(context.Background()) }()
	select {
	case held := <-done:
		if !held {
			t.Error("a refusal under the bound was not held")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a held refusal outlived its hold")
	}
	if (&pacer{}).pace(context.Background()) {
		t.Error("the zero pacer held a refusal")
	}
}

// sitesUnder says every site is, or none is, under attack.
type sitesUnder bool

func (s sitesUnder) UnderAttack(string) bool { return bool(s) }

func (sitesUnder) QuarantinedUntil(string, time.Time) (time.Time, bool) { return time.Time{}, false }

// Only refusals nobody waits on are held: automation and untrusted clients refused while
// their site is under attack, and a quarantined site's POSTs. Never a challenge (a
// person's first page), a browser's refusal, or anything in calm times.
func TestPaceableOnlyLowTiersUnderAttack(t *testing.T) {
	req := &classify.Request{Host: "site.example"}
	in := func(attacked bool) *verdict.Request {
		return &verdict.Request{Req: req, Class: &classify.Result{}, Sites: sitesUnder(attacked)}
	}
	for _, tc := range []struct {
		name     string
		attacked bool
		v        verdict.Verdict
		want     bool
	}{
		{"AI crawler throttled under attack", true, verdict.Verdict{Action: rules.ActionThrottle, Tier: admission.TierUntrusted}, true},
		{"impostor blocked under attack", true, verdict.Verdict{Action: rules.ActionBlock, Tier: admission.TierUntrusted}, true},
		{"declared automation throttled under attack", true, verdict.Verdict{Action: rules.ActionThrottle, Tier: admission.TierAutomation}, true},
		{"quarantined POST", false, verdict.Verdict{Action: rules.ActionThrottle, Step: verdict.StepQuarantine, Tier: admission.TierNew}, true},
		{"AI crawler throttled in calm", false, verdict.Verdict{Action: rules.ActionThrottle, Tier: admission.TierUntrusted}, false},
		{"new browser challenged under attack", true, verdict.Verdict{Action: rules.ActionChallenge, Tier: admission.TierNew}, false},
		{"browser throttled under attack", true, verdict.Verdict{Action: rules.ActionThrottle, Tier: admission.TierNew}, false},
		{"returning visitor throttled under attack", true, verdict.Verdict{Action: rules.ActionThrottle, Tier: admission.TierReturning}, false},
		{"AI crawler let through under attack", true, verdict.Verdict{Action: rules.ActionNone, Tier: admission.TierUntrusted}, false},
	} {
		if got := paceable(in(tc.attacked), &tc.v); got != tc.want {
			t.Errorf("%s: paceable %v, want %v", tc.name, got, tc.want)
		}
	}
}

// PaceFor makes refusals held for d during the test (end-to-end tests, in package
// floodgate_test, that send hundreds of refused requests one after the other: the hold is
// what they would wait for).
func PaceFor(t *testing.T, d time.Duration) {
	old := refusals.hold.Swap(int64(d))
	t.Cleanup(func() { refusals.hold.Store(old) })
}

// fakeDelay is a SchedDelay whose readings a test advances: each step adds n waits of wait
// each and one wake of lag wake.
type fakeDelay struct{ d admission.ProxyDelay }

func (f *fakeDelay) read() admission.ProxyDelay { return f.d }

func (f *fakeDelay) step(wait, wake time.Duration) {
	const n = 100
	f.d.Waits += n
	f.d.Waited += n * wait
	f.d.Wakes++
	f.d.WakeLag += wake
}

// The hold of own answers follows the proxy's measured delay: none while the delay is
// within a tenth of the backend's healthy latency; rising while it is above, never past
// the healthy latency; falling back to none once the delay is low again; none before a
// healthy latency is learned.
func TestHoldFollowsProxyDelay(t *testing.T) {
	const base = 20 * time.Millisecond // healthy latency: target 2 ms, hold at most 20 ms
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	for _, tc := range []struct {
		name       string
		baseline   time.Duration
		wait, wake []time.Duration // per tick
		want       []time.Duration // hold after each tick
	}{
		{"calm: a few microseconds, nothing held", base,
			[]time.Duration{ms(0.01), ms(0.05), ms(0.02), ms(0.9)},
			[]time.Duration{ms(0.03), ms(0.1), ms(0.05), ms(1)},
			[]time.Duration{0, 0, 0, 0}},
		{"saturated: doubles from the target, capped at the healthy latency", base,
			[]time.Duration{ms(3), ms(4), ms(2.5), ms(2.5), ms(2.5), ms(3)},
			[]time.Duration{ms(1), ms(1), ms(0.5), ms(0.5), ms(0.5), ms(1)},
			[]time.Duration{ms(2), ms(4), ms(8), ms(16), ms(20), ms(20)}},
		{"saturation ends: shrinks by an eighth a tick, then none", base,
			[]time.Duration{ms(5), ms(5), ms(5), ms(5), ms(5), ms(0.1), ms(0.1), ms(0.1), ms(0.1)},
			[]time.Duration{0, 0, 0, 0, 0, ms(0.1), ms(0.1), ms(0.1), ms(0.1)},
			[]time.Duration{ms(2), ms(4), ms(8), ms(16), ms(20), ms(17.5), ms(15.3125), ms(13.3984375), ms(11.7236328125)}},
		{"a short healthy latency: the hold starts at a millisecond", ms(5),
			[]time.Duration{ms(3), ms(3), ms(3), ms(3)},
			[]time.Duration{ms(1), ms(1), ms(1), ms(1)},
			[]time.Duration{ms(1), ms(2), ms(4), ms(5)}},
		{"a healthy latency under a millisecond: a hold would cost more than it slows, none", ms(0.4),
			[]time.Duration{ms(3), ms(3), ms(3)},
			[]time.Duration{ms(1), ms(1), ms(1)},
			[]time.Duration{0, 0, 0}},
		{"no healthy latency learned: nothing held", 0,
			[]time.Duration{ms(50), ms(50)},
			[]time.Duration{ms(50), ms(50)},
			[]time.Duration{0, 0}},
	} {
		src := new(fakeDelay)
		a := newHoldAdapter(src.read)
		var hold time.Duration
		for i := range tc.want {
			src.step(tc.wait[i], tc.wake[i])
			hold = a.next(hold, tc.baseline)
			if d := hold - tc.want[i]; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("%s: tick %d (wait %v, wake %v): hold %v, want %v", tc.name, i, tc.wait[i], tc.wake[i], hold, tc.want[i])
			}
		}
	}
	// From the healthy latency down to none once the proxy is calm again, in a bounded
	// number of ticks.
	hold, ticks := base, 0
	for ; hold > 0 && ticks < 100; ticks++ {
		hold = nextHold(hold, 0, base)
	}
	if hold != 0 || ticks > 30 {
		t.Errorf("the hold fell to %v in %d calm ticks, want 0 within 30 (3 s)", hold, ticks)
	}
	// A tick with no wake probed keeps the last wake measured.
	src := new(fakeDelay)
	a := newHoldAdapter(src.read)
	src.step(ms(1), ms(1.5))
	if hold := a.next(0, base); hold != ms(2) {
		t.Fatalf("hold %v after 2.5 ms of delay, want 2ms", hold)
	}
	src.d.Waits += 10
	src.d.Waited += 10 * ms(1)
	if hold := a.next(ms(2), base); hold != ms(4) {
		t.Errorf("hold %v: the wake lag of the last probe was dropped when none was probed since", hold)
	}
}

// Only floodgate's own answers to clients of tier new and below are held for the proxy's
// CPU: never a trusted client (pass holder, search engine), a returning visitor or a browser
// that kept its cookie, never a request let through, never in shadow.
func TestOwnAnswerOnlyLowestTiers(t *testing.T) {
	acts := []rules.Action{rules.ActionNone, rules.ActionAllow, rules.ActionLog, rules.ActionDelay, rules.ActionChallenge, rules.ActionThrottle, rules.ActionBlock}
	for tier := admission.TierTrusted; tier <= admission.TierUntrusted; tier++ {
		for _, act := range acts {
			for _, shadow := range []bool{false, true} {
				v := verdict.Verdict{Action: act, Tier: tier, Shadowed: shadow}
				want := tier >= admission.TierNew && act >= rules.ActionChallenge && !shadow
				if got := ownAnswer(&v); got != want {
					t.Errorf("tier %v, action %v, shadow %v: held %v, want %v", tier, act, shadow, got, want)
				}
			}
		}
	}
}

// HoldAnswers makes floodgate hold its own answers to the lowest tiers for d during the
// test, whatever the proxy's delay (end-to-end tests, in package floodgate_test), once the
// protection's clock has ticked.
func HoldAnswers(t *testing.T, d time.Duration) {
	old := holdPin.Swap(int64(d))
	t.Cleanup(func() { holdPin.Store(old) })
}

// AnswersHeld is how many own answers to the lowest tiers were held so far.
func AnswersHeld() int64 { return answers.total.Load() }

// AnswerHold is the hold of own answers now.
func AnswerHold() time.Duration { return time.Duration(answers.hold.Load()) }

// flood is a simulated flood of own answers for the hold law: closed clients that each
// wait for their answer (the hold plus own, their own time) before the next request, and
// open ones arriving at open answers a second whatever the hold.
type flood struct {
	closed float64
	own    time.Duration
	open   float64
}

// answersIn is how many own answers the flood sends in a tick at hold.
func (f flood) answersIn(hold time.Duration) int64 {
	tick := answerTick.Seconds()
	n := f.open * tick
	if f.closed > 0 {
		n += f.closed * tick / (hold + f.own).Seconds()
	}
	return int64(n)
}

// run runs the law for ticks ticks with the proxy's delay from delay(hold), and returns
// the holds after each tick.
func (l *holdLaw) run(hold, baseline time.Duration, ticks int, f flood, delay func(time.Duration) time.Duration) []time.Duration {
	holds := make([]time.Duration, ticks)
	for i := range holds {
		hold = l.next(hold, delay(hold), baseline, f.answersIn(hold))
		holds[i] = hold
	}
	return holds
}

// Past the healthy latency the hold grows only while growing it lowers the own answers a
// tick (a closed-loop flood), is given back when it does not (an open-loop flood, whose
// answers held at once would only pile up), drops when an open-loop flood joins, shrinks
// back to none once the proxy is calm, and is never longer than maxAnswerHold.
func TestHoldGrowsOnlyWhileItPays(t *testing.T) {
	const base = 20 * time.Millisecond
	short := func(time.Duration) time.Duration { return 10 * time.Millisecond } // target 2 ms
	calm := func(time.Duration) time.Duration { return 0 }
	closed := flood{closed: 120, own: 5 * time.Millisecond}
	open := flood{open: 2000}

	// A closed-loop flood while the proxy stays short of CPU: the hold grows to the most.
	var l holdLaw
	holds := l.run(0, base, 100, closed, short)
	reached := 0
	for i, h := range holds {
		if h > maxAnswerHold {
			t.Fatalf("closed loop: tick %d hold %v past the most, %v", i, h, maxAnswerHold)
		}
		if h == maxAnswerHold && reached == 0 {
			reached = i + 1
		}
	}
	if reached == 0 || reached > 60 {
		t.Errorf("closed loop: the hold reached %v after %d ticks, want within 60 (holds %v)", maxAnswerHold, reached, holds)
	}
	if n0, n1 := closed.answersIn(base), closed.answersIn(holds[len(holds)-1]); n1*10 > n0 {
		t.Errorf("closed loop: %d answers a tick at the end, %d at the healthy latency: want a tenth or less", n1, n0)
	}
	// The delay between half its target and the target: a hold past the healthy latency
	// stays where it is.
	atTarget := func(time.Duration) time.Duration { return 1500 * time.Microsecond }
	kept := holds[len(holds)-1]
	if h := l.run(kept, base, 20, closed, atTarget)[19]; h != kept {
		t.Errorf("delay within its target: hold %v after 2 s, want it kept at %v", h, kept)
	}
	// The proxy calm again: the hold shrinks back to none within 6 s.
	holds = l.run(holds[len(holds)-1], base, 60, closed, calm)
	if h := holds[len(holds)-1]; h != 0 {
		t.Errorf("calm after a closed-loop flood: hold %v after 6 s, want 0 (holds %v)", h, holds)
	}

	// An open-loop flood: probes are given back, and made ever less often.
	l = holdLaw{}
	holds = l.run(0, base, 600, open, short)
	past, probes := 0, 0
	for i, h := range holds {
		if h > 2*base {
			t.Fatalf("open loop: tick %d hold %v, more than one probe past the healthy latency %v", i, h, base)
		}
		if h > base {
			past++
			if i == 0 || holds[i-1] <= base {
				probes++
			}
		}
	}
	if past > 60 || probes > 8 || probes == 0 {
		t.Errorf("open loop: %d probes, %d of 600 ticks past the healthy latency; want 1-8 probes, at most 60 ticks", probes, past)
	}
	if h := holds[len(holds)-1]; h != base {
		t.Errorf("open loop: hold %v at the end, want the healthy latency %v", h, base)
	}

	// A closed-loop flood held long, then an open-loop one joins: the hold drops back.
	l = holdLaw{}
	holds = l.run(0, base, 100, closed, short)
	if h := holds[len(holds)-1]; h < 8*base {
		t.Fatalf("closed loop: hold %v, want at least %v", h, 8*base)
	}
	both := flood{closed: closed.closed, own: closed.own, open: 1000}
	was := holds[len(holds)-1]
	holds = l.run(was, base, 100, both, short)
	if h := holds[len(holds)-1]; h > was/4 {
		t.Errorf("an open-loop flood joined: hold %v after 10 s, want a quarter of the %v before or less (holds %v)", h, was, holds)
	}

	// A probe that would hold more than half of the bound at once is not made.
	l = holdLaw{}
	big := flood{closed: 20000, own: 5 * time.Millisecond} // 800,000 a second at 20 ms: 16,000 held
	for i, h := range l.run(0, base, 100, big, short) {
		if h > base {
			t.Fatalf("tick %d: hold %v past the healthy latency with %d answers a tick", i, h, big.answersIn(h))
		}
	}

	// No answers counted (the adapter without a counter): never past the healthy latency.
	l = holdLaw{}
	for i, h := range l.run(0, base, 100, flood{}, short) {
		if h > base {
			t.Fatalf("no answers counted: tick %d hold %v past the healthy latency", i, h)
		}
	}
}
