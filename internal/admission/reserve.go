package admission

import (
	"math"
	"time"
)

// demand measures each tier's demand for backend slots and sets the reserve: the slots a
// less trusted tier must leave free for the more trusted ones.
//
// Why. The queue admits the most trusted waiter first, but a slot is held for a whole page
// time: under a flood, the lower tiers fill every slot the moment one frees, and a person
// arriving then waits for the next one to free, behind requests admitted a moment before.
// The matrix benchmark measured people waiting 8-100 ms in admission while untrusted
// requests held the backend (issue 11). So a lower tier is admitted only while it leaves
// room for the higher tiers' expected demand.
//
// How much. By Little's law the slots a group of tiers holds on average is its arrival
// rate × how long each holds a slot; both are measured (rate: every Acquire of the tier,
// admitted or not; hold: Acquire's admission to Release, the proxy's part included, since
// that is how long the slot is taken). Arrivals of people, each on their own, are close to
// Poisson, so the slots they want at a given moment are Poisson distributed around that
// mean: the reserve is its reserveQuantile quantile, so that a person arriving under any
// flood finds a free slot at once 99 times in 100. Nothing is set by hand: a site with no
// people reserves nothing (below a mean of 0.01 slots the quantile is 0), a busy one
// reserves what its people use plus a few √ of it.
//
// Cheap. Acquire counts an arrival and Release a hold time in arrays; every reservePeriod
// the rates and hold times are smoothed (an exponential average over reserveMemory) and
// the reserves computed, under the Controller's lock, no allocation.
//
// Bounds. A reserve never takes the whole limit: one slot is left to the lower tiers (see
// Controller.reserveFree). In slow start the limit counts the free reserve as in use, past
// it a request held back by the reserve alone is not pressure on the limit (see
// Controller.start and AcquireNotify).
//
// Against whom. Only the tiers anyone can claim (TierNew and below) are held back: the tiers
// above hold a pass or a visitor cookie floodgate verified, no flood comes from them, and
// among them the queue's order is enough. Holding people back for the Poisson margin of the
// tiers above theirs cost more than it gave on a small backend: with 4 workers × 200 ms,
// Googlebot's and pass holders' 1 slot in use reserved 4, all but one of the limit, and
// returning visitors waited 145 ms in admission with the backend half idle
// (all-open-30x-4w200, people p95 2.45× calm).
//
// Who can inflate it. The reserve against a tier counts only the tiers above it, so
// traffic can take slots only from tiers below its own, which it already passes in the
// queue: a flood that anyone can send (TierNew: browsers that never kept a pass, a botnet
// with fresh addresses; TierUntrusted) reserves nothing against the tiers of people who
// kept a pass or visitor cookie, and a forged cookie earns no tier (see internal/pass).
// What a burst of a higher tier can cost the lower ones, once it stops, is the reserve it
// left for about reserveMemory, fading.
type demand struct {
	// Current period: arrivals and the sum and count of slots' hold times, by tier.
	periodStart time.Duration
	arrivals    [NumTiers + 1]int
	holdSum     [NumTiers + 1]time.Duration
	holdN       [NumTiers + 1]int
	// Smoothed: arrivals per second and mean hold time in seconds, by tier.
	rate, hold [NumTiers + 1]float64
	// reserve[t] is the slots held for the tiers more trusted than t (0 for TierTrusted).
	reserve [NumTiers + 1]int
	// lowest is the least trusted tier with a measured demand (TierTrusted: none).
	lowest Tier
}

// Properties of the measurement, not of a backend: nothing here needs setting.
const (
	// reservePeriod is how often the demand is measured and the reserve set: often enough
	// to follow a change within reserveMemory.
	reservePeriod = 100 * time.Millisecond
	// reserveMemory is the time constant of the smoothing: long enough for a rate of a few
	// people a second to be measured within a few tens of percent, short enough that a
	// burst's reserve fades within a couple of seconds of its end.
	reserveMemory = time.Second
	// reserveQuantile is the share of moments at which the reserve covers the higher
	// tiers' demand: a person finds a free slot at once 99 times in 100.
	reserveQuantile = 0.99
	// normalZ is the standard normal's reserveQuantile quantile, for a large mean.
	normalZ = 2.326
)

// arrive counts an arrival of tier at now, and reports whether a period is over (the
// caller then calls update).
func (d *demand) arrive(tier Tier, now time.Duration) bool {
	d.arrivals[tier]++
	return d.due(now)
}

// held counts the hold time of a slot of tier.
func (d *demand) held(tier Tier, hold time.Duration) {
	d.holdSum[tier] += max(hold, 0)
	d.holdN[tier]++
}

// due reports whether a period is over.
func (d *demand) due(now time.Duration) bool { return now-d.periodStart >= reservePeriod }

// update closes the period at now: smooths the rates and hold times, and sets the
// reserves. baseline (the backend's learned healthy latency) stands for the hold time of a
// tier not measured yet.
func (d *demand) update(now, baseline time.Duration) {
	dt := now - d.periodStart
	d.periodStart = now
	if dt <= 0 {
		return
	}
	alpha := 1 - math.Exp(-float64(dt)/float64(reserveMemory))
	mean := 0.0 // slots held by the tiers above the next one
	d.lowest = TierTrusted
	for t := TierTrusted; t <= TierUntrusted; t++ {
		d.reserve[t] = 0
		if t > TierBrowser {
			d.reserve[t] = poissonQuantile(mean, reserveQuantile)
		}
		d.rate[t] += alpha * (float64(d.arrivals[t])/dt.Seconds() - d.rate[t])
		if n := d.holdN[t]; n > 0 {
			h := (d.holdSum[t] / time.Duration(n)).Seconds()
			if d.hold[t] == 0 {
				d.hold[t] = h
			} else {
				d.hold[t] += alpha * (h - d.hold[t])
			}
		}
		hold := d.hold[t]
		if hold == 0 {
			hold = baseline.Seconds()
		}
		mean += d.rate[t] * hold
		if poissonQuantile(d.rate[t]*hold, reserveQuantile) > 0 { // would reserve a slot
			d.lowest = t
		}
		d.arrivals[t], d.holdSum[t], d.holdN[t] = 0, 0, 0
	}
}

// poissonQuantile is the least r such that a Poisson variable of the given mean is at most
// r with probability q or more; the normal approximation for a large mean.
func poissonQuantile(mean, q float64) int {
	switch {
	case mean <= 0:
		return 0
	case mean > 400:
		return int(math.Ceil(mean + normalZ*math.Sqrt(mean)))
	}
	p := math.Exp(-mean)
	cdf, r := p, 0
	for cdf < q {
		r++
		p *= mean / float64(r)
		cdf += p
	}
	return r
}
