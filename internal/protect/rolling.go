package protect

import "time"

// rolling is the running sum of the buckets of a site's ring that are in the window, so
// that a tick costs the same whatever the window's length: a bucket is added once when it
// closes and taken off once when it leaves the window (too old, or overwritten), instead
// of the whole ring being re-summed at every tick (the detector's tick was floodgate's
// largest single item at 2,000 sites, issue 9).
//
// While ticks come at increasing times, the ring's buckets, oldest to newest, have
// increasing times: those in the window are the newest n, and the oldest of them has the
// earliest start. When a tick comes at a time that does not increase (a clock set back, a
// tick repeated), the running sum is dropped and the window re-summed at every tick until
// the ring holds only buckets made since; then the running sum is rebuilt once.
type rolling struct {
	sum tally
	n   int // the newest n buckets of the ring are in the window, summed in sum
	// resum is how many more buckets must close before the running sum may be rebuilt;
	// while it is above 0 the window is re-summed at every tick.
	resum int
	stale bool // sum and n are to be rebuilt (or the window re-summed) at the next tick
}

// invalidate drops the running sum; it is rebuilt once closes more buckets have closed.
func (r *rolling) invalidate(closes int) {
	r.stale = true
	r.resum = max(r.resum, closes)
}

// push takes account of nb, about to be closed into ring at position next, and of the
// bucket it overwrites.
func (r *rolling) push(ring []bucket, next int, nb *bucket) {
	if r.resum > 0 {
		r.resum--
	}
	if r.stale {
		return
	}
	if r.n == len(ring) { // the bucket overwritten is the oldest in the window
		r.sum.sub(&ring[next].tally)
		r.n--
	}
	r.sum.add(&nb.tally)
	r.n++
}

// window is window(ring, extra, t, w) (next is ring's position of the oldest bucket), at a
// cost that does not grow with the ring while ticks come at increasing times.
func (r *rolling) window(ring []bucket, next int, extra *bucket, t int64, w time.Duration) (tally, time.Duration) {
	if r.stale {
		if r.resum > 0 {
			return window(ring, extra, t, w)
		}
		r.rebuild(ring, next, t, w)
	}
	cutoff := t - int64(w)
	for r.n > 0 {
		old := &ring[oldest(len(ring), next, r.n)]
		if old.at > cutoff {
			break
		}
		r.sum.sub(&old.tally)
		r.n--
	}
	sum, start := r.sum, t
	if r.n > 0 {
		start = ring[oldest(len(ring), next, r.n)].from
	}
	if extra != nil && inWindow(extra, t, cutoff) {
		sum.add(&extra.tally)
		start = min(start, extra.from)
	}
	return sum, max(time.Duration(t-start), time.Second)
}

// rebuild sums the newest buckets of ring in the window (cutoff, t].
func (r *rolling) rebuild(ring []bucket, next int, t int64, w time.Duration) {
	r.sum, r.n, r.stale = tally{}, 0, false
	cutoff := t - int64(w)
	for r.n < len(ring) {
		b := &ring[(next-1-r.n+len(ring))%len(ring)]
		if !inWindow(b, t, cutoff) {
			break
		}
		r.sum.add(&b.tally)
		r.n++
	}
}

// oldest is the position of the oldest of the newest n buckets of a ring of length l
// whose next position is next (no division: it runs for every site at every tick).
func oldest(l, next, n int) int {
	if i := next - n; i >= 0 {
		return i
	}
	return next - n + l
}
