package admission

import (
	"math"
	"runtime/metrics"
	"time"
)

// SchedDelay reports how long the proxy's own goroutines have waited to run: how many times
// one became runnable, and the total time such goroutines waited before a CPU ran them, since
// some fixed start (both monotonic). A Limit reads it once per window, and the difference
// between two readings is the window's mean scheduling delay.
//
// Why. The latency a Limit learns from is the upstream's time to first byte as the proxy sees
// it. Between sending a request and seeing its answer's first byte, the answer passes
// through proxyHops goroutine hand-offs (net/http's transport: the connection's write loop
// sends the request, its read loop wakes when the answer arrives, the handler wakes when the
// read loop hands it the response), and each waits its turn for a CPU. When the proxy's CPU is
// saturated — by a flood it answers itself with challenges or refusals — those waits are most
// of the latency while the backend sits idle, and a limit that reads them as the backend's
// queue cuts itself to its floor and makes people wait in admission for nothing (issue 11).
// The Go runtime measures those waits directly (runtime/metrics /sched/latencies:seconds),
// so the limit subtracts them instead of guessing.
type SchedDelay func() (waits uint64, waited time.Duration)

// proxyHops is how many goroutine hand-offs lie on the path between sending a request
// upstream and seeing its answer's first byte in net/http's reverse proxy (see SchedDelay):
// a property of the proxy's code, not of an installation.
const proxyHops = 3

// RuntimeSchedDelay returns a SchedDelay that reads this process's scheduling latencies from
// runtime/metrics. It does not allocate after its first call; it is not safe for concurrent
// use (a Controller calls it under its lock).
func RuntimeSchedDelay() SchedDelay {
	sample := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	return func() (uint64, time.Duration) {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindFloat64Histogram {
			return 0, 0
		}
		return histogramTotal(sample[0].Value.Float64Histogram())
	}
}

// histogramTotal returns the count of h and the sum of its values, each bucket's count taken
// at the bucket's middle (at its finite edge for the open-ended first and last buckets).
func histogramTotal(h *metrics.Float64Histogram) (uint64, time.Duration) {
	var n uint64
	var sum float64
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		lo, hi := h.Buckets[i], h.Buckets[i+1]
		var mid float64
		switch {
		case math.IsInf(lo, -1) && math.IsInf(hi, 1):
			continue
		case math.IsInf(lo, -1):
			mid = math.Max(hi, 0)
		case math.IsInf(hi, 1):
			mid = lo
		default:
			mid = (lo + hi) / 2
		}
		n += c
		sum += float64(c) * mid
	}
	return n, time.Duration(sum * float64(time.Second))
}

// readDelay reads l's scheduling delay source at the close of a window and sets l.delay to
// the latency the proxy added to each answer during it: proxyHops × the mean wait of a
// runnable goroutine since the last reading. The window's answers are judged without it:
// the delay measured over the same span as they came.
func (l *Limit) readDelay() {
	if l.sched == nil {
		return
	}
	n, total := l.sched()
	if n < l.schedN || total < l.schedTotal {
		l.schedN, l.schedTotal = n, total // the source restarted
		return
	}
	if dn := n - l.schedN; dn > 0 {
		l.delay = proxyHops * (total - l.schedTotal) / time.Duration(dn)
	}
	l.schedN, l.schedTotal = n, total
}

// own is the part of a mean latency that is the backend's: the mean less delay, the mean
// delay the proxy added to those answers (each window's, for the answers that came in it), but
// never below the healthy latency (the proxy's delay explains a climb, not the backend's
// own time, and the baseline must not learn from an estimate; before a baseline is learned,
// nothing is taken off).
func (l *Limit) own(mean, delay float64) float64 {
	base := float64(l.baseline)
	if delay <= 0 || base <= 0 || mean <= base {
		return mean
	}
	return math.Max(mean-delay, base)
}

// SetSchedDelay makes l subtract the proxy's scheduling delay, read from src once per
// window, from the latencies it learns from (nil: nothing is subtracted).
func (l *Limit) SetSchedDelay(src SchedDelay) {
	l.sched, l.delay = src, 0
	if src != nil {
		l.schedN, l.schedTotal = src()
	}
}

// Delay is the latency the proxy itself added to each answer in the last window, as l
// estimated it (0 without a SchedDelay).
func (l *Limit) Delay() time.Duration { return l.delay }
