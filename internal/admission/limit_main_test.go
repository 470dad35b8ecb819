package admission

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// closeWindowMain is closeWindow as it was on main (cc1cb69) before it was split into named
// steps, kept as the reference of TestCloseWindowAgainstMain. Do not edit. It holds the split
// to the old behaviour, not the behaviour itself: a change to closeWindow's behaviour made
// on purpose retires this copy and its differential test (git keeps them), and the table
// tests of limit_test.go and ctlsim_test.go say what the limit does.
func (l *Limit) closeWindowMain(now time.Duration) {
	carried := l.winPressure || float64(l.winPeak) >= l.limit // the limit itself was met
	reached := carried || l.winHeld
	if !reached {
		l.surgeAt = 0 // the surge, if any, is over
	}
	// Past the knee: the reserve holds the lower tiers back below a limit the backend
	// queues at, or a flood held elsewhere (its site's limit) took the backend there; not
	// while a test of a cut measures (the gradient finds its own way down, to where a
	// backend that lost workers now queues).
	past := l.winHeld || (l.winWaited && l.winPeak >= l.kneeAt && l.cutFrom == 0)
	if below := math.Max(l.min, math.Max(float64(l.kneeAt-1), l.used)); past && l.kneeAt > 0 && l.limit > below {
		// Answers admitted with kneeAt in flight waited inside the backend while those
		// admitted with fewer, in the same windows, did not (so it is not the proxy's CPU
		// or a slower backend). The more trusted tiers' reserve, when used, would take the
		// backend there: the limit goes just below.
		l.limit = below     // never below what calm traffic used (see used)
		l.slowStart = false // the capacity is found
		// And the backend no longer carries more than this (it may have once, on more
		// workers): a limit grown past it again is untested (see surge).
		l.shown = math.Min(l.shown, l.limit)
		l.endTest()
		return
	}
	if l.winDrops > 0 && reached && l.winDrops*dropShare >= l.winN+l.winDrops {
		backoff := dropBackoff
		if l.slowStart {
			backoff = 1 / slowStartGrowth // back to where it was
		}
		l.limit = math.Max(l.min, l.limit*backoff)
		l.slowStart = false
		l.endTest()
		return
	}
	if l.winN == 0 {
		return
	}
	raw := float64(l.winSum) / float64(l.winN)
	mean := l.own(raw, float64(l.delay))
	base := float64(l.baseline)
	n := float64(l.winN)
	se := math.Sqrt(math.Max(0, l.winSq/n-raw*raw) / n)
	if !reached && !l.winWaited && base > 0 && mean <= Tolerance*base+se {
		l.used = math.Max(l.used, float64(l.winPages)) // calm demand, carried healthily
	}

	switch {
	case base == 0:
		// A flood at start may have queued some of these answers behind the first ones:
		// when known, only those admitted at half the limit or less count.
		l.baseline = time.Duration(mean)
		if l.firstN > 0 && reached {
			l.baseline = l.firstSum / time.Duration(l.firstN)
		}
		if reached {
			l.startTest(now, true) // and probe it at once
		}
		return
	case !reached && mean < base:
		l.baseline = time.Duration(base + (mean-base)*baselineDown)
		l.calm, l.raised = l.baseline, false
	case !reached:
		l.baseline = time.Duration(base + (mean-base)*baselineUp)
		l.calm, l.raised = l.baseline, false
	}
	if !reached {
		// Demand fell below the limit: a test under way says nothing any more.
		l.endTest()
		if float64(l.winPeak) < l.limit/2 && !l.winPressure && !l.winHeld {
			// Application-limited: the backend was never asked for more than half the
			// limit, so this window says nothing about the limit.
			return
		}
	}
	l.sinceTest++
	if l.cutFrom > 0 {
		l.testCut(now)
		return
	}
	if Tolerance*float64(l.baseline)+se >= mean {
		if !reached {
			return // latency fine but the limit was not reached: no evidence that more helps
		}
		if l.raised && l.sinceTest >= probeEvery {
			// Probe a raised baseline: measure here, then a quarter lower.
			l.startTest(now, true)
			return
		}
		// Healthy latency: grow by √limit/2 (at least one), to find added capacity within
		// a second or two; in slow start, by half, if that is more. From the concurrency
		// the window's answers were admitted at (when known): a limit they did not reach is
		// not tested yet.
		tested := l.limit
		if l.winAdmitted > 0 {
			tested = math.Min(tested, float64(l.winAdmitted))
		}
		l.shown = math.Max(l.shown, tested)
		next := tested + math.Max(1, math.Sqrt(tested)/2)
		switch {
		case carried && l.slowStart:
			next = math.Max(next, slowStartGrowth*tested)
		case !carried && !l.winHeldNew:
			// Only the tiers refused first held back by the reserve (see HeldBack): no
			// demand to find the backend more capacity for.
			next = l.limit
		case !carried && l.kneeAt == 0:
			// Demand held back by the reserve, and the backend never seen to queue at any
			// concurrency it was given (a latency that climbed for every answer alike, the
			// proxy's CPU or noise, may have ended slow start): it grows as in slow start,
			// so that a calm big backend's less trusted visitors do not wait behind a
			// limit the reserve keeps them below (session 5: a calm limit of 8 on 32
			// workers, people's p95 1,070 ms against plain Caddy's 203). A small backend
			// shows its knee within a window or two of being passed, and the limit goes
			// below it (see knee).
			next = math.Max(next, slowStartGrowth*tested)
		case !carried:
			// Only demand held back by the reserve: never to where the backend queues.
			next = math.Min(next, math.Max(float64(l.kneeAt-1), l.used))
		}
		l.limit = math.Min(l.max, math.Max(l.limit, next))
		return
	}
	// Latency climbing, by more than a page mix's noise: measure it at this limit, then
	// cut; at twice the healthy latency or more the window is measurement enough (a
	// backend that lost capacity; its queue grows while we measure).
	l.startTest(now, false)
	if mean > 2*Tolerance*float64(l.baseline) {
		l.slowStart = false
		l.cutFrom, l.cutLatency, l.cutSE = l.limit, mean, se
		l.shrink(now, mean)
	}
}

// sampleAtMain is SampleAt as it was on main (cc1cb69) before it was split into named steps,
// kept as the reference of TestSampleAtAgainstMain. Do not edit; retired like closeWindowMain.
func (l *Limit) sampleAtMain(now, latency time.Duration, dropped bool, inflight, admitted, real int, at time.Duration) bool {
	if l.knee != nil && !dropped {
		l.knee.add(real, latency, l.baseline)
	}
	l.inFlight(now, inflight)
	if l.surgeAt > 0 {
		l.surgeN++
	}
	if admitted > l.winAdmitted {
		l.winAdmitted = admitted
	}
	if at <= 0 {
		at = now - latency
	}
	if l.testAt > 0 && at >= l.testAt && (l.cohortEnd == 0 || at <= l.cohortEnd) {
		// One of the requests admitted for the current measurement of a test (the cohort):
		// all of them count, fast and slow, however long the slow ones take.
		l.cohortDone++
		if !dropped {
			l.postN++
			l.postSum += latency
			l.postSq += float64(latency) * float64(latency)
			l.winPostN++
		}
	}
	if dropped {
		l.winDrops++
	} else {
		if l.baseline > 0 && latency > outlierFactor*l.baseline {
			latency = outlierFactor * l.baseline
		}
		l.winN++
		l.winSum += latency
		l.winSq += float64(latency) * float64(latency)
		if l.baseline == 0 && admitted > 0 && float64(admitted) <= l.limit/2 {
			l.firstN++
			l.firstSum += latency
		}
	}
	span := now - l.winStart
	length := min(max(2*l.baseline, minWindow), maxWindow)
	surged := l.surgeAt > 0 && now-l.surgeAt >= l.baseline && l.surge(now)
	if !surged && (span < length || (l.winN+l.winDrops < minSamples && span < maxWindow)) {
		return false
	}
	before := int(l.limit)
	l.readDelay()
	l.postDelay += time.Duration(l.winPostN) * l.delay
	if l.knee != nil {
		l.kneeAt = l.knee.close(float64(l.delay), l.kneeAt, int(l.used))
	}
	if !surged {
		l.closeWindowMain(now)
	}
	l.winStart, l.winN, l.winSum, l.winSq, l.winDrops, l.winPeak, l.winAdmitted, l.winPressure, l.winHeld, l.winWaited = now, 0, 0, 0, 0, inflight, 0, false, false, false
	l.winHeldNew = false
	l.winPages = 0
	l.winPostN = 0
	if l.surgeAt > 0 && now-l.surgeAt >= length {
		// A surge is judged over a window at most: what came before says nothing now.
		l.surgeAt, l.surgeArea, l.surgeN = now, 0, 0
	}
	return int(l.limit) != before
}

// TestCloseWindowAgainstMain: closeWindow, split into named steps, decides as the single
// function it was (closeWindowMain) on every window: random states of every field
// closeWindow reads (each branch of it taken), and the states a Limit really passes through,
// driven by simulated backends through calm, floods, failures and a reserve holding tiers
// back, closed at every answer.
func TestCloseWindowAgainstMain(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	compared := 0
	compare := func(l *Limit, now time.Duration, what string) {
		t.Helper()
		a, b := *l, *l
		a.closeWindow(now)
		b.closeWindowMain(now)
		compared++
		if !reflect.DeepEqual(a, b) && !t.Failed() {
			t.Errorf("%s: closeWindow and closeWindowMain differ\nbefore %+v\nsplit  %+v\nmain   %+v", what, *l, a, b)
		}
	}
	for i := range 200000 {
		l := randomWindow(rng)
		compare(l, l.winStart+time.Duration(rng.Int64N(int64(2*time.Second))), "random state")
		if t.Failed() {
			t.Logf("random state %d", i)
			return
		}
	}
	for seed := range uint64(12) {
		driveLimit(rand.New(rand.NewPCG(seed, 13)), func(l *Limit, now time.Duration) {
			compare(l, now, "driven")
		})
		if t.Failed() {
			t.Logf("seed %d", seed)
			return
		}
	}
	t.Logf("%d windows compared", compared)
}

// randomWindow returns a Limit in a random state: every field closeWindow reads, with values
// around the thresholds it compares them with.
func randomWindow(rng *rand.Rand) *Limit {
	ms := func(n int) time.Duration { return time.Duration(rng.IntN(n)) * time.Millisecond }
	l := NewLimit(2+rng.IntN(40), 0, pickOf(rng, 0, 0, 64, 16), time.Duration(1+rng.IntN(1000))*time.Millisecond)
	if rng.IntN(3) > 0 {
		l.TrackKnee()
	}
	l.limit = math.Max(l.min, math.Min(l.max, pickOf(rng, 2, 3, 8, 9.5, 17, 40, float64(2+rng.IntN(60)))))
	if rng.IntN(4) > 0 {
		l.baseline = ms(300)
	}
	base := float64(max(l.baseline, time.Millisecond))
	l.winN = pickOf(rng, 0, 0, 1, 5, 20, 40, rng.IntN(100))
	// Latencies around the baseline: healthy, climbing, twice and more.
	mean := base * pickOf(rng, 0.5, 0.9, 1, 1.05, 1.1, 1.15, 1.5, 2.1, 2.5, 4, rng.Float64()*5)
	l.winSum = time.Duration(float64(l.winN) * mean)
	l.winSq = float64(l.winN) * mean * mean * pickOf(rng, 1, 1.01, 1.1, 1.5)
	l.winDrops = pickOf(rng, 0, 0, 0, 1, 3, 10, 40)
	l.winPeak = int(l.limit*pickOf(rng, 0.3, 0.5, 0.6, 0.9, 1, 1.2)) + rng.IntN(2)
	l.winPages = rng.IntN(l.winPeak + 1)
	l.winAdmitted = pickOf(rng, 0, int(l.limit), int(l.limit)-1, int(l.limit/2), rng.IntN(int(l.limit)+2))
	l.winPressure, l.winHeld, l.winHeldNew, l.winWaited = rng.IntN(3) == 0, rng.IntN(4) == 0, rng.IntN(2) == 0, rng.IntN(2) == 0
	l.surgeAt = pickOf(rng, 0, 0, ms(500)+1)
	l.shown = l.limit * pickOf(rng, 0, 0.5, 0.8, 1, 1.2)
	l.firstN, l.firstSum = pickOf(rng, 0, 0, 3, 10), 0
	if l.firstN > 0 {
		l.firstSum = time.Duration(float64(l.firstN) * base * pickOf(rng, 0.5, 0.8, 1))
	}
	l.slowStart, l.raised = rng.IntN(2) == 0, rng.IntN(3) == 0
	l.calm = pickOf(rng, 0, 0, l.baseline, l.baseline/2, l.baseline*2/3)
	l.sinceTest = pickOf(rng, 0, 5, probeEvery-1, probeEvery, probeEvery+3)
	l.kneeAt = pickOf(rng, 0, 0, 2, 4, int(l.limit), int(l.limit)+1, int(l.limit)+5, rng.IntN(20))
	l.used = pickOf(rng, 0, 0, 2, 3, l.limit/2, l.limit, l.limit+2)
	l.delay = pickOf(rng, 0, 0, 0, ms(50), time.Duration(base/2))
	// A test of a cut under way, measuring before or after the cut, or a probe.
	if rng.IntN(2) == 0 {
		l.cutFrom = l.limit * pickOf(rng, 1, 1, 1.33, 2)
		l.cutLatency = pickOf(rng, 0, 0, base*pickOf(rng, 1, 1.2, 2, 2.5, 3))
		l.cutSE = l.cutLatency * pickOf(rng, 0, 0.01, 0.05, 0.2, 0.5)
		l.probe, l.suspect = rng.IntN(3) == 0, rng.IntN(3) == 0
		l.testAt = l.winStart - ms(500) - 1
		l.cohortN = pickOf(rng, 0, testSamples-1, testSamples)
		l.cohortDone = pickOf(rng, l.cohortN, l.cohortN, l.cohortN-1, 0)
		l.cohortEnd = pickOf(rng, 0, l.testAt+ms(100), l.winStart-2*maxWindow)
		l.postN = pickOf(rng, 0, 1, 20, testSamples)
		post := base * pickOf(rng, 0.5, 0.8, 1, 1.05, 1.2, 1.5, 2, 2.5, 3, rng.Float64()*4)
		l.postSum = time.Duration(float64(l.postN) * post)
		l.postSq = float64(l.postN) * post * post * pickOf(rng, 1, 1.01, 1.2, 2)
		l.postDelay = pickOf(rng, 0, 0, time.Duration(float64(l.postN)*base/3))
	}
	return l
}

// driveLimit drives a Limit as a Controller does, on a simulated clock in milliseconds:
// simulated backends of a few to many workers, through phases of calm, a flood, upstream
// failures, and a reserve holding some tiers back; closing calls close(l, now) before every
// answer is told to the limit, the state in which SampleAt may close the window.
func driveLimit(rng *rand.Rand, closing func(l *Limit, now time.Duration)) {
	driveLimitSampling(rng, func(l *Limit, now, latency time.Duration, dropped bool, inflight, admitted, real int, at time.Duration) {
		closing(l, now)
		l.SampleAt(now, latency, dropped, inflight, admitted, real, at)
	})
}

// driveLimitSampling is driveLimit telling each answer to sample, which must tell it to l.
func driveLimitSampling(rng *rand.Rand, sample func(l *Limit, now, latency time.Duration, dropped bool, inflight, admitted, real int, at time.Duration)) {
	workers := []int{2, 4, 8, 16, 32}[rng.IntN(5)]
	b := &simBackend{workers: workers, pages: pageMix(rng.Uint64(), 20*time.Millisecond, 200*time.Millisecond)}
	now := time.Millisecond
	l := NewLimit(0, 0, 0, now)
	l.TrackKnee()
	inflight := 0
	var done []simReq
	for phase := range 24 {
		// Requests wanted each millisecond (in thousandths), and what the phase does besides.
		rate := []int{20, 100, 400, 2000, 100000}[rng.IntN(5)]
		failing := rng.IntN(6) == 0
		holding := rng.IntN(4) == 0
		if phase%5 == 4 {
			workers = max(1, workers/2+rng.IntN(workers+1))
			b.workers = workers
		}
		acc := 0
		for end := now + time.Duration(500+rng.IntN(3000))*time.Millisecond; now < end; now += time.Millisecond {
			done = b.step(now, done)
			for _, r := range done {
				inflight--
				dropped := failing && rng.IntN(2) == 0
				if rng.IntN(5) == 0 { // as Sample tells it: admitted when and with how many unknown
					sample(l, now, now-r.admitted, dropped, inflight, 0, 0, 0)
					continue
				}
				sample(l, now, now-r.admitted, dropped, inflight, r.with, r.with, r.admitted)
			}
			for acc += rate; acc >= 1000; acc -= 1000 {
				switch {
				case inflight < l.Current():
					inflight++
					l.Started(now, inflight)
					l.StartedPage(inflight)
					b.queue = append(b.queue, simReq{admitted: now, with: inflight})
				case holding && rng.IntN(2) == 0:
					l.HeldBack(Tier(1 + rng.IntN(NumTiers)))
					l.Waited()
				default:
					l.Pressure()
					l.Waited()
				}
			}
		}
	}
}

// pickOf returns one of xs, at random.
func pickOf[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

// TestSampleAtAgainstMain: SampleAt, split into named steps, counts an answer and ends a
// window as it did (sampleAtMain) at every answer of simulated backends (see driveLimit):
// the same state, the knee's included, and the same report.
func TestSampleAtAgainstMain(t *testing.T) {
	compared, ended := 0, 0
	for seed := range uint64(12) {
		rng := rand.New(rand.NewPCG(seed, 14))
		driveLimitSampling(rng, func(l *Limit, now, latency time.Duration, dropped bool, inflight, admitted, real int, at time.Duration) {
			a, b := *l, *l
			ka, kb := *l.knee, *l.knee
			a.knee, b.knee = &ka, &kb
			ra := a.SampleAt(now, latency, dropped, inflight, admitted, real, at)
			rb := b.sampleAtMain(now, latency, dropped, inflight, admitted, real, at)
			compared++
			if a.winStart != l.winStart {
				ended++
			}
			if (ra != rb || !reflect.DeepEqual(a, b)) && !t.Failed() {
				t.Errorf("seed %d: SampleAt and sampleAtMain differ (%v, %v)\nsplit %+v\nmain  %+v", seed, ra, rb, a, b)
			}
			*l = a // the driven limit goes on from the split one's state
		})
		if t.Failed() {
			return
		}
	}
	if ended < 1000 {
		t.Errorf("only %d windows ended in %d answers", ended, compared)
	}
	t.Logf("%d answers compared, %d ended a window", compared, ended)
}
