package admission

import (
	"math/rand/v2"
	"testing"
	"time"
)

// simBackend is a backend of workers taking service times from a page mix, with a FIFO
// queue in front of them, driven on a simulated clock in steps of a millisecond.
type simBackend struct {
	workers int
	pages   func() time.Duration // service time of the next page
	queue   []simReq             // admitted, waiting for a worker
	busy    []simReq             // being served
}

type simReq struct{ admitted, done time.Duration }

// step advances the backend to time now and returns the answers completed.
func (b *simBackend) step(now time.Duration, out []simReq) []simReq {
	out = out[:0]
	kept := b.busy[:0]
	for _, r := range b.busy {
		if r.done <= now {
			out = append(out, r)
		} else {
			kept = append(kept, r)
		}
	}
	b.busy = kept
	for len(b.busy) < b.workers && len(b.queue) > 0 {
		r := b.queue[0]
		b.queue = b.queue[1:]
		r.done = now + b.pages()
		b.busy = append(b.busy, r)
	}
	return out
}

// simFlood drives l with a flood that always wants more than the limit, for d from *now,
// and returns the mean latency over the last quarter.
func simFlood(l *Limit, b *simBackend, now *time.Duration, d time.Duration) time.Duration {
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
			l.Sample(*now, lat, false, inflight)
			if *now > end-d/4 {
				sum += lat
				n++
			}
		}
		for inflight < l.Current() {
			inflight++
			l.Started(inflight)
			b.queue = append(b.queue, simReq{admitted: *now})
		}
		l.Pressure() // the flood always has more waiting
	}
	// Drain what is left so that the next phase starts clean of this one's requests.
	for ; inflight > 0; *now += time.Millisecond {
		done = b.step(*now, done)
		for _, r := range done {
			inflight--
			l.Sample(*now, *now-r.admitted, false, inflight)
		}
	}
	if n == 0 {
		return 0
	}
	return sum / time.Duration(n)
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
				lat := simFlood(l, b, &now, phase.d)
				got := l.Current()
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
		l.Started(2)
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
		l.Started(l.Current())
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
