package admission

import (
	"math"
	"time"
)

// Limit learns how many requests a backend (or one site on it) can take at once before its
// latency climbs, and says how many to admit. It is a gradient limit, after Netflix's
// Gradient2 and Envoy's adaptive concurrency filter: it keeps a baseline, the backend's
// healthy latency, and for each window of answers compares their mean latency with it. When
// latency stays within Tolerance of the baseline and the limit was in use, the limit grows
// by a headroom of about √limit/2; when latency climbs, the limit is multiplied by the
// gradient tolerance × baseline / latency (at least ½) and gets the same headroom, so it
// settles where the backend's own queue stays short: at its number of workers plus the
// headroom.
//
// Why this one. AIMD (additive increase, multiplicative decrease on errors) reacts only
// once the backend refuses or times out: by then people have waited the backend's whole
// queue. Vegas compares each sample with the minimum latency ever seen: on a shared host
// whose pages cost 20 to 200 ms, the fastest page is not the healthy latency of the mix, so
// Vegas reads the page mix as queueing. Gradient2 compares a short with a long average, and
// under a flood that lasts the long average drifts up to the flooded latency and the limit
// creeps back up; Envoy avoids that drift by periodically cutting concurrency to measure the
// minimum latency again, which refuses real traffic every few seconds. Here the baseline
// follows the mean latency of the page mix, and may rise only in windows where the limit
// was not reached (the latency is then the backend's own, not one we caused) or when the
// limit sits at its floor (the backend really got slower): under a flood the limit is
// reached in every window, so the baseline holds and the limit stays where latency is
// healthy. Upstream failures (502, 503, 504, connection errors) also cut the limit by a
// tenth per window, as in AIMD, since a failing backend answers fast. One case needs a
// measurement at low concurrency, as Envoy does: when the very first window already had the
// limit reached (a flood at start), its latency includes the backend's queue, so the limit
// drops to its floor until enough answers of requests admitted since then have measured the
// healthy latency (a probe), and then resumes.
//
// A Limit is not safe for concurrent use: Controller holds its lock around every call.
type Limit struct {
	limit    float64
	min, max float64

	// The current window of answers.
	winStart    time.Duration
	winN        int
	winSum      time.Duration
	winDrops    int
	winPeak     int  // most requests in flight during the window
	winPressure bool // the limit was reached (someone waited or was refused)

	// baseline is the healthy latency; 0 until the first window.
	baseline time.Duration

	// A probe measures the baseline at the floor's concurrency, when the first window
	// already had the limit reached: its latency then includes the backend's own queue.
	probing    bool
	probeStart time.Duration
	probeSaved float64
	probeN     int
	probeSum   time.Duration
}

// Limit tuning. These are properties of the algorithm, not of a backend: nothing here needs
// setting per installation.
const (
	// DefaultInitialLimit is where a limit starts before it has measured anything: low,
	// since a flood at start must not fill a small backend's queue before the first
	// measurement (the limit grows within a second or two where the backend takes more).
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
	// minSamples is the fewest answers a window (or a probe) needs before maxWindow, so that
	// the mean of a page mix is not mostly noise.
	minSamples = 20
	// baselineDown and baselineUp are the smoothing of the baseline towards a window's
	// latency: quick to learn that the backend is faster, slow to accept that it is slower.
	// Under pressure the baseline may only go down, and slowly (baselineDownReached), so
	// that the noise of a page mix does not walk it down over a long flood.
	baselineDown        = 0.25
	baselineDownReached = 0.02
	baselineUp          = 0.05
	// shrinkSmoothing and growSmoothing are how much of a new limit is taken at once.
	shrinkSmoothing = 0.5
	growSmoothing   = 1.0
	// dropBackoff multiplies the limit after a window with upstream failures.
	dropBackoff = 0.9
	// probeSamples is how many answers a probe of the baseline takes (a mean within about
	// 7% on a 20-200 ms page mix); maxProbe bounds its length.
	probeSamples = 40
	maxProbe     = 3 * time.Second
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
	*l = Limit{winStart: now}
	l.SetBounds(lo, hi)
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

// Pressure records that the limit was reached: a request waited or was refused.
func (l *Limit) Pressure() { l.winPressure = true }

// Started records that a request was admitted with inflight requests now in flight.
func (l *Limit) Started(inflight int) {
	if inflight > l.winPeak {
		l.winPeak = inflight
	}
}

// Probing reports whether l is measuring its baseline at the floor's concurrency.
func (l *Limit) Probing() bool { return l.probing }

// Sample records one answer at time now: its latency, and whether the upstream failed
// (dropped). inflight is the number of requests still in flight. It reports whether the
// limit changed.
func (l *Limit) Sample(now, latency time.Duration, dropped bool, inflight int) bool {
	if l.probing {
		return l.probeSample(now, latency, dropped, inflight)
	}
	if dropped {
		l.winDrops++
	} else {
		if l.baseline > 0 && latency > outlierFactor*l.baseline {
			latency = outlierFactor * l.baseline
		}
		l.winN++
		l.winSum += latency
	}
	span := now - l.winStart
	length := min(max(2*l.baseline, minWindow), maxWindow)
	if span < length || (l.winN+l.winDrops < minSamples && span < maxWindow) {
		return false
	}
	before := int(l.limit)
	l.winStart = now
	l.closeWindow()
	l.winStart, l.winN, l.winSum, l.winDrops, l.winPeak, l.winPressure = now, 0, 0, 0, inflight, false
	return int(l.limit) != before
}

// closeWindow moves the baseline and the limit by the window just ended.
func (l *Limit) closeWindow() {
	if l.winDrops > 0 {
		l.limit = math.Max(l.min, l.limit*dropBackoff)
		return
	}
	if l.winN == 0 {
		return
	}
	mean := float64(l.winSum) / float64(l.winN)
	atFloor := l.limit <= l.min
	reached := l.winPressure || float64(l.winPeak) >= l.limit
	switch base := float64(l.baseline); {
	case base == 0:
		l.baseline = time.Duration(mean)
		if reached {
			// The backend may have queued already: measure it with few requests at once.
			l.probing, l.probeStart, l.probeSaved = true, l.winStart, l.limit
			l.limit = l.min
		}
		return
	case mean < base && !reached:
		l.baseline = time.Duration(base + (mean-base)*baselineDown)
	case mean < base:
		l.baseline = time.Duration(base + (mean-base)*baselineDownReached)
	case !reached || atFloor:
		l.baseline = time.Duration(base + (mean-base)*baselineUp)
	}
	if float64(l.winPeak) < l.limit/2 && !l.winPressure {
		// Application-limited: the backend was never asked for more than half the limit,
		// so this window says nothing about the limit.
		return
	}
	gradient := math.Min(1, math.Max(0.5, Tolerance*float64(l.baseline)/mean))
	if gradient >= 1 && !reached {
		return // latency fine but the limit was not reached: no evidence that more helps
	}
	// Healthy latency: grow by √limit/2 (at least one), to find added capacity within a
	// second or two. Latency climbing: the gradient, plus a smaller headroom (√limit/4, at
	// least ½) so that the limit settles close to the backend's workers, where its own
	// queue stays short: latency about Tolerance/(1 - headroom/limit) of the baseline.
	next := l.limit + math.Max(1, math.Sqrt(l.limit)/2)
	if gradient < 1 {
		next = l.limit*gradient + math.Max(0.5, math.Sqrt(l.limit)/4)
	}
	smoothing := growSmoothing
	if next < l.limit {
		smoothing = shrinkSmoothing
	}
	l.limit = math.Min(l.max, math.Max(l.min, l.limit+(next-l.limit)*smoothing))
}

// probeSample records one answer during a probe: only the requests admitted since the probe
// began count, so that the backend's queue from before has drained. The probe ends with
// probeSamples of them, or after maxProbe, and the limit resumes where it was, to be
// corrected by the gradient against the measured baseline.
func (l *Limit) probeSample(now, latency time.Duration, dropped bool, inflight int) bool {
	if !dropped && now-latency >= l.probeStart {
		l.probeN++
		l.probeSum += latency
	}
	if l.probeN < probeSamples && now-l.probeStart < maxProbe {
		return false
	}
	if l.probeN > 0 {
		l.baseline = l.probeSum / time.Duration(l.probeN)
	}
	l.limit = l.probeSaved
	l.probing, l.probeN, l.probeSum = false, 0, 0
	l.winStart, l.winN, l.winSum, l.winDrops, l.winPeak, l.winPressure = now, 0, 0, 0, inflight, false
	return true
}
