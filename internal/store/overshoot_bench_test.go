package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/redistest"
	"github.com/ulule/limiter/v3"
)

// fleetCell is one measurement: N proxies (each a Batched store with its own
// Redis client, on one real redis-server) sharing a budget, under a paced
// load spread evenly over them.
type fleetCell struct {
	proxies int
	limit   int64 // per minute
	rps     int   // offered load, all proxies together
}

// fleetResult is what a cell admitted out of what it offered.
type fleetResult struct {
	fleetCell
	offered, admitted int64
}

func (r fleetResult) bound() int64 { return r.limit + r.limit/20 + int64(r.proxies) }

// runFleetCell runs c for d on the real clock (the caller keeps d inside
// one minute window) and returns the counts. prefix separates the cells'
// keys and peer sets in the one Redis.
func runFleetCell(t testing.TB, addr string, c fleetCell, d time.Duration, prefix string) fleetResult {
	t.Helper()
	stores := make([]*Batched, c.proxies)
	for i := range stores {
		client := newClient(t, addr)
		stores[i] = NewBatched(client, Options{KeyPrefix: prefix}, nil)
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	// Wait until every proxy has counted the others (heartbeats).
	deadline := time.Now().Add(5 * time.Second)
	for _, s := range stores {
		for s.Peers() != c.proxies {
			if time.Now().After(deadline) {
				t.Fatalf("%s: a proxy sees %d peers, want %d", prefix, s.Peers(), c.proxies)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	rate := limiter.Rate{Period: time.Minute, Limit: c.limit}
	const workers = 8 // per proxy, so a slow answer does not stall the pace
	var offered, admitted atomic.Int64
	var wg sync.WaitGroup
	perWorker := float64(c.rps) / float64(c.proxies*workers)
	n := int(perWorker * d.Seconds())
	for _, s := range stores {
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				for k := 0; k < n; k++ {
					if wait := time.Until(start.Add(time.Duration(float64(k) / perWorker * float64(time.Second)))); wait > 0 {
						time.Sleep(wait)
					}
					offered.Add(1)
					got, err := s.Increment(context.Background(), "bot:GPTBot|host:member.example", 1, rate)
					if err != nil {
						t.Error(err)
						return
					}
					if !got.Reached {
						admitted.Add(1)
					}
				}
			}()
		}
	}
	wg.Wait()
	return fleetResult{fleetCell: c, offered: offered.Load(), admitted: admitted.Load()}
}

// untilMinuteHasLeft waits, if needed, until the current minute window has
// at least d left: budgets are per clock-aligned minute, and a run that
// crossed into the next window would rightly admit more.
func untilMinuteHasLeft(d time.Duration) {
	if left := time.Minute - time.Duration(time.Now().UnixNano())%time.Minute; left < d {
		time.Sleep(left + 50*time.Millisecond)
	}
}

// BenchmarkFleetOvershoot measures what a fleet admits of one shared budget:
// 2 and 3 proxies, budgets 60/min and 600/min, offered load 100, 1,000 and
// 5,000 req/s spread over the proxies, 8 s each (every cell offers more
// than its budget), all cells at once inside one minute window, on one
// real redis-server on loopback. It fails a cell that admits more than
// limit × 1.05 + N and logs the table. Run it with
//
//	go test -run '^$' -bench FleetOvershoot -benchtime 1x ./internal/store/
func BenchmarkFleetOvershoot(b *testing.B) {
	srv := redistest.Start(b)
	for range b.N {
		const d = 8 * time.Second
		var cells []fleetCell
		for _, n := range []int{2, 3} {
			for _, limit := range []int64{60, 600} {
				for _, rps := range []int{100, 1000, 5000} {
					cells = append(cells, fleetCell{proxies: n, limit: limit, rps: rps})
				}
			}
		}
		untilMinuteHasLeft(d + 4*time.Second)
		results := make([]fleetResult, len(cells))
		var wg sync.WaitGroup
		for i, c := range cells {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = runFleetCell(b, srv.Addr, c, d, fmt.Sprintf("fleet%d-%d", b.N, i))
			}()
		}
		wg.Wait()
		var tab strings.Builder
		fmt.Fprintf(&tab, "\nproxies  budget/min  offered req/s  offered  admitted  bound (limit×1.05+N)\n")
		for _, r := range results {
			fmt.Fprintf(&tab, "%7d  %10d  %13d  %7d  %8d  %8d\n", r.proxies, r.limit, r.rps, r.offered, r.admitted, r.bound())
			if r.admitted > r.bound() {
				b.Errorf("%d proxies, %d/min, %d req/s: admitted %d, over the bound %d", r.proxies, r.limit, r.rps, r.admitted, r.bound())
			}
			if r.admitted < r.limit {
				b.Errorf("%d proxies, %d/min, %d req/s: admitted only %d of a budget of %d", r.proxies, r.limit, r.rps, r.admitted, r.limit)
			}
		}
		b.Log(tab.String())
	}
}
