package admission

import (
	"fmt"
	"testing"
	"time"
)

// A calm morning: a backend of many workers, and more visitors at once than the initial
// limit, the backend's latency at its own page cost throughout. The first window shows no
// queue (its answers are all as fast as those admitted at half the limit), so slow start
// grows the limit at once rather than first probing the baseline with the limit held (and
// cut by a quarter) for two measurements: visitors wait at the limit for a few windows of
// slow start only. Measured in simulated time: how long any request waited, in all.
func TestCalmStartWaitsOnlyForSlowStart(t *testing.T) {
	for _, tc := range []struct {
		clients, workers int
		page             time.Duration
	}{
		{24, 32, 100 * time.Millisecond},
		{30, 32, 200 * time.Millisecond},
		{40, 64, 50 * time.Millisecond},
	} {
		t.Run(fmt.Sprintf("%d clients on %d workers of %v", tc.clients, tc.workers, tc.page), func(t *testing.T) {
			b := &simBackend{workers: tc.workers, pages: pageMix(3, tc.page, tc.page)}
			var now time.Duration
			l := NewLimit(0, 0, 0, now)
			inflight, waiting := 0, tc.clients
			var done []simReq
			var waited time.Duration
			for ; now < 20*time.Second; now += time.Millisecond {
				done = b.step(now, done)
				for _, r := range done {
					inflight--
					l.SampleOf(now, now-r.admitted, false, inflight, r.with, r.admitted)
					waiting++
				}
				for ; waiting > 0 && inflight < l.Current(); waiting-- {
					inflight++
					l.Started(now, inflight)
					b.queue = append(b.queue, simReq{admitted: now, with: inflight})
				}
				if waiting > 0 {
					l.Pressure()
					waited += time.Millisecond
				}
			}
			// Slow start from 8 passes the clients within four windows of two pages each
			// (and the first, which learns the baseline).
			bound := 5 * 2 * tc.page
			t.Logf("requests waited during %v; limit %d, baseline %v", waited, l.Current(), l.Baseline())
			if waited > bound {
				t.Errorf("requests waited at the limit during %v of a calm load (bound %v)", waited, bound)
			}
			if l.Current() < tc.clients {
				t.Errorf("limit %d below the %d clients of a calm load", l.Current(), tc.clients)
			}
		})
	}
}
