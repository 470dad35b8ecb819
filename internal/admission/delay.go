package admission

import (
	"errors"
	"math"
	"net"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// SchedDelay reports how long the proxy itself holds up an answer from its backend: the
// waits of its goroutines for a CPU, and the lag of its wake-ups on network events, as
// cumulative counts and totals (all monotonic). A Limit reads it once per window; the
// difference between two readings gives the window's delay per answer (see ProxyDelay).
//
// Why. The latency a Limit learns from is the upstream's time to first byte as the proxy sees
// it. When the proxy's CPU is saturated — by a flood it answers itself with challenges or
// refusals — the answer waits in the proxy before it is seen, and that wait read as the
// backend's queue: the limit cut itself to its floor and people waited in admission with the
// backend a third busy (issue 11). Two waits lie between the backend's answer and its first
// byte seen by the handler: net/http's transport's read loop wakes on the answer's bytes (a
// network wake: the runtime's netpoller notices the socket, which on a saturated proxy it
// may do only when its scheduler next looks, then the goroutine waits for a CPU), and the
// handler wakes on the read loop's hand-off (a wait for a CPU). The Go runtime measures the
// second (runtime/metrics /sched/latencies:seconds); the first is measured by a probe (a
// datagram sent to this process over loopback, timed to the wake-up of the goroutine
// reading it). A test proxy (httputil.ReverseProxy, a 20 ms backend, 2 cores saturated by
// 8-128 clients of a CPU-bound page) measured its time to first byte above calm at 1.0-1.1
// × their sum (0.24, 1.04 and 4.3 ms), where three scheduling waits made 0.6-0.8 of it.
type SchedDelay func() ProxyDelay

// ProxyDelay is a reading of a SchedDelay: cumulative counts and totals.
type ProxyDelay struct {
	// Waits counts goroutines that waited runnable before running; Waited is their total wait.
	Waits  uint64
	Waited time.Duration
	// Wakes counts network wake-ups probed; WakeLag is their total lag, from the event to the
	// woken goroutine running.
	Wakes   uint64
	WakeLag time.Duration
}

// means returns the mean scheduling wait and the mean wake lag between readings p and q (q
// later); ok is false for a term with nothing counted between them.
func (q ProxyDelay) means(p ProxyDelay) (wait time.Duration, waitOK bool, wake time.Duration, wakeOK bool) {
	if q.Waits > p.Waits && q.Waited >= p.Waited {
		wait, waitOK = (q.Waited-p.Waited)/time.Duration(q.Waits-p.Waits), true
	}
	if q.Wakes > p.Wakes && q.WakeLag >= p.WakeLag {
		wake, wakeOK = (q.WakeLag-p.WakeLag)/time.Duration(q.Wakes-p.Wakes), true
	}
	return
}

// DelaySince returns the latency the proxy added to each answer between readings p and q (q
// later): one scheduling wait and one network wake, each the mean between them. wait and
// wake hold the last means measured: a term with nothing counted between p and q keeps its
// value (a probe still under way), one with something counted is updated. A Limit reads it
// at each window; floodgate's answer pacer at each of its ticks.
func (q ProxyDelay) DelaySince(p ProxyDelay, wait, wake *time.Duration) time.Duration {
	w, waitOK, k, wakeOK := q.means(p)
	if waitOK {
		*wait = w
	}
	if wakeOK {
		*wake = k
	}
	return *wait + *wake
}

// RuntimeSchedDelay returns a SchedDelay that reads this process's scheduling latencies from
// runtime/metrics and probes its network wake-ups (each call sends one probe, unless one is
// under way; its lag counts in a later reading). It does not allocate after its first call;
// it is not safe for concurrent use (a Controller calls it under its lock).
func RuntimeSchedDelay() SchedDelay {
	sample := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	probe := theWakeProbe()
	return func() ProxyDelay {
		var d ProxyDelay
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindFloat64Histogram {
			d.Waits, d.Waited = histogramTotal(sample[0].Value.Float64Histogram())
		}
		if probe != nil {
			d.Wakes, d.WakeLag = probe.read()
		}
		return d
	}
}

// wakeProbe measures how late a goroutine blocked on a socket runs once data arrives: a
// loopback UDP socket read by one goroutine, to which read sends a datagram (one at a time)
// stamped by the monotonic clock. One per process, made on first use.
type wakeProbe struct {
	out     *net.UDPConn
	buf     [1]byte
	t0      time.Time
	sentAt  atomic.Int64 // ns since t0 of the datagram under way; 0: none
	n, lagN atomic.Int64 // probes answered, and their total lag in ns
}

var (
	probeOnce sync.Once
	probe     *wakeProbe
)

// theWakeProbe returns the process's probe, nil if loopback UDP is not available.
func theWakeProbe() *wakeProbe {
	probeOnce.Do(func() {
		in, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return
		}
		out, err := net.DialUDP("udp", nil, in.LocalAddr().(*net.UDPAddr))
		if err != nil {
			in.Close()
			return
		}
		p := &wakeProbe{out: out, t0: time.Now()}
		go p.loop(in)
		probe = p
	})
	return probe
}

// loop reads the probes for the life of the process.
func (p *wakeProbe) loop(in *net.UDPConn) {
	var b [16]byte
	for {
		if _, err := in.Read(b[:]); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if at := p.sentAt.Swap(0); at > 0 {
			p.lagN.Add(int64(time.Since(p.t0)) - at)
			p.n.Add(1)
		}
	}
}

// read returns the probes answered and their total lag, and sends the next probe if none is
// under way.
func (p *wakeProbe) read() (uint64, time.Duration) {
	if p.sentAt.Load() == 0 {
		p.sentAt.Store(max(int64(time.Since(p.t0)), 1))
		if _, err := p.out.Write(p.buf[:]); err != nil {
			p.sentAt.Store(0)
		}
	}
	return uint64(p.n.Load()), time.Duration(p.lagN.Load())
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

// readDelay reads l's delay source at the close of a window and sets l.delay to the latency
// the proxy added to each answer since the last reading: one scheduling wait and one network
// wake (see SchedDelay), each the mean since the last reading that counted any. The window's answers are judged
// without it: the delay measured over the same span as they came.
func (l *Limit) readDelay() {
	if l.sched == nil {
		return
	}
	d := l.sched()
	l.delay = d.DelaySince(l.schedLast, &l.waitMean, &l.wakeMean)
	l.schedLast = d
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
	l.sched, l.delay, l.schedLast, l.waitMean, l.wakeMean = src, 0, ProxyDelay{}, 0, 0
	if src != nil {
		l.schedLast = src()
	}
}

// Delay is the latency the proxy itself added to each answer in the last window, as l
// estimated it (0 without a SchedDelay).
func (l *Limit) Delay() time.Duration { return l.delay }
