package admission

import (
	"context"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"runtime/metrics"
	"testing"
	"time"
)

// simSched is the proxy's delay on a simulated clock: at each moment, every answer reaching
// the proxy is delayed by delay(now), half of it a goroutine's wait for a CPU and half the
// lag of a network wake-up. As a SchedDelay it reports both integrated up to *now (one wait
// and one wake per simulated millisecond).
type simSched struct {
	now     *time.Duration
	delay   func(now time.Duration) time.Duration
	at      time.Duration
	d       ProxyDelay
	queried int
}

func (s *simSched) read() ProxyDelay {
	s.queried++
	for ; s.at < *s.now; s.at += time.Millisecond {
		half := s.delay(s.at) / 2
		s.d.Waits++
		s.d.Waited += half
		s.d.Wakes++
		s.d.WakeLag += half
	}
	return s.d
}

// burstyDelay is a proxy whose CPU a flood saturates in bursts: the delay it adds to each
// answer swings between about lo and hi, in phases of a second or two (a closed-loop flood
// answered with challenge pages comes in waves), with noise. It does not depend on how many
// requests are in flight to the backend: cutting the limit does not shorten it, but a cut
// tested while it happens to fall looks like it helped.
func burstyDelay(seed uint64, lo, hi time.Duration) func(now time.Duration) time.Duration {
	r := rand.New(rand.NewPCG(seed, 2))
	phase := make([]float64, 256)
	for i := range phase {
		phase[i] = r.Float64()
	}
	return func(now time.Duration) time.Duration {
		// Smooth between random levels every 1.5 s.
		x := now.Seconds() / 1.5
		i := int(x)
		f := x - float64(i)
		level := phase[i%len(phase)]*(1-f) + phase[(i+1)%len(phase)]*f
		jitter := 0.9 + 0.2*math.Abs(math.Sin(float64(now/time.Millisecond)*0.7))
		return time.Duration((float64(lo) + level*float64(hi-lo)) * jitter)
	}
}

// A flood the proxy answers itself saturates its CPU; its backend of 4 workers × 20 ms is
// idle but for the requests admitted (issue 11: the limit fell to 2-4 and people waited
// in admission with the backend a third busy). The proxy adds 10-150 ms to every answer,
// in waves; the Go runtime measures its goroutines' waits (SchedDelay), and the limit must
// not read them as the backend's queue: it stays at least at the workers, and keeps them
// busy.
func TestLimitSubtractsProxyDelay(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pages [2]time.Duration
	}{
		{"4 workers × 20ms", [2]time.Duration{20 * time.Millisecond, 20 * time.Millisecond}},
		{"4 workers × 20-80ms", [2]time.Duration{20 * time.Millisecond, 80 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var now time.Duration
			b := &simBackend{workers: 4, pages: pageMix(11, tc.pages[0], tc.pages[1])}
			sched := &simSched{now: &now, delay: func(time.Duration) time.Duration { return 0 }}
			l := NewLimit(0, 0, 0, now)
			l.SetSchedDelay(sched.read)
			simFlood(l, b, &now, 10*time.Second) // learn the healthy latency first
			sched.delay = burstyDelay(13, 10*time.Millisecond, 150*time.Millisecond)
			b.delay = func() time.Duration { return sched.delay(now) }
			simFlood(l, b, &now, 20*time.Second)
			b.busyTime = 0
			lat, limit := simFloodLimit(l, b, &now, 30*time.Second)
			busy := b.busyTime.Seconds() / (30 * float64(b.workers))
			t.Logf("limit %d (median of the last quarter), baseline %v, latency %v, backend busy %.0f%%, delay read %d times", limit, l.Baseline(), lat, 100*busy, sched.queried)
			if limit < b.workers {
				t.Errorf("limit %d below the backend's %d workers: the proxy's own delay drove it down", limit, b.workers)
			}
			// Without the delay the same flood keeps these workers 87-89 % busy; with it, and
			// without subtracting it, 11-21 % (the limit at its floor, 2).
			if busy < 0.75 {
				t.Errorf("backend busy %.0f%% of the time, want at least 75%%", 100*busy)
			}
		})
	}
}

// The proxy's delay does not hide the backend's own queue: with the proxy adding 30-60 ms to
// every answer, a backend that loses half its workers still has its limit cut to keep its
// queue short, and regains it when they come back.
func TestLimitFollowsCapacityDespiteProxyDelay(t *testing.T) {
	var now time.Duration
	b := &simBackend{workers: 8, pages: pageMix(17, 50*time.Millisecond, 50*time.Millisecond)}
	sched := &simSched{now: &now, delay: func(time.Duration) time.Duration { return 0 }}
	l := NewLimit(0, 0, 0, now)
	l.SetSchedDelay(sched.read)
	simFlood(l, b, &now, 10*time.Second)
	sched.delay = burstyDelay(19, 30*time.Millisecond, 60*time.Millisecond)
	b.delay = func() time.Duration { return sched.delay(now) }
	for _, phase := range []int{8, 4, 16} {
		b.workers = phase
		_, got := simFloodLimit(l, b, &now, 60*time.Second)
		b.busyTime = 0
		_, got = simFloodLimit(l, b, &now, 20*time.Second)
		busy := b.busyTime.Seconds() / (20 * float64(b.workers))
		t.Logf("%d workers: limit %d, baseline %v, busy %.0f%%", phase, got, l.Baseline(), 100*busy)
		if got < phase {
			t.Errorf("%d workers: limit %d leaves workers idle", phase, got)
		}
		// The proxy's delay holds no worker, so by Little's law it takes workers ×
		// (page + delay) / page requests in flight to keep them busy: here up to 2.2×.
		if high := phase*22/10 + phase/2 + 4; got > high {
			t.Errorf("%d workers: limit %d, want at most %d (the backend queues)", phase, got, high)
		}
	}
}

// The runtime's scheduling latencies and the wake probe read as counts and totals that only
// grow, and reading them does not allocate (a window of the limit reads them under the Controller's
// lock).
func TestRuntimeSchedDelay(t *testing.T) {
	read := RuntimeSchedDelay()
	d0 := read()
	// Goroutines handing a token around: each hand-off makes one runnable.
	done := make(chan struct{})
	ring := make([]chan int, 8)
	for i := range ring {
		ring[i] = make(chan int, 1)
	}
	for i := range ring {
		go func() {
			for {
				select {
				case <-done:
					return
				case v := <-ring[i]:
					ring[(i+1)%len(ring)] <- v + 1
				}
			}
		}()
	}
	ring[0] <- 0
	time.Sleep(20 * time.Millisecond)
	close(done)
	d1 := read()
	if d1.Waits <= d0.Waits || d1.Waited < d0.Waited || d1.Wakes < d0.Wakes || d1.WakeLag < d0.WakeLag {
		t.Fatalf("readings went %+v -> %+v: want counts that grow", d0, d1)
	}
	// The probe sent by the first reading is answered (the reader runs within a second).
	deadline := time.Now().Add(5 * time.Second)
	for read().Wakes == d0.Wakes && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if d2 := read(); d2.Wakes <= d0.Wakes || d2.WakeLag <= d0.WakeLag {
		t.Errorf("no network wake probed: %+v -> %+v", d0, d2)
	}
	if a := testing.AllocsPerRun(100, func() { read() }); a > 0 {
		t.Errorf("a reading allocates %v times, want 0", a)
	}
}

// histogramTotal counts every bucket at its middle, and the open-ended ones at their edge.
func TestHistogramTotal(t *testing.T) {
	h := &metrics.Float64Histogram{
		Counts:  []uint64{1, 2, 0, 3},
		Buckets: []float64{math.Inf(-1), 0.001, 0.003, 0.005, math.Inf(1)},
	}
	n, total := histogramTotal(h)
	want := time.Duration((1*0.001 + 2*0.002 + 3*0.005) * float64(time.Second))
	if n != 6 || total != want {
		t.Errorf("histogramTotal = %d, %v; want 6, %v", n, total, want)
	}
}

// A Controller passes its SchedDelay to the backend's limit and to every site's, and reports
// the estimate in Stats; with a simulated clock and none given, it subtracts nothing.
func TestControllerSchedDelay(t *testing.T) {
	for _, inject := range []bool{true, false} {
		var now time.Duration
		sched := &simSched{now: &now, delay: func(time.Duration) time.Duration { return 45 * time.Millisecond }}
		opts := Options{Clock: func() time.Duration { return now }}
		if inject {
			opts.SchedDelay = sched.read
		}
		c := New(opts)
		for i := 0; i < 200; i++ {
			tk, err := c.Acquire(context.Background(), "a.test", TierBrowser, 0)
			if err != nil {
				t.Fatal(err)
			}
			now += 10 * time.Millisecond
			tk.ReleaseAfter(OutcomeOK, 10*time.Millisecond)
		}
		got := c.Stats().Delay
		want := time.Duration(0)
		if inject {
			want = 45 * time.Millisecond
		}
		if got != want {
			t.Errorf("injected %v: Stats().Delay = %v, want %v", inject, got, want)
		}
		c.mu.Lock()
		site := c.sites[maphash.String(c.seed, "a.test")]
		c.mu.Unlock()
		if site == nil || site.limit.Delay() != want {
			t.Errorf("injected %v: the site's limit does not subtract the same delay (%v)", inject, site)
		}
	}
}
