package admission

import (
	"math"
	"time"
)

// Limit learns how many requests a backend (or one site on it) can take at once before its
// own queue grows, and says how many to admit. It is a gradient limit, after Netflix's
// Gradient2 and Envoy's adaptive concurrency filter, with a slow start as TCP's, and every cut
// is tested:
//
//   - A baseline, the backend's healthy latency, is compared with the mean latency of each
//     window of answers. The latency is the upstream's time to first byte as the proxy sees
//     it (the handler passes it to Ticket.ReleaseAfter), not the whole request: waking up
//     once admitted and writing the answer to the client are the proxy's time. Less the
//     proxy's own scheduling delay, when a SchedDelay measures it (see SchedDelay): a
//     window's mean, and a test's, are judged without the delay measured while their
//     answers came, but never below the baseline.
//   - Slow start: until latency is seen to climb, a window that had the limit reached at a
//     healthy latency multiplies the limit by 1.5, so that a big backend's calm traffic
//     does not wait behind a limit still learning (it starts at 8 and passes 32 within four
//     windows). Not by 2 as TCP does: a flood at start learns its first baseline with the
//     backend already queueing, and a backend that refuses past a short backlog (PHP-FPM)
//     takes half again its workers, not twice. Upstream failures end it, halving the limit.
//     After that a healthy window that reached the limit grows it by a headroom of
//     √limit/2. A window that did not reach it says nothing, and the limit stays: in calm
//     it never shrinks.
//   - A window whose latency climbs past Tolerance × the baseline starts a test. The limit
//     holds while the next 40 requests admitted are answered, all of them (before). If their latency climbs too, the limit is cut by the
//     gradient tolerance × baseline / latency (at least ½) plus a headroom of √limit/4, as
//     Gradient2 does, and by at least a quarter, so that a queue shows against the noise.
//     There it holds again while the next 40 requests admitted are answered (after). Only
//     requests admitted after the limit moved count, so that the backend's queue from
//     before has drained out of the measurement, and all of them, so that a page mix's
//     fast pages are not favoured.
//   - The verdict. A backend whose own queue made the latency climb answers faster at the
//     lower concurrency: the cut stands (and if latency still climbs, the next cut starts
//     from this measurement); so does any cut from twice the healthy latency or more to a
//     healthy one, however noisy the reading before (a surge's, see testCut). A latency
//     that fell by less than half the cut's share, and by no more than the noise of the
//     two means (two standard errors), is not this backend's queue — it is the proxy's
//     own CPU saturated by a flood it is refusing, the network, or a backend slower at
//     every concurrency — and cutting for it only makes
//     people wait in the proxy while the backend sits idle: the limit goes back where it
//     was and the cut is tested once more (a backend losing capacity while the latency
//     before the cut was measured can look the same once); found again, the latency
//     measured at the lower concurrency becomes the baseline. A latency that rose despite
//     the cut means something changed during the test: the limit goes back and the test
//     starts again there.
//   - A baseline raised that way is probed every probeEvery windows at the limit: a cut by
//     a quarter, tested the same way; if latency falls, the lower latency becomes the
//     baseline (and the next probe follows at once), so that it comes back down when the
//     inflation ends.
//   - A surge: a flood filling a limit that grew untested (slow start, the reserve's
//     held-back demand, a calm day) past a small backend's workers queues people inside the
//     backend for as long as the window takes to show it (a second at 4 workers × 200 ms).
//     Once the limit has been reached for a baseline and as many answers as the limit
//     have come, Little's law tells the time the requests spend in the backend, those
//     still in its queue included; past twice the healthy latency the limit is cut at
//     once in proportion, and the cut is tested (see surge).
//   - A cut is never below what the backend was seen to carry at a healthy latency (in
//     pages, see knee), and a cut whose test found the lower concurrency healthy is not
//     cut again (see testCut). What it carried is forgotten once no answer has come from
//     that concurrency for as long as the knee's means remember (kneeMemory windows), and
//     a knee found below it takes shown down with the limit: a backend that lost workers
//     is not held to what it carried before.
//   - The first baseline: a flood at start queues some of the first window's answers in
//     the backend; when the limit was reached, only the answers of requests admitted at
//     half the limit or less count.
//
// Why this one. AIMD (additive increase, multiplicative decrease on errors) reacts only once
// the backend refuses or times out: by then people have waited the backend's whole queue.
// Vegas compares each sample with the minimum latency ever seen: on a shared host whose
// pages cost 20 to 200 ms the fastest page is not the healthy latency of the mix, and any
// latency the proxy adds reads as queueing. Gradient2 compares a short with a long average,
// and under a flood that lasts the long average drifts up to the flooded latency and the
// limit creeps up with it; Envoy avoids the drift by cutting concurrency to a minimum every
// few seconds to measure the minimum latency again, which refuses real traffic each time.
// All of them read every rise of latency as the backend's queue. On a small shared machine
// under a flood, most of the rise is the proxy's own CPU: the matrix benchmark measured
// 150-250 ms answers from an idle backend of 50 ms pages while floodgate refused thousands
// of requests a second, and the gradient took the limit to its floor with the backend 44 %
// busy and people queued. The test of each cut tells the two apart from what the backend
// does, with no number to set: its own queue shrinks with concurrency, anything else does
// not. The price is that a cut takes two measurements, not one window.
//
// Outside tests the baseline may rise only in windows where the limit was not reached (the
// latency is then the backend's own, not one we caused): under a flood the limit is reached
// in every window, so the baseline holds and the limit does not creep up with the flood.
// Upstream failures (502, 503, 504, connection errors) cut the limit by a tenth when they
// are at least a quarter of a window's answers at the limit, as in AIMD, since a failing
// backend answers fast; a trickle (one site in maintenance mode answering 503) does not.
//
// A Limit is not safe for concurrent use: Controller holds its lock around every call.
type Limit struct {
	limit    float64
	min, max float64

	// The current window of answers.
	winStart    time.Duration
	winN        int
	winSum      time.Duration
	winSq       float64 // sum of squared latencies (ns²)
	winPostN    int     // answers of the window that count in a test's measurement
	winDrops    int
	winPeak     int  // most requests in flight during the window
	winPages    int  // most pages in flight when one was admitted (see StartedPage)
	winAdmitted int  // most requests in flight when an answer of the window was admitted
	winPressure bool // the limit was reached (someone waited or was refused)
	// winHeld: a request was held back below the limit by the Controller's reserve alone
	// (see HeldBack): demand the limit has not met, though the backend did not carry it.
	winHeld bool
	// winHeldNew: one of them was of TierNew or more trusted (see HeldBack): demand the
	// limit grows for.
	winHeldNew bool
	// winWaited: a request was not admitted at once, by this limit or any other (a site's,
	// the reserve): the window's demand was not calm traffic's alone (see used).
	winWaited bool
	// shown is the most requests the backend has been seen to carry at a healthy latency:
	// the concurrency a healthy window's answers were admitted at, or where a test left the
	// limit. Only a limit grown more than a window's headroom past it is cut by a surge.
	shown float64
	// A surge: from surgeAt (0: none), when the limit was first reached, the requests in
	// flight integrated over time (ns × requests) and the answers since. By Little's law,
	// that area over the answers is the time the requests spent in the backend, those
	// still waiting in its queue included (see surge). inflight requests have been in
	// flight since inflightAt.
	surgeAt    time.Duration
	surgeArea  float64
	surgeN     int
	inflight   int
	inflightAt time.Duration

	// baseline is the healthy latency; 0 until the first window. firstN and firstSum
	// count the answers of the first window admitted at half the limit or less.
	baseline time.Duration
	firstN   int
	firstSum time.Duration
	// slowStart is true until the latency first climbs: healthy windows multiply the limit
	// by slowStartGrowth.
	slowStart bool
	// raised is true when a test raised the baseline: it is probed every probeEvery
	// windows at the limit, until a window below the limit teaches it again.
	raised bool
	// calm is the baseline as windows below the limit last taught it (0: none yet).
	calm time.Duration
	// sinceTest counts windows at the limit since the last probe.
	sinceTest int
	// knee, when set (the backend's limit, see TrackKnee), measures latency by the
	// concurrency each answer was admitted at; kneeAt is where it found the backend to
	// start queueing (0: nowhere measured).
	knee   *knee
	kneeAt int
	// used is the most pages (requests other than static files, see StartedPage) calm
	// traffic has had in flight at a healthy latency: the peak of a window in which every
	// request was admitted at once (nobody waited, nobody was held back by the reserve) and
	// whose answers were healthy. The knee is looked for
	// only above it, and its cut never goes below it: what the backend carried for calm
	// demand is no queue, and holding calm traffic below it makes people wait in the proxy
	// on a calm day (session 6: a knee read in calm noise held a 32-worker backend's limit
	// at 18, people's calm p95 1.87-1.99× plain Caddy's).
	used float64

	// The test of a cut (or a probe): the limit it started from, the latency measured
	// there (0 while measuring it) and its standard error; the answers of the current
	// measurement: those of requests admitted since testAt (0: not measuring, the limit is
	// shrinking towards where the cut is tested), when the limit last moved, so that the
	// backend's queue from before has drained out of it.
	cutFrom    float64
	cutLatency float64
	cutSE      float64
	probe      bool
	suspect    bool // the last test found the latency not from concurrency: once more
	testAt     time.Duration
	postN      int
	postSum    time.Duration
	postSq     float64 // sum of squared latencies (ns²)
	// postDelay sums the proxy's delay in the measurement's answers: each window's, for
	// the answers that came in it.
	postDelay time.Duration
	// The cohort of a measurement: the first testSamples requests admitted from testAt
	// (until cohortEnd, 0 while it fills), and how many of them have answered.
	cohortN, cohortDone int
	cohortEnd           time.Duration

	// The proxy's own scheduling delay (see SchedDelay): the source, its reading at the
	// start of the window, and the latency it added to each answer in the last window,
	// which the means are judged without.
	sched              SchedDelay
	schedLast          ProxyDelay
	waitMean, wakeMean time.Duration
	delay              time.Duration
}

// Limit tuning. These are properties of the algorithm, not of a backend: nothing here needs
// setting per installation.
const (
	// DefaultInitialLimit is where a limit starts before it has measured anything: low,
	// since a flood at start must not fill a small backend's queue before the first
	// measurement (slow start grows it by half every window where the backend takes more).
	DefaultInitialLimit = 8
	// DefaultMinLimit is the floor of a limit: a backend is always given a few requests, so
	// that its latency keeps being measured.
	DefaultMinLimit = 2
	// DefaultMaxLimit is the ceiling of a limit when no cap is configured.
	DefaultMaxLimit = 4096
	// Tolerance is how far above the baseline the mean latency of a window may be before
	// the limit shrinks: room for the noise of a page mix.
	Tolerance = 1.1
	// minWindow and maxWindow bound a window; within them it lasts two baselines, so that a
	// change of the limit has shown in the latencies before the next one.
	minWindow = 50 * time.Millisecond
	maxWindow = time.Second
	// minSamples is the fewest answers a window needs before maxWindow, so that the mean of
	// a page mix is not mostly noise.
	minSamples = 20
	// baselineDown and baselineUp are the smoothing of the baseline towards the latency of
	// a window below the limit: quick to learn that the backend is faster, slow to accept
	// that it is slower. At the limit, only tests move it: following windows there, the
	// noise of a page mix would walk it down (only the low windows counting) or a growing
	// queue walk it up.
	baselineDown = 0.25
	baselineUp   = 0.05
	// cutStep is the limit, as a share of where a cut began, at which the cut is tested: a
	// backend queueing at the old limit answers at least a quarter faster here (it is
	// also the size of a probe).
	cutStep = 0.75
	// slowStartGrowth multiplies the limit after a healthy window in slow start.
	slowStartGrowth = 1.5
	// dropBackoff multiplies the limit after a window with upstream failures; dropShare is
	// the share of a window's answers that must be failures (one in dropShare).
	dropBackoff = 0.9
	dropShare   = 4
	// probeEvery is how many windows at the limit pass between probes of a raised baseline.
	probeEvery = 16
	// testSamples is how many answers each measurement of a test takes: two windows'
	// worth, so that the two means it compares are not mostly a page mix's noise.
	testSamples = 2 * minSamples
	// surgeSamples is the fewest answers a surge needs to be judged (see surge): a quarter of
	// a window's, so that one page's cost does not decide alone.
	surgeSamples = minSamples / 4
	// outlierFactor caps one sample at this many baselines, so that one stuck request does
	// not make a window look congested.
	outlierFactor = 10
)

// NewLimit returns a limit starting at initial (0: DefaultInitialLimit), between lo (0:
// DefaultMinLimit) and hi (0: DefaultMaxLimit), at time now.
func NewLimit(initial, lo, hi int, now time.Duration) *Limit {
	l := &Limit{}
	l.Reset(initial, lo, hi, now)
	return l
}

// Reset restarts l with the given bounds (see NewLimit), forgetting what it learned.
func (l *Limit) Reset(initial, lo, hi int, now time.Duration) {
	sched, k := l.sched, l.knee // the source stays, and whether the knee is measured
	*l = Limit{winStart: now, slowStart: true}
	if k != nil {
		*k = knee{}
		l.knee = k
	}
	l.SetBounds(lo, hi)
	l.SetSchedDelay(sched)
	if initial <= 0 {
		initial = DefaultInitialLimit
	}
	l.limit = math.Min(math.Max(float64(initial), l.min), l.max)
}

// SetBounds changes the floor and the ceiling (0: their defaults), keeping what l learned.
func (l *Limit) SetBounds(lo, hi int) {
	if lo <= 0 {
		lo = DefaultMinLimit
	}
	if hi <= 0 {
		hi = DefaultMaxLimit
	}
	lo = min(lo, hi)
	l.min, l.max = float64(lo), float64(hi)
	l.limit = math.Min(math.Max(l.limit, l.min), l.max)
}

// Current is the number of requests to admit at once.
func (l *Limit) Current() int { return int(l.limit) }

// Baseline is the healthy latency learned so far (0 before any).
func (l *Limit) Baseline() time.Duration { return l.baseline }

// SlowStart reports whether the limit is still in slow start: its latency has not yet been
// seen to climb, so the backend's capacity is not known to be near.
func (l *Limit) SlowStart() bool { return l.slowStart }

// Pressure records that the limit was reached: a request waited or was refused.
func (l *Limit) Pressure() { l.winPressure = true; l.surgeFrom() }

// surgeFrom starts counting a surge, if not yet, from the last request's start or answer.
func (l *Limit) surgeFrom() {
	if l.surgeAt == 0 {
		l.surgeAt, l.surgeArea, l.surgeN = max(l.inflightAt, 1), 0, 0
	}
}

// HeldBack records that a request was held back below the limit by the Controller's
// reserve alone (the slots kept free for the more trusted tiers' demand): demand the limit
// has not met. A healthy window with such a request grows the limit as one that reached it
// does (from the concurrency committed, the free reserve counted as in use), but never to
// where the backend was measured to queue (see knee): the reserve must stay inside the
// backend's capacity, so that the lower tiers fill what it leaves them, not the backend up
// to its knee for the more trusted tiers to push past it.
//
// Only the demand of TierNew (people's first pages, a flash crowd) grows the limit so:
// declared automation and untrusted clients held back by the reserve are the tiers refused
// first, and growing the limit for them only hands them, on a small backend whose capacity
// was never measured, the workers the reserve was keeping for people. Matrix,
// post-closed-10x-4w200 (40 closed-loop untrusted POSTs on 4 workers × 200 ms, a calm
// limit of 9 with 5 reserved): their held-back demand grew the limit 9 -> 13 within the
// flood's first second, the POSTs took every worker with people queued inside the backend
// behind them, people's p95 1.41-1.49× calm.
func (l *Limit) HeldBack(tier Tier) {
	l.winHeld = true
	l.winHeldNew = l.winHeldNew || tier.orUntrusted() <= TierNew
	l.surgeFrom()
}

// Waited records that a request was not admitted at once, whatever held it (this limit, a
// site's, the Controller's reserve): the window's demand is not calm traffic's alone, and
// its concurrency says nothing of what calm traffic uses (see used). A flood held at its
// site's limit leaves the backend's below, and its answers queue inside a small backend
// while the window's mean, people's answers with them, still looks healthy.
func (l *Limit) Waited() { l.winWaited = true }

// Started records that a request was admitted at time now with inflight requests now in
// flight.
func (l *Limit) Started(now time.Duration, inflight int) {
	l.inFlight(now, inflight)
	if inflight > l.winPeak {
		l.winPeak = inflight
	}
	if float64(inflight) >= l.limit {
		l.surgeFrom()
	}
	if l.testAt > 0 && l.cohortEnd == 0 {
		if l.cohortN++; l.cohortN >= testSamples {
			l.cohortEnd = now
		}
	}
}

// StartedPage records that a page (a request other than a static file) was admitted with
// pages pages in flight. What calm traffic used (see used) counts pages alone: a static
// file holds a worker for a millisecond, and a browser's burst of them takes the requests in
// flight far past a small backend's workers with no page waiting, which is no measure of
// the pages the backend carries at once.
func (l *Limit) StartedPage(pages int) { l.winPages = max(l.winPages, pages) }

// Ignored records that a request admitted at time at ended without teaching anything (its
// answer says nothing of the backend: a static file, a client that left): a measurement
// under way does not wait for it.
func (l *Limit) Ignored(at time.Duration) {
	if l.surgeAt > 0 {
		l.surgeN++ // it left the requests in flight all the same (Little's law)
	}
	if l.inCohort(at) {
		l.cohortN--
	}
}

// Sample records one answer at time now: its latency, and whether the upstream failed
// (dropped). inflight is the number of requests still in flight. It reports whether the
// limit changed.
func (l *Limit) Sample(now, latency time.Duration, dropped bool, inflight int) bool {
	return l.SampleOf(now, latency, dropped, inflight, 0, 0)
}

// SampleOf is Sample for a request that was admitted at time at (0: now - latency) with
// admitted requests in flight (0: unknown). A window's answers speak only for the
// concurrency they were admitted at: the limit grows from the most of them, not from a
// limit that answers have not yet tested (a flood starting within a window would otherwise
// grow an untested limit).
func (l *Limit) SampleOf(now, latency time.Duration, dropped bool, inflight, admitted int, at time.Duration) bool {
	return l.SampleAt(now, latency, dropped, inflight, admitted, admitted, at)
}

// SampleAt is SampleOf for a request admitted with real pages really in flight (static files
// not counted, see StartedPage), admitted
// being the concurrency the limit committed (the Controller's free reserve counted as in
// use): the knee is measured by the real one.
func (l *Limit) SampleAt(now, latency time.Duration, dropped bool, inflight, admitted, real int, at time.Duration) bool {
	if l.knee != nil && !dropped {
		l.knee.add(real, latency, l.baseline)
	}
	l.inFlight(now, inflight)
	if l.surgeAt > 0 {
		l.surgeN++
	}
	l.winAdmitted = max(l.winAdmitted, admitted)
	if at <= 0 {
		at = now - latency
	}
	l.countForTest(at, latency, dropped)
	l.countInWindow(latency, dropped, admitted)
	length := l.windowLength()
	surged := l.surgeAt > 0 && now-l.surgeAt >= l.baseline && l.surge(now)
	if !surged && !l.windowDone(now, length) {
		return false
	}
	return l.endWindow(now, inflight, length, surged)
}

// inCohort reports whether a request admitted at time at is one of those admitted for the
// current measurement of a test (the cohort, see testCut).
func (l *Limit) inCohort(at time.Duration) bool {
	return l.testAt > 0 && at >= l.testAt && (l.cohortEnd == 0 || at <= l.cohortEnd)
}

// countForTest counts an answer of the cohort (see inCohort) for the test's measurement:
// all of them count, fast and slow, however long the slow ones take; failures count as
// answered, not in the mean.
func (l *Limit) countForTest(at, latency time.Duration, dropped bool) {
	if !l.inCohort(at) {
		return
	}
	l.cohortDone++
	if !dropped {
		l.postN++
		l.postSum += latency
		l.postSq += float64(latency) * float64(latency)
		l.winPostN++
	}
}

// countInWindow counts an answer in the window: a failure, or a latency (capped at
// outlierFactor baselines); before the first baseline, also among the first window's
// answers admitted at half the limit or less (see closeWindow).
func (l *Limit) countInWindow(latency time.Duration, dropped bool, admitted int) {
	if dropped {
		l.winDrops++
		return
	}
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

// windowLength is how long a window lasts: two baselines, within minWindow and maxWindow.
func (l *Limit) windowLength() time.Duration {
	return min(max(2*l.baseline, minWindow), maxWindow)
}

// windowDone reports whether the window that began at winStart is over at now: it lasted
// length and has minSamples answers, or lasted maxWindow.
func (l *Limit) windowDone(now, length time.Duration) bool {
	span := now - l.winStart
	return span >= length && (l.winN+l.winDrops >= minSamples || span >= maxWindow)
}

// endWindow ends the window at now, inflight requests in flight: reads the proxy's delay,
// closes the knee's window and, unless a surge already moved the limit, moves the baseline
// and the limit (closeWindow); then starts the next window. It reports whether the limit
// changed.
func (l *Limit) endWindow(now time.Duration, inflight int, length time.Duration, surged bool) bool {
	before := int(l.limit)
	l.readDelay()
	l.postDelay += time.Duration(l.winPostN) * l.delay
	if l.knee != nil {
		l.kneeAt = l.knee.close(float64(l.delay), l.kneeAt, int(l.used))
	}
	if !surged {
		l.closeWindow(now)
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

// inFlight integrates the requests in flight up to now, inflight from now on.
func (l *Limit) inFlight(now time.Duration, inflight int) {
	if l.surgeAt > 0 && now > l.inflightAt {
		l.surgeArea += float64(l.inflight) * float64(now-l.inflightAt)
	}
	l.inflight, l.inflightAt = inflight, now
}

// surge cuts the limit, ahead of the window's end, when a flood has filled it past what the
// backend carries (see Limit): then it reports true, and the window ends. A small, slow
// backend answers too few requests a window for the window's mean to show its queue before
// a second or more (4 workers × 200 ms answer 20 a second), and the mean of the answers
// lags the queue behind them: those still waiting have not answered. Little's law does
// not: the requests in flight, integrated over the time since the limit was reached,
// divided by the answers since, is the time each spent in the backend, the queue's waiting
// included. At twice the healthy
// latency or more (the point where a window is measurement enough, see closeWindow) the
// limit is cut as Gradient2 does, to limit × tolerance × baseline / that time plus the
// headroom: on a backend queueing every request behind the others, its workers (by
// Little's law, they answer limit / time requests a second, each in a baseline). The cut
// is then tested as every cut is: the time before is this one, its standard error that of
// the count of answers, so a latency the proxy added to every answer puts the limit back.
// It needs a baseline since the limit was reached (every worker has answered once) and as
// many answers as the limit (at least surgeSamples): judged a page time after the limit
// filled, with a backend of pages of equal cost (the matrix's) that has answered its workers
// once and is answering them a second time, the answers counted are fewer than the time
// integrated says, and spent read up to twice the backend's (4 workers × 200 ms, 8 in
// flight: 640 ms for 400): a cut to half the workers, the matrix's dip at a flood's start
// (issue11: least 4 on 8 workers). Once as many have answered as were in flight, every one
// of them has been replaced once and the reading is the backend's. Not during a test's measurement after a cut, which holds the limit
// where it is (one measuring before a cut may be overtaken). A limit within a window's
// headroom of what the backend was seen to carry (see shown) is left to the windows: only
// a limit grown past that untested (slow start, the reserve's held-back demand, a calm day
// that never filled it) can be far past the backend's capacity, and a proxy's own CPU,
// saturated by a flood it refuses, must not cut a measured limit at every wave of its delay.
func (l *Limit) surge(now time.Duration) bool {
	if l.baseline == 0 || l.cutLatency > 0 || l.limit <= l.shown+math.Max(1, math.Sqrt(l.shown)/2) {
		return false
	}
	n := l.surgeN
	if n < max(surgeSamples, int(l.limit)) {
		return false
	}
	l.inFlight(now, l.inflight)
	if l.surgeArea/float64(n) <= 2*Tolerance*float64(l.baseline) {
		return false // the proxy's delay would only lower it
	}
	delay := float64(l.delay)
	if l.sched != nil {
		// The proxy's delay since the window began, which it has not read yet.
		wait, waitOK, wake, wakeOK := l.sched().means(l.schedLast)
		if waitOK && wakeOK {
			delay = float64(wait + wake)
		}
	}
	spent := l.own(l.surgeArea/float64(n), delay)
	if spent <= 2*Tolerance*float64(l.baseline) {
		return false
	}
	l.slowStart = false
	from := l.limit
	next := l.limit*Tolerance*float64(l.baseline)/spent + math.Max(0.5, math.Sqrt(l.limit)/4)
	// Never below what the backend was seen to carry at a healthy latency, in pages (the
	// knee's carried). A floor counted in all requests in flight (shown: static files and
	// the reserve among them) held a flood at 9 on 4 workers in the matrix.
	floor := l.min
	if l.knee != nil {
		floor = math.Max(floor, float64(l.knee.carried))
	}
	l.limit = math.Max(floor, math.Min(next, l.limit*cutStep))
	l.cutFrom, l.cutLatency, l.cutSE, l.probe, l.suspect = from, spent, spent/math.Sqrt(float64(n)), false, false
	l.measureFrom(now)
	l.surgeAt = 0
	return true
}

// closeWindow moves the baseline and the limit by the window just ended. The steps, in
// order; the first three may end the window's say:
//
//  1. holdBelowKnee: the window went past where the backend queues; the limit goes just below.
//  2. backOffFailures: upstream failures were a quarter of the answers at the limit; it backs off.
//  3. A window with no answer but failures teaches nothing more.
//  4. learnCalmUse: a calm, healthy window tells what calm traffic uses.
//  5. The baseline: learnFirstBaseline from the first window; followCalmLatency after a
//     window below the limit, which also ends a test under way and, application-limited,
//     says nothing of the limit.
//  6. The limit, by the window's latency: a test under way moves on (testCut); a healthy
//     latency grows the limit or probes a raised baseline (healthyWindow); a climbing one
//     starts a test, or cuts at once (climbingWindow).
func (l *Limit) closeWindow(now time.Duration) {
	carried, reached := l.windowReach()
	if !reached {
		l.surgeAt = 0 // the surge, if any, is over
	}
	if l.holdBelowKnee() || l.backOffFailures(reached) || l.winN == 0 {
		return
	}
	mean, se := l.windowLatency()
	l.learnCalmUse(reached, mean, se)
	if l.baseline == 0 {
		l.learnFirstBaseline(now, mean, reached)
		return
	}
	if !reached {
		l.followCalmLatency(mean)
		l.endTest() // demand fell below the limit: a test under way says nothing any more
		if l.applicationLimited() {
			return
		}
	}
	l.sinceTest++
	switch {
	case l.cutFrom > 0:
		l.testCut(now)
	case Tolerance*float64(l.baseline)+se >= mean:
		l.healthyWindow(now, carried, reached)
	default:
		l.climbingWindow(now, mean, se)
	}
}

// windowReach says how far the window's demand went: carried, the limit itself was met (a
// request waited or was refused at it, or as many were in flight); reached, that or the
// Controller's reserve held a request back below it (see HeldBack).
func (l *Limit) windowReach() (carried, reached bool) {
	carried = l.winPressure || float64(l.winPeak) >= l.limit
	return carried, carried || l.winHeld
}

// holdBelowKnee puts the limit just below the knee (see knee), never below what calm
// traffic used (see used), when the window went past it: the reserve held the lower tiers
// back below a limit the backend queues at, or a flood held elsewhere (its site's limit)
// took the backend there; not while a test of a cut measures (the gradient finds its own
// way down, to where a backend that lost workers now queues). It reports whether it moved
// the limit: the window then says nothing more.
func (l *Limit) holdBelowKnee() bool {
	past := l.winHeld || (l.winWaited && l.winPeak >= l.kneeAt && l.cutFrom == 0)
	below := math.Max(l.min, math.Max(float64(l.kneeAt-1), l.used))
	if !past || l.kneeAt == 0 || l.limit <= below {
		return false
	}
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
	return true
}

// backOffFailures backs the limit off when upstream failures were at least one in dropShare
// of the window's answers and the window reached the limit, as AIMD does (in slow start,
// back to where it was before the last growth); a trickle of failures, or failures below
// the limit, say nothing of concurrency. It reports whether it backed off: the window then
// says nothing more.
func (l *Limit) backOffFailures(reached bool) bool {
	if l.winDrops == 0 || !reached || l.winDrops*dropShare < l.winN+l.winDrops {
		return false
	}
	backoff := dropBackoff
	if l.slowStart {
		backoff = 1 / slowStartGrowth // back to where it was
	}
	l.limit = math.Max(l.min, l.limit*backoff)
	l.slowStart = false
	l.endTest()
	return true
}

// windowLatency is the mean latency of the window's answers that is the backend's (less the
// proxy's delay, see own), and the standard error of their raw mean. The window has answers.
func (l *Limit) windowLatency() (mean, se float64) {
	n := float64(l.winN)
	raw := float64(l.winSum) / n
	return l.own(raw, float64(l.delay)), math.Sqrt(math.Max(0, l.winSq/n-raw*raw) / n)
}

// learnCalmUse raises what calm traffic used (see used) to the window's peak of pages, when
// the window was calm (below the limit, nobody waited) and its latency healthy.
func (l *Limit) learnCalmUse(reached bool, mean, se float64) {
	base := float64(l.baseline)
	if !reached && !l.winWaited && base > 0 && mean <= Tolerance*base+se {
		l.used = math.Max(l.used, float64(l.winPages)) // calm demand, carried healthily
	}
}

// learnFirstBaseline takes the first window's mean as the baseline. A flood at start may have
// queued some of these answers behind the first ones: when known, only those admitted at half
// the limit or less count, and a baseline learnt at the limit is probed at once.
func (l *Limit) learnFirstBaseline(now time.Duration, mean float64, reached bool) {
	l.baseline = time.Duration(mean)
	if l.firstN > 0 && reached {
		l.baseline = l.firstSum / time.Duration(l.firstN)
	}
	if reached {
		l.startTest(now, true) // and probe it at once
	}
}

// followCalmLatency moves the baseline towards the mean of a window below the limit (the
// backend's own latency, not one we caused): quickly down, slowly up. That is what calm
// windows teach, and the baseline is no longer raised by a test.
func (l *Limit) followCalmLatency(mean float64) {
	base := float64(l.baseline)
	step := baselineUp
	if mean < base {
		step = baselineDown
	}
	l.baseline = time.Duration(base + (mean-base)*step)
	l.calm, l.raised = l.baseline, false
}

// applicationLimited reports whether the backend was never asked for more than half the
// limit in the window, nobody held back: the window says nothing about the limit.
func (l *Limit) applicationLimited() bool {
	return float64(l.winPeak) < l.limit/2 && !l.winPressure && !l.winHeld
}

// healthyWindow moves the limit after a window at a healthy latency: nothing when the limit
// was not reached (no evidence that more helps); a probe of a raised baseline every
// probeEvery windows (measure here, then a quarter lower); else growth (see grow).
func (l *Limit) healthyWindow(now time.Duration, carried, reached bool) {
	switch {
	case !reached:
		return
	case l.raised && l.sinceTest >= probeEvery:
		l.startTest(now, true)
	default:
		l.grow(carried)
	}
}

// grow raises the limit after a healthy window that reached it, from the concurrency the
// window's answers were admitted at (when known): a limit they did not reach is not tested
// yet, but what they reached the backend was seen to carry (shown). By how much is
// growthFrom's; the limit never goes down here, nor past its ceiling.
func (l *Limit) grow(carried bool) {
	tested := l.limit
	if l.winAdmitted > 0 {
		tested = math.Min(tested, float64(l.winAdmitted))
	}
	l.shown = math.Max(l.shown, tested)
	l.limit = math.Min(l.max, math.Max(l.limit, l.growthFrom(tested, carried)))
}

// growthFrom is where a healthy window takes the limit from tested: by √limit/2 (at least
// one), to find added capacity within a second or two; in slow start, by half, if that is
// more. A window that only the reserve held back (not carried) grows it for the demand of
// TierNew alone, and not to where the backend queues (see HeldBack).
func (l *Limit) growthFrom(tested float64, carried bool) float64 {
	next := tested + math.Max(1, math.Sqrt(tested)/2)
	switch {
	case carried && l.slowStart:
		return math.Max(next, slowStartGrowth*tested)
	case carried:
		return next
	case !l.winHeldNew:
		// Only the tiers refused first held back by the reserve (see HeldBack): no
		// demand to find the backend more capacity for.
		return l.limit
	case l.kneeAt == 0:
		// Demand held back by the reserve, and the backend never seen to queue at any
		// concurrency it was given (a latency that climbed for every answer alike, the
		// proxy's CPU or noise, may have ended slow start): it grows as in slow start,
		// so that a calm big backend's less trusted visitors do not wait behind a
		// limit the reserve keeps them below (session 5: a calm limit of 8 on 32
		// workers, people's p95 1,070 ms against plain Caddy's 203). A small backend
		// shows its knee within a window or two of being passed, and the limit goes
		// below it (see knee).
		return math.Max(next, slowStartGrowth*tested)
	default:
		// Only demand held back by the reserve: never to where the backend queues.
		return math.Min(next, math.Max(float64(l.kneeAt-1), l.used))
	}
}

// climbingWindow starts a test after a window whose latency climbed by more than a page
// mix's noise: measure it at this limit, then cut. At twice the healthy latency or more
// the window is measurement enough (a backend that lost capacity; its queue grows while we
// measure): the limit is cut at once, and slow start ends.
func (l *Limit) climbingWindow(now time.Duration, mean, se float64) {
	l.startTest(now, false)
	if mean > 2*Tolerance*float64(l.baseline) {
		l.slowStart = false
		l.cutFrom, l.cutLatency, l.cutSE = l.limit, mean, se
		l.shrink(now, mean)
	}
}

// startTest begins the test of a cut: the limit holds while minSamples requests admitted
// from now answer.
func (l *Limit) startTest(now time.Duration, probe bool) {
	l.cutFrom, l.cutLatency, l.cutSE, l.probe = l.limit, 0, 0, probe
	l.measureFrom(now)
	if probe {
		l.sinceTest = 0
	}
}

// testCut moves a test on (see Limit) once the cohort of a measurement, testSamples
// requests admitted at the held limit, have all answered (or a second after the last was
// admitted): counting the first answers only would favour a page mix's fast pages.
func (l *Limit) testCut(now time.Duration) {
	if l.cohortEnd == 0 || (l.cohortDone < l.cohortN && now-l.cohortEnd < maxWindow) {
		return // hold the limit while the cohort is admitted and answers
	}
	if l.postN == 0 {
		l.endTest() // all failed: the failures back off the limit
		return
	}
	n := float64(l.postN)
	raw := float64(l.postSum) / n
	se := math.Sqrt(math.Max(0, l.postSq/n-raw*raw) / n)
	post := l.own(raw, float64(l.postDelay)/n)
	healthy := Tolerance * float64(l.baseline)
	defer func() { l.shown = l.limit }() // where the limit is, a test has measured

	if l.cutLatency == 0 { // measured before the cut
		switch {
		case l.probe:
			l.probeCut(now, post, se)
		case post > healthy+se:
			l.slowStart = false // latency climbs: the backend's capacity is near
			l.cutFrom, l.cutLatency, l.cutSE = l.limit, post, se
			l.shrink(now, post)
		default:
			l.endTest() // the climb was a moment's noise
		}
		return
	}
	noise := 2 * math.Hypot(se, l.cutSE)
	from, before, share := l.cutFrom, l.cutLatency, l.limit/l.cutFrom
	drop := before - post
	// A cut from twice the healthy latency or more (a surge's, or a window's: see
	// closeWindow) to a healthy one is elastic whatever the noise of the reading before: a
	// latency the proxy added to every answer, or a slower backend, would not have gone
	// away. The surge's reading has the noise of a count of answers as few as the limit
	// (its standard error a third of it at 8), and judged by that noise alone the healthy
	// cohort after the cut read as no drop: the limit went back to where the backend
	// queued, its cut to be tested again from there (simulated 4 workers × 200 ms under a
	// closed-loop flood: cut 8 -> 4 within a second, back to 8 some 3-4 s later in seven seeds
	// of ten, people queued inside the backend again).
	elastic := (drop >= before*(1-share)/2 && drop >= noise) || (post <= healthy && before > 2*healthy)
	switch {
	case elastic && l.probe:
		// A probe found the backend queueing at the raised baseline (the inflation ended,
		// or a flood at start queued the first answers): the cut stands, the lower latency
		// is the baseline, and the next probe starts from here at once.
		l.baseline = time.Duration(math.Min(float64(l.baseline), post+2*se))
		l.probeCut(now, post, se)
	case elastic:
		// The backend queued at the higher limit: the cut stands. Latency still climbing
		// past the healthy one (the backend still queues): cut again, this measurement
		// being the next cut's before.
		l.endTest()
		if low := post + 2*se; low*Tolerance*Tolerance < float64(l.baseline) {
			// Far below the baseline: it was learned with a queue (a flood at start).
			l.baseline = time.Duration(low)
		}
		// Not when the cohort at the lower limit answered at a healthy latency: the backend
		// carried that concurrency without a queue, and a cut below it is no test of
		// anything. (A drop in proportion to the cut also cut again, as a backend still
		// queueing behind the others would show; but a surge's reading, taken while the
		// backend's queue filled, is high enough that any healthy cohort drops in
		// proportion: the matrix's dip to half the workers at a flood's start, issue11's
		// least 4 on 8 workers. See TestFloodAfterCalmAssets.)
		if post > healthy && l.limit > l.min {
			l.cutFrom, l.cutLatency, l.cutSE = l.limit, post, se
			l.shrink(now, post)
			return
		}
		// The cut crossed the backend's workers: its queue at the higher limit was the
		// latency above this one, so it keeps cutFrom × post / before requests busy
		// (Little's law); the limit goes there, plus the headroom.
		if w := from * post / before; w > l.limit {
			l.limit = math.Min(from, w+math.Max(0.5, math.Sqrt(w)/4))
		}
	case l.probe:
		// Nothing found: the limit goes back, and the baseline stays raised (probed every
		// probeEvery windows) while it is above what calm windows taught.
		l.baseline = time.Duration(math.Max(float64(l.baseline), post))
		l.limit = math.Min(l.max, l.cutFrom)
		l.raised = l.calm > 0 && float64(l.baseline) > Tolerance*float64(l.calm)
		l.endTest()
	case drop < -noise && post > healthy:
		// Latency rose despite the cut: something changed since the measurement before it,
		// which says nothing now. The cut did not help: put the limit back and measure
		// there again.
		l.limit = math.Min(l.max, l.cutFrom)
		l.startTest(now, false)
	case drop < noise:
		// Latency fell by less than half the cut's share, and by no more than the noise of
		// the two measurements: not this backend's queue. Put the limit back, and take the
		// latency measured at the lower concurrency as the healthy one.
		l.limit = math.Min(l.max, l.cutFrom)
		if !l.suspect {
			// Once could be a latency that was still rising when measured before the
			// cut (a backend that lost capacity): measure and cut again to be sure.
			l.startTest(now, false)
			l.suspect = true
			return
		}
		l.baseline = time.Duration(math.Max(float64(l.baseline), post))
		l.raised, l.sinceTest = true, 0
		l.endTest()
	default:
		// Fell by more than the noise but less than half the cut's share: partly ours;
		// the cut stands.
		l.endTest()
	}
}

// probeCut cuts the limit by a quarter for a probe, before being the latency (and its
// standard error) measured at the limit.
func (l *Limit) probeCut(now time.Duration, before, se float64) {
	if l.limit*cutStep < l.min {
		l.endTest() // at the floor: nothing to probe
		return
	}
	l.cutFrom, l.cutLatency, l.cutSE, l.probe = l.limit, before, se, true
	l.limit *= cutStep
	l.measureFrom(now)
}

// shrink cuts the limit, where the cut is then tested: by the gradient tolerance ×
// baseline / latency (at least ½) plus a headroom of √limit/4 (at least ½), so that it
// lands close to the backend's workers, where its own queue stays short; and by at least a
// quarter, so that the test can tell a queue from noise.
func (l *Limit) shrink(now time.Duration, latency float64) {
	gradient := math.Max(0.5, Tolerance*float64(l.baseline)/latency)
	next := math.Min(l.limit*gradient+math.Max(0.5, math.Sqrt(l.limit)/4), l.limit*cutStep)
	l.limit = math.Max(next, l.min)
	l.measureFrom(now)
}

// endTest forgets the test of a cut.
func (l *Limit) endTest() {
	l.cutFrom, l.cutLatency, l.cutSE, l.probe, l.suspect = 0, 0, 0, false, false
	l.measureFrom(0)
}

// measureFrom starts a test's measurement of the requests admitted from now (0: none under
// way), forgetting the answers counted so far.
func (l *Limit) measureFrom(now time.Duration) {
	l.testAt, l.postN, l.postSum, l.postSq, l.postDelay, l.cohortN, l.cohortDone, l.cohortEnd = now, 0, 0, 0, 0, 0, 0, 0
}

// TrackKnee makes l measure where the backend starts to queue (see knee): the backend's
// limit, where the Controller's reserve holds lower tiers back below it.
func (l *Limit) TrackKnee() {
	if l.knee == nil {
		l.knee = &knee{}
	}
}

// knee measures a backend's latency by the concurrency its answers were admitted at (the
// requests really in flight, themselves included), to find where it starts to queue: the
// least concurrency whose answers took longer, beyond the noise, than those admitted with
// fewer in flight in the same windows. A backend of W workers answers the W-th request at
// once and makes the next wait, whatever its page mix, so the knee shows at W+1 even when
// only a few requests a window reach it (people using their reserve while the lower tiers
// hold the rest); a latency every answer shares (the proxy's own CPU, a slower backend)
// raises all concurrencies alike and shows no knee.
//
// Answers are counted by concurrency up to kneeTrack (a reserve matters on small
// backends; on a big one it is a small share of the limit), smoothed over kneeMemory
// windows, the window's proxy delay taken off as the limit does.
type knee struct {
	// This window's answers, and the smoothed ones, by concurrency: count, sum and sum of
	// squares of latencies (ns, ns²).
	n, sum, sq    [kneeTrack + 1]float64
	sn, ssum, ssq [kneeTrack + 1]float64
	// idle counts, by concurrency, the windows since one of its answers last came. What
	// was measured at a concurrency no answer has come from for kneeMemory windows is
	// forgotten (see close).
	idle [kneeTrack + 1]int
	// carried is, as of the last window, the most pages in flight whose answers (enough of
	// them, within the memory: see idle) were healthy: what the backend has been seen to
	// carry at once without a queue.
	carried int
}

const (
	// kneeTrack is the highest concurrency whose latency is measured.
	kneeTrack = 64
	// kneeMemory is how many windows the measurement remembers (an exponential average).
	kneeMemory = 16
	// kneeSamples is the fewest answers at one concurrency, and below it, that speak for it.
	kneeSamples = minSamples / 2
)

// add counts one answer admitted with real requests in flight.
func (k *knee) add(real int, latency, baseline time.Duration) {
	if real < 1 || real > kneeTrack {
		return
	}
	if baseline > 0 && latency > outlierFactor*baseline {
		latency = outlierFactor * baseline
	}
	x := float64(latency)
	k.n[real]++
	k.sum[real] += x
	k.sq[real] += x * x
}

// close ends a window whose answers the proxy delayed by delay (ns) each, and returns the
// knee: the least concurrency above floor (what calm traffic has used at a healthy latency,
// see Limit.used) whose smoothed mean latency is above Tolerance × that of every answer
// admitted with fewer in flight, by more than two standard errors of both, and whose rise
// is a queue's (see queues); else the last one, at, while too few answers at it say
// otherwise (a limit kept below the knee does not measure it again); else 0.
func (k *knee) close(delay float64, at, floor int) int {
	const keep = 1 - 1.0/kneeMemory
	for c := 1; c <= kneeTrack; c++ {
		// This window's answers, less the proxy's delay: Σ(x-d) and Σ(x-d)².
		wn, ws := k.n[c], k.sum[c]-k.n[c]*delay
		wsq := k.sq[c] - 2*delay*k.sum[c] + k.n[c]*delay*delay
		k.sn[c], k.ssum[c], k.ssq[c] = k.sn[c]*keep+wn, k.ssum[c]*keep+ws, k.ssq[c]*keep+wsq
		k.n[c], k.sum[c], k.sq[c] = 0, 0, 0
		if k.idle[c]++; wn > 0 {
			k.idle[c] = 0
		}
		if k.idle[c] > kneeMemory {
			// The memory is kneeMemory windows: an exponential average remembers the mean
			// that long, but the count of answers behind it decays only by a sixteenth a
			// window, and a busy phase's thousands at a concurrency kept it above
			// kneeSamples for a minute or more after the last answer there. Those old
			// healthy answers then spoke against a knee measured now below them (see
			// queues) and for what the backend carried (carried, the floor of a surge's
			// cut): a backend that lost capacity (12 workers, then 2) kept its limit at
			// 7-9 (TestCapacityDropAfterBusyPhase; TestLimitFollowsRealBackend's flake).
			// A concurrency not reached for as long as the means remember says nothing of
			// the backend now.
			k.sn[c], k.ssum[c], k.ssq[c] = 0, 0, 0
		}
	}
	var n, sum, sq float64 // answers admitted below the concurrency looked at
	k.carried = 0
	for c := 1; c <= kneeTrack; c++ {
		cn := k.sn[c]
		if c <= floor && cn >= kneeSamples {
			k.carried = c // what calm traffic used, healthily (see Limit.used)
		}
		if c > floor && cn >= kneeSamples && n >= kneeSamples {
			mean, ref := k.ssum[c]/cn, sum/n
			se := k.se(c) + math.Sqrt(math.Max(0, sq/n-ref*ref)/n)
			if mean <= Tolerance*ref+2*se {
				k.carried = c
			} else {
				// A new knee takes a concurrency above confirming the queue; the last one
				// stays while what is measured there and above is consistent with it.
				if consistent, confirmed := k.queues(c, ref); confirmed || (consistent && at > 0 && at <= c) {
					// Where the backend's workers are, by Little's law: answers admitted
					// with c in flight take c/workers page times. A flood holds the
					// concurrency at the limit, and a limit grown by half a window at a time
					// leaves the ones between without answers enough to speak.
					// Never at or below a concurrency the backend answered healthily
					// (carried): a flood's first answers at c waited behind the queue it
					// filled before any cut, and read as fewer workers than there are
					// (4 × 200 ms: a knee at 4, the limit at 3).
					w := math.Round(float64(c) * ref / mean)
					return int(math.Max(float64(max(floor, k.carried)+1), math.Min(float64(c), w+1)))
				}
			}
		}
		n, sum, sq = n+cn, sum+k.ssum[c], sq+k.ssq[c]
	}
	if at > floor && k.sn[at] < kneeSamples {
		return at
	}
	return 0
}

// se is the standard error of the smoothed mean latency at concurrency c.
func (k *knee) se(c int) float64 {
	cn := k.sn[c]
	mean := k.ssum[c] / cn
	return math.Sqrt(math.Max(0, k.ssq[c]/cn-mean*mean) / cn)
}

// queues reports whether the latencies from concurrency at up are those of a backend of
// at-1 workers queueing, as Little's law has it: an answer admitted with c in flight waits
// for c-(at-1) of those before it to leave, the at-1 workers freeing one about every
// page/at, so it takes about (c-(at-1))/at page times more than ref, the healthy latency
// below. Consistent: no concurrency from at up, with enough answers, took less than half
// that rise by more than two standard errors; confirmed: one above at has answers enough
// to say so. Else the backend carried more than at-1 at once, and the rise at at is
// something every busy moment shares — the proxy's CPU when many requests are sent
// together (a page sent amid its assets), GC pauses, a loaded machine's stalls. Session
// 6's matrix measured the cost of reading that as a queue: a calm 32-worker backend's
// limit held at 18 (main: 27), and people's calm p95 1.87-1.99× plain Caddy's.
func (k *knee) queues(at int, ref float64) (consistent, confirmed bool) {
	w := float64(at - 1)
	for c := at; c <= kneeTrack; c++ {
		if k.sn[c] < kneeSamples {
			continue
		}
		if k.ssum[c]/k.sn[c]+2*k.se(c) < ref*(1+(float64(c)-w)/(2*(w+1))) {
			return false, false
		}
		confirmed = confirmed || c > at
	}
	return true, confirmed
}
