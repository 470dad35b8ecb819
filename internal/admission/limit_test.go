package admission

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// simBackend is a backend of workers taking service times from a page mix, with a FIFO
// queue in front of them, driven on a simulated clock in steps of a millisecond.
type simBackend struct {
	workers int
	pages   func() time.Duration // service time of the next page
	// delay, when set, is time an answer spends after the backend is done with it before
	// the proxy sees it (the proxy's own CPU, the network): it holds no worker.
	delay      func() time.Duration
	queue      []simReq // admitted, waiting for a worker
	busy       []simReq // being served
	delivering []simReq // done by the backend, not yet seen by the proxy
	busyTime   time.Duration
}

type simReq struct {
	admitted, done time.Duration
	with           int // requests in flight once it was admitted
	// service, when set, is the request's own service time (a static file) instead of the
	// page mix's; extra is time its answer spends, after the backend is done, before the
	// proxy sees it (the proxy's CPU when it was sent, a GC pause): it holds no worker.
	service, extra time.Duration
}

// step advances the backend to time now and returns the answers completed.
func (b *simBackend) step(now time.Duration, out []simReq) []simReq {
	out = out[:0]
	b.busyTime += time.Duration(len(b.busy)) * time.Millisecond
	kept := b.busy[:0]
	for _, r := range b.busy {
		switch {
		case r.done > now:
			kept = append(kept, r)
		case b.delay != nil || r.extra > 0:
			if b.delay != nil {
				r.done += b.delay()
			}
			r.done += r.extra
			b.delivering = append(b.delivering, r)
		default:
			out = append(out, r)
		}
	}
	b.busy = kept
	held := b.delivering[:0]
	for _, r := range b.delivering {
		if r.done <= now {
			out = append(out, r)
		} else {
			held = append(held, r)
		}
	}
	b.delivering = held
	for len(b.busy) < b.workers && len(b.queue) > 0 {
		r := b.queue[0]
		b.queue = b.queue[1:]
		if r.service > 0 {
			r.done = now + r.service
		} else {
			r.done = now + b.pages()
		}
		b.busy = append(b.busy, r)
	}
	return out
}

// simFlood drives l with a flood that always wants more than the limit, for d from *now,
// and returns the mean latency over the last quarter.
func simFlood(l *Limit, b *simBackend, now *time.Duration, d time.Duration) time.Duration {
	lat, _ := simFloodLimit(l, b, now, d)
	return lat
}

// simFloodLimit is simFlood, and also returns the median of the limit over the last
// quarter (sampled every millisecond): where it sits, not where a test of a cut or a probe
// happens to hold it at the end.
func simFloodLimit(l *Limit, b *simBackend, now *time.Duration, d time.Duration) (time.Duration, int) {
	var limits []int
	var done []simReq
	inflight := 0
	end := *now + d
	var sum time.Duration
	var n int
	for ; *now < end; *now += time.Millisecond {
		done = b.step(*now, done)
		for _, r := range done {
			inflight--
			lat := *now - r.admitted
			l.SampleOf(*now, lat, false, inflight, r.with, r.admitted)
			if *now > end-d/4 {
				sum += lat
				n++
			}
		}
		for inflight < l.Current() {
			inflight++
			l.Started(*now, inflight)
			b.queue = append(b.queue, simReq{admitted: *now, with: inflight})
		}
		l.Pressure() // the flood always has more waiting
		if *now > end-d/4 {
			limits = append(limits, l.Current())
		}
	}
	// Drain what is left so that the next phase starts clean of this one's requests.
	for ; inflight > 0; *now += time.Millisecond {
		done = b.step(*now, done)
		for _, r := range done {
			inflight--
			l.Sample(*now, *now-r.admitted, false, inflight)
		}
	}
	slices.Sort(limits)
	median := 0
	if len(limits) > 0 {
		median = limits[len(limits)/2]
	}
	if n == 0 {
		return 0, median
	}
	return sum / time.Duration(n), median
}

// pageMix returns service times spread evenly between lo and hi, from a fixed seed.
func pageMix(seed uint64, lo, hi time.Duration) func() time.Duration {
	r := rand.New(rand.NewPCG(seed, 1))
	return func() time.Duration { return lo + time.Duration(r.Int64N(int64(hi-lo)+1)) }
}

// The limit follows the backend's capacity: it settles at about the number of workers
// (enough to keep them all busy, few enough that latency stays near the page's own cost),
// rises when workers are added and falls when they are taken away, under a flood that
// never stops.
func TestLimitFollowsCapacity(t *testing.T) {
	for _, tc := range []struct {
		name   string
		lo, hi time.Duration
	}{
		{"fixed 50ms pages", 50 * time.Millisecond, 50 * time.Millisecond},
		{"page mix 20-200ms", 20 * time.Millisecond, 200 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mean := (tc.lo + tc.hi) / 2
			b := &simBackend{workers: 8, pages: pageMix(7, tc.lo, tc.hi)}
			var now time.Duration
			l := NewLimit(0, 0, 0, now)
			for _, phase := range []struct {
				workers int
				d       time.Duration
			}{{8, 60 * time.Second}, {32, 60 * time.Second}, {4, 60 * time.Second}, {8, 60 * time.Second}} {
				b.workers = phase.workers
				// The median limit of the last quarter: a test of a cut holds the limit a
				// quarter lower for a moment, by design.
				lat, got := simFloodLimit(l, b, &now, phase.d)
				t.Logf("%d workers: limit %d, baseline %v, latency %v (page mean %v)", phase.workers, got, l.Baseline(), lat, mean)
				if got < phase.workers {
					t.Errorf("%d workers: limit %d leaves workers idle", phase.workers, got)
				}
				if high := phase.workers + phase.workers/2 + 4; got > high {
					t.Errorf("%d workers: limit %d, want at most %d (the backend queues)", phase.workers, got, high)
				}
				if lat > mean*3/2 {
					t.Errorf("%d workers: mean latency %v past 1.5× the page mean %v", phase.workers, lat, mean)
				}
			}
		})
	}
}

// A limit that is never reached learns the baseline and does not move: calm traffic gives
// no evidence that more concurrency helps or hurts.
func TestLimitCalmDoesNotMove(t *testing.T) {
	var now time.Duration
	l := NewLimit(20, 0, 0, now)
	for i := 0; i < 2000; i++ {
		now += 10 * time.Millisecond
		l.Started(now, 2)
		l.Sample(now, 30*time.Millisecond, false, 1)
	}
	if got := l.Current(); got != 20 {
		t.Errorf("limit moved to %d on calm traffic, want 20", got)
	}
	if b := l.Baseline(); b != 30*time.Millisecond {
		t.Errorf("baseline %v, want 30ms", b)
	}
}

// A backend that fails fast (502s) looks quick: the limit must back off, not grow.
func TestLimitBacksOffOnFailures(t *testing.T) {
	var now time.Duration
	l := NewLimit(40, 0, 0, now)
	for i := 0; i < 3000; i++ {
		now += time.Millisecond
		l.Started(now, l.Current())
		l.Pressure()
		l.Sample(now, time.Millisecond, true, l.Current()-1)
	}
	if got := l.Current(); got > DefaultMinLimit+1 {
		t.Errorf("limit %d after a stream of failures, want it near the floor %d", got, DefaultMinLimit)
	}
}

// Bounds: a configured cap is an upper bound the limit never passes, however healthy the
// backend looks.
func TestLimitCap(t *testing.T) {
	b := &simBackend{workers: 64, pages: pageMix(1, 10*time.Millisecond, 10*time.Millisecond)}
	var now time.Duration
	l := NewLimit(0, 0, 6, now)
	simFlood(l, b, &now, 20*time.Second)
	if got := l.Current(); got != 6 {
		t.Errorf("limit %d with a cap of 6 and 64 idle workers, want 6", got)
	}
}

// A latency that does not depend on concurrency — the proxy's own CPU saturated by a flood
// it refuses, the network — is not the backend's queue: cutting the limit would only make
// requests wait in the proxy while the backend sits idle. Behind a backend of 8 workers ×
// 50 ms whose answers reach the proxy 0-300 ms late (at random, whatever the concurrency),
// a flood must not drive the limit to its floor: the limit stays at least at the workers,
// and the backend stays mostly busy. Without the delay, the same backend keeps its
// latency near the page cost (the control: the limit still protects a backend that queues).
func TestLimitIgnoresLatencyNotFromConcurrency(t *testing.T) {
	for _, tc := range []struct {
		name   string
		delay  time.Duration // most added per answer, uniform from 0
		pages  [2]time.Duration
		busy   float64 // least share of the workers' time busy in the last 30 s
		maxLat float64 // most mean latency in the last quarter, in pages (0: no bound)
	}{
		{"fixed pages, 0-300ms added", 300 * time.Millisecond, [2]time.Duration{50 * time.Millisecond, 50 * time.Millisecond}, 0.8, 0},
		{"page mix, 0-300ms added", 300 * time.Millisecond, [2]time.Duration{20 * time.Millisecond, 200 * time.Millisecond}, 0.8, 0},
		{"fixed pages, nothing added", 0, [2]time.Duration{50 * time.Millisecond, 50 * time.Millisecond}, 0.8, 1.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &simBackend{workers: 8, pages: pageMix(3, tc.pages[0], tc.pages[1])}
			var now time.Duration
			l := NewLimit(0, 0, 0, now)
			simFlood(l, b, &now, 10*time.Second) // learn the healthy latency first
			if tc.delay > 0 {
				b.delay = pageMix(5, 0, tc.delay)
			}
			simFlood(l, b, &now, 30*time.Second)
			b.busyTime = 0
			lat, limit := simFloodLimit(l, b, &now, 30*time.Second)
			busy := b.busyTime.Seconds() / (30 * float64(b.workers))
			mean := (tc.pages[0] + tc.pages[1]) / 2
			t.Logf("limit %d (median of the last quarter), baseline %v, latency %v, backend busy %.0f%%", limit, l.Baseline(), lat, 100*busy)
			if limit < b.workers {
				t.Errorf("limit %d below the backend's %d workers: the latency added outside the backend drove it down", limit, b.workers)
			}
			if busy < tc.busy {
				t.Errorf("backend busy %.0f%% of the time, want at least %.0f%%", 100*busy, 100*tc.busy)
			}
			if tc.maxLat > 0 && float64(lat) > tc.maxLat*float64(mean) {
				t.Errorf("mean latency %v past %.1f× the page mean %v: the backend queues", lat, tc.maxLat, mean)
			}
		})
	}
}

// A calm load never waits: N clients, each sending its next request when the last is
// answered, on a backend of more workers than N. The limit starts below N (it has measured
// nothing), so the first answers wait; within a few windows (slow start doubles the limit
// while latency stays healthy, after one probe of the baseline its first window learned at
// the limit) it is above N, and from then on no request finds it reached, whatever the
// page mix.
func TestCalmLoadNeverQueues(t *testing.T) {
	for _, tc := range []struct {
		clients, workers int
		pages            [2]time.Duration
	}{
		{20, 32, [2]time.Duration{200 * time.Millisecond, 200 * time.Millisecond}},
		{30, 32, [2]time.Duration{100 * time.Millisecond, 100 * time.Millisecond}},
		{24, 64, [2]time.Duration{20 * time.Millisecond, 200 * time.Millisecond}},
		{6, 8, [2]time.Duration{50 * time.Millisecond, 50 * time.Millisecond}},
	} {
		t.Run(fmt.Sprintf("%d clients on %d workers", tc.clients, tc.workers), func(t *testing.T) {
			b := &simBackend{workers: tc.workers, pages: pageMix(9, tc.pages[0], tc.pages[1])}
			var now time.Duration
			l := NewLimit(0, 0, 0, now)
			inflight, waiting, answers, late := 0, tc.clients, 0, 0
			var done []simReq
			const warmUp = 400 // answers: a few windows, and the probe of the first baseline
			for ; answers < 5000; now += time.Millisecond {
				done = b.step(now, done)
				for _, r := range done {
					inflight--
					answers++
					l.SampleOf(now, now-r.admitted, false, inflight, r.with, r.admitted)
					waiting++ // the client sends again at once
				}
				for ; waiting > 0 && inflight < l.Current(); waiting-- {
					inflight++
					l.Started(now, inflight)
					b.queue = append(b.queue, simReq{admitted: now, with: inflight})
				}
				if waiting > 0 {
					l.Pressure()
					if answers > warmUp {
						late++
					}
				}
			}
			t.Logf("limit %d, baseline %v", l.Current(), l.Baseline())
			if late > 0 {
				t.Errorf("requests waited at the limit in %d ms after the first %d answers; the limit is %d", late, warmUp, l.Current())
			}
			if l.Current() < tc.clients {
				t.Errorf("limit %d below the %d clients of a calm load", l.Current(), tc.clients)
			}
		})
	}
}

// One site in maintenance mode answers 503 at once to all its requests: a few failures in
// every window, not the backend failing. The limit of the backend must not back off for
// them (it did, by a tenth per window, down to its floor); a backend whose answers are
// mostly failures still backs it off (TestLimitBacksOffOnFailures).
func TestLimitFewFailuresDoNotCut(t *testing.T) {
	b := &simBackend{workers: 16, pages: pageMix(4, 50*time.Millisecond, 50*time.Millisecond)}
	var now time.Duration
	l := NewLimit(0, 0, 0, now)
	simFlood(l, b, &now, 10*time.Second)
	before := l.Current()
	for i := 0; i < 2000; i++ { // 2000 windows' worth of fast 503s, one in ten answers
		now += time.Millisecond
		l.Pressure()
		l.Started(now, l.Current())
		if i%10 == 0 {
			l.Sample(now, time.Millisecond, true, l.Current()-1)
		} else {
			l.Sample(now, 50*time.Millisecond, false, l.Current()-1)
		}
	}
	if got := l.Current(); got < before {
		t.Errorf("limit %d → %d after a trickle of failures among healthy answers", before, got)
	}
}

// A measurement of a test waits for every request of its cohort, but not for those whose
// answers teach nothing (static files, clients that left): with a quarter of the cohort
// ignored, the climb measured at the limit is cut at once, not after the second a lost
// answer would cost.
func TestCohortSkipsIgnoredAnswers(t *testing.T) {
	var now time.Duration
	l := NewLimit(16, 0, 0, now)
	for i := 0; i < 40; i++ { // learn a healthy 50 ms at the limit
		now += 5 * time.Millisecond
		l.Started(now, 16)
		l.Pressure()
		l.SampleOf(now, 50*time.Millisecond, false, 15, 16, now-50*time.Millisecond)
	}
	l.slowStart = false
	l.startTest(now, false)
	at := now
	for i := 0; i < testSamples; i++ {
		l.Started(at, 16)
	}
	now += 100 * time.Millisecond
	for i := 0; i < testSamples; i++ {
		l.Pressure()
		if i%4 == 0 {
			l.Ignored(at)
			continue
		}
		l.SampleOf(now, 100*time.Millisecond, false, 15, 16, at)
	}
	for i := 0; i < minSamples; i++ { // answers of later requests close the window
		now += 10 * time.Millisecond
		l.SampleOf(now, 100*time.Millisecond, false, 15, 16, now-100*time.Millisecond)
	}
	if l.cutLatency == 0 || l.Current() >= 16 {
		t.Errorf("after the cohort answered (a quarter of it ignored): limit %d, latency before the cut %v; want the climb measured and the limit cut", l.Current(), time.Duration(l.cutLatency))
	}
}

// A window of failures alone, the limit not reached, teaches nothing: no baseline from no
// answers, the limit where it was.
func TestLimitWindowOfFailuresBelowLimit(t *testing.T) {
	l := NewLimit(8, 0, 0, 0)
	now := time.Duration(0)
	for range 3 * minSamples {
		now += 10 * time.Millisecond
		l.Sample(now, 20*time.Millisecond, true, 1)
	}
	if l.Current() != 8 || l.Baseline() != 0 {
		t.Errorf("after windows of failures below the limit: limit %d, baseline %v; want 8 and none", l.Current(), l.Baseline())
	}
}
