package admission

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// ctlSim drives a whole Controller (limit, queue order, reserve) in front of a simBackend
// (workers with a FIFO queue), on a simulated clock in steps of a millisecond. Requests come
// from flows; one not admitted at once gives up (its context is done), which counts as having
// waited, so that the simulation never blocks: a flow that retries (a closed-loop flood)
// asks again the next millisecond. Every answer's latency is the simulated time from
// admission to the backend's answer, queueing inside the backend included.
type ctlSim struct {
	c       *Controller
	clk     *fixedClock
	b       *simBackend
	ended   context.Context
	tickets map[int]simTicket
	id      int
	done    []simReq
}

type simTicket struct {
	tk   Ticket
	flow int
}

// simFlow is one kind of traffic: open-loop (Poisson arrivals at rate a second) or, with
// rate 0, closed-loop (clients that always have a request waiting: a flood).
type simFlow struct {
	tier    Tier
	site    string
	rate    float64
	clients int
	// patient: an open-loop request not admitted at once asks again every millisecond, ahead
	// of the flows listed after it (as people waiting in the queue are served before a less
	// trusted flood); it still counts as having waited.
	patient bool
}

// simResult counts, by flow, requests sent, admitted at once, and the backend latencies of
// the admitted ones.
type simResult struct {
	sent, atOnce []int
	latency      [][]time.Duration
	limits       []int // the backend's limit, every millisecond
}

func newCtlSim(workers int, page time.Duration) *ctlSim {
	clk := &fixedClock{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return &ctlSim{
		c:       New(Options{Clock: clk.now, SchedDelay: func() ProxyDelay { return ProxyDelay{} }}),
		clk:     clk,
		b:       &simBackend{workers: workers, pages: pageMix(5, page, page)},
		ended:   ctx,
		tickets: map[int]simTicket{},
	}
}

func (s *ctlSim) run(d time.Duration, seed uint64, flows ...simFlow) simResult {
	res := simResult{sent: make([]int, len(flows)), atOnce: make([]int, len(flows)), latency: make([][]time.Duration, len(flows))}
	rng := rand.New(rand.NewPCG(seed, 7))
	next := make([]time.Duration, len(flows)) // next open-loop arrival
	closed := make([]int, len(flows))         // closed-loop clients with a request to send
	waiting := make([]int, len(flows))        // patient requests not yet admitted
	start := s.clk.now()
	for i, f := range flows {
		closed[i] = f.clients
		if f.rate > 0 {
			next[i] = start + time.Duration(rng.ExpFloat64()/f.rate*float64(time.Second))
		}
	}
	for now := start; now < start+d; now += time.Millisecond {
		s.clk.mu.Lock()
		s.clk.t = now
		s.clk.mu.Unlock()
		s.done = s.b.step(now, s.done)
		for _, r := range s.done {
			st := s.tickets[r.with]
			delete(s.tickets, r.with)
			st.tk.Release(OutcomeOK)
			if st.flow < len(flows) {
				res.latency[st.flow] = append(res.latency[st.flow], now-r.admitted)
				if flows[st.flow].rate == 0 {
					closed[st.flow]++
				}
			}
		}
		admit := func(i int) bool {
			tk, err := s.c.Acquire(s.ended, flows[i].site, flows[i].tier, 0)
			if err != nil {
				return false
			}
			s.id++
			s.tickets[s.id] = simTicket{tk, i}
			s.b.queue = append(s.b.queue, simReq{admitted: now, with: s.id})
			return true
		}
		for i, f := range flows {
			for waiting[i] > 0 && admit(i) {
				waiting[i]--
			}
			if f.rate > 0 {
				for ; next[i] <= now; next[i] += time.Duration(rng.ExpFloat64() / f.rate * float64(time.Second)) {
					res.sent[i]++
					switch {
					case waiting[i] == 0 && admit(i):
						res.atOnce[i]++
					case f.patient:
						waiting[i]++
					}
				}
				continue
			}
			for closed[i] > 0 && admit(i) {
				closed[i]--
				res.sent[i]++
				res.atOnce[i]++
			}
		}
		res.limits = append(res.limits, s.c.Stats().Limit)
	}
	// Requests still in flight belong to the next run: mark them as no flow's.
	for id, st := range s.tickets {
		st.flow = len(flows) + 1
		s.tickets[id] = st
	}
	return res
}

func p95(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)*95/100]
}

// A calm day on a big backend (32 workers × 200 ms) with the reserve on: a steady mix of
// search engines, returning visitors, browsers and new visitors at about 60 % of its
// capacity. The more trusted tiers' reserve holds the less trusted back below the limit, and
// that is demand the limit has not met: with healthy latency the limit grows past it, and
// nobody waits. The session 5 matrix saw the opposite (all-open-3x-32w200, calm p95 1,070 ms
// against plain Caddy's 203): once slow start had ended (a moment's latency noise can end
// it), a request held back by the reserve alone did not count as demand, the limit stayed at
// 8 and people waited in admission all day. Both cases: slow start over from the start, and
// slow start as after a restart (the reserve then holds nobody back, see reserveFree).
func TestCalmBigBackendReserveGrows(t *testing.T) {
	calm := []simFlow{
		{TierTrusted, "a.test", 3, 0, false},    // 0.6 slots
		{TierReturning, "b.test", 40, 0, false}, // 8 slots
		{TierBrowser, "c.test", 25, 0, false},   // 5 slots
		{TierNew, "d.test", 30, 0, false},       // 6 slots: 19.6 of 32 in all
	}
	for _, slowStart := range []bool{false, true} {
		t.Run(fmt.Sprintf("slow start %v", slowStart), func(t *testing.T) {
			s := newCtlSim(32, 200*time.Millisecond)
			if !slowStart {
				s.c.mu.Lock()
				s.c.backend.slowStart = false
				s.c.mu.Unlock()
			}
			// 10 s: the first window's probe of its baseline (about 5 s at 8 and 6), then
			// a few windows of growth.
			warm := s.run(10*time.Second, 1, calm...)
			res := s.run(20*time.Second, 2, calm...)
			st := s.c.Stats()
			waited := 0
			for i := range calm {
				waited += res.sent[i] - res.atOnce[i]
			}
			t.Logf("limit %d → %d (slow start %v); reserved %v; warm-up: %d of %d at once; then %d of %d waited; p95 %v", warm.limits[0], st.Limit, s.c.backend.SlowStart(), st.Reserved, sum(warm.atOnce), sum(warm.sent), waited, sum(res.sent), p95(res.latency[1]))
			if !slowStart && st.Reserved[TierNew] == 0 { // none in slow start (see reserveFree)
				t.Fatal("no reserve against new visitors: the test shows nothing")
			}
			if waited*200 > sum(res.sent) { // the limit grows when met: a rare wait at its top
				t.Errorf("calm day: %d of %d requests waited in admission after 10 s, the limit at %d", waited, sum(res.sent), st.Limit)
			}
			if st.Limit < 24 {
				t.Errorf("limit %d on a calm 32-worker backend at 60 %% load with the reserve on: want it well past 8", st.Limit)
			}
		})
	}
}

func sum(n []int) int {
	s := 0
	for _, v := range n {
		s += v
	}
	return s
}

// A flood at a low tier, with people (returning visitors) on their own site, on a small
// backend whose limit the flood teaches from the start: once it is learned, people find a
// free slot on arrival (the reserve), and do not queue inside the backend either (the
// limit, grown by the flood held back by the reserve, stays below where the backend was
// measured to queue, so that the reserve is inside its capacity, not on top of it).
func TestFloodPeopleFindSlots(t *testing.T) {
	for _, tc := range []struct {
		workers int
		page    time.Duration
		people  float64 // a second
		flood   simFlow
	}{
		{4, 200 * time.Millisecond, 5, simFlow{TierUntrusted, "f.test", 0, 40, false}},
		{4, 200 * time.Millisecond, 5, simFlow{TierNew, "f.test", 0, 40, false}},
		{4, 200 * time.Millisecond, 5, simFlow{TierUntrusted, "f.test", 200, 0, false}},
		{8, 50 * time.Millisecond, 40, simFlow{TierUntrusted, "f.test", 0, 100, false}},
		{8, 50 * time.Millisecond, 40, simFlow{TierAutomation, "f.test", 1600, 0, false}},
	} {
		t.Run(fmt.Sprintf("%dw%v people %v/s flood %s %v/s %d clients", tc.workers, tc.page, tc.people, tc.flood.tier, tc.flood.rate, tc.flood.clients), func(t *testing.T) {
			s := newCtlSim(tc.workers, tc.page)
			people := simFlow{TierReturning, "p.test", tc.people, 0, false}
			s.run(10*time.Second, 1, people)
			s.run(20*time.Second, 2, tc.flood, people) // learn the flood
			res := s.run(20*time.Second, 3, tc.flood, people)
			st := s.c.Stats()
			slices.Sort(res.limits)
			lat := p95(res.latency[1])
			t.Logf("people %d/%d at once, backend p95 %v; flood %d admitted; limit median %d max %d; reserved %v; knee %v", res.atOnce[1], res.sent[1], lat, res.atOnce[0], res.limits[len(res.limits)/2], res.limits[len(res.limits)-1], st.Reserved, s.c.backend.kneeAt)
			// The reserve is the people's 99th percentile, and the flood keeps one slot: on
			// 4 workers that leaves people a few waits in a hundred.
			if waited := res.sent[1] - res.atOnce[1]; waited*20 > res.sent[1] {
				t.Errorf("%d of %d people waited for a slot under the flood", waited, res.sent[1])
			}
			if lat > tc.page*3/2 {
				t.Errorf("people's p95 %v in the backend, page %v: they queue inside it", lat, tc.page)
			}
			if res.atOnce[1] == 0 {
				t.Error("the flood got nothing: the test shows nothing")
			}
		})
	}
}

// The knee is the least concurrency whose answers took longer than those admitted with
// fewer in flight: a backend's workers, not a latency every answer shares.
func TestKnee(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name string
		lat  func(c int) time.Duration // latency of an answer admitted with c in flight
		upTo int                       // concurrencies seen: 1..upTo
		want int
	}{
		{"4 workers × 200 ms", func(c int) time.Duration { return 200 * ms * time.Duration(max(c, 4)) / 4 }, 8, 5},
		{"8 workers × 50 ms", func(c int) time.Duration { return 50 * ms * time.Duration(max(c, 8)) / 8 }, 12, 9},
		{"never passed", func(c int) time.Duration { return 50 * ms }, 12, 0},
		{"the proxy's delay, every answer alike", func(c int) time.Duration { return 150 * ms }, 12, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var k knee
			at := 0
			for w := 0; w < kneeMemory; w++ {
				for c := 1; c <= tc.upTo; c++ {
					for i := 0; i < 4; i++ {
						k.add(c, tc.lat(c)+time.Duration(i)*ms, 50*ms)
					}
				}
				at = k.close(0, at)
			}
			if at != tc.want {
				t.Errorf("knee %d, want %d", at, tc.want)
			}
			// Remembered while nothing is admitted that high, forgotten once answers there
			// are healthy (capacity added).
			for w := 0; w < 2*kneeMemory; w++ {
				for i := 0; i < 20; i++ {
					k.add(1, tc.lat(1), 50*ms)
				}
				at = k.close(0, at)
			}
			if at != tc.want {
				t.Errorf("knee %d after windows below it, want %d kept", at, tc.want)
			}
			for w := 0; w < 2*kneeMemory; w++ {
				for c := 1; c <= tc.upTo; c++ {
					for i := 0; i < 4; i++ {
						k.add(c, tc.lat(1), 50*ms)
					}
				}
				at = k.close(0, at)
			}
			if at != 0 {
				t.Errorf("knee %d once every concurrency answered healthy, want none", at)
			}
		})
	}
}

// A flood arriving on a small backend whose calm limit grew past its workers (session 6:
// 4 workers × 200 ms, a calm limit of 9 to 13, since calm traffic never reached the
// backend's knee): the flood fills the limit at once and people queue inside the backend
// until the limit comes down to its capacity. It must get there within about a page time
// of the flood's first answers, not after the two cohorts a tested cut takes (about 2 s at
// 200 ms pages, people's p95 1.95× in post-closed-10x-4w200). The requests the flood put in
// the backend's queue before the cut are there to stay (a FIFO backend serves them first):
// people who came during the flood's first second wait behind them whatever the limit
// does. From there on, people's backend p95 stays within 1.5 pages: pooled over ten runs,
// seconds 1 to 3 of the flood (main's code: 535-600 ms, the limit not yet cut after 1 s).
func TestFloodCutsCalmLimitToCapacity(t *testing.T) {
	for _, tc := range []struct {
		calmLimit int
		slowStart bool
		flood     simFlow
	}{
		{12, true, simFlow{TierUntrusted, "f.test", 0, 40, false}},
		{12, false, simFlow{TierUntrusted, "f.test", 0, 40, false}},
		{9, true, simFlow{TierUntrusted, "f.test", 0, 40, false}},
		{12, true, simFlow{TierNew, "f.test", 200, 0, false}},
	} {
		t.Run(fmt.Sprintf("calm limit %d slow start %v flood %s on %s %v/s %d clients", tc.calmLimit, tc.slowStart, tc.flood.tier, tc.flood.site, tc.flood.rate, tc.flood.clients), func(t *testing.T) {
			// Pooled over runs of different seeds: a few people a second, 2 s each.
			page := 200 * time.Millisecond
			var lat []time.Duration
			var cuts []int
			flood := 0
			for seed := uint64(1); seed <= 10; seed++ {
				s := newCtlSim(4, page)
				people := simFlow{TierReturning, "p.test", 5, 0, true}
				s.run(10*time.Second, 3*seed, people) // the baseline, at about one request in flight
				s.c.mu.Lock()
				// Grown untested past what calm traffic filled: in slow start, or after it by
				// the demand the reserve held back (see Limit.HeldBack).
				s.c.backend.limit, s.c.backend.slowStart = float64(tc.calmLimit), tc.slowStart
				s.c.mu.Unlock()
				first := s.run(time.Second, 3*seed+1, people, tc.flood)
				res := s.run(2*time.Second, 3*seed+2, people, tc.flood)
				lat = append(lat, res.latency[0]...)
				flood += first.atOnce[1] + res.atOnce[1]
				cuts = append(cuts, slices.IndexFunc(first.limits, func(n int) bool { return n < tc.calmLimit }))
			}
			t.Logf("people's backend p95 %v (%d answers); flood %d admitted; limit below %d after %v ms", p95(lat), len(lat), flood, tc.calmLimit, cuts)
			if p95(lat) > page*3/2 {
				t.Errorf("people's backend p95 %v in seconds 1-3 of the flood, page %v: they queue inside the backend", p95(lat), page)
			}
			if flood == 0 {
				t.Error("the flood got nothing: the test shows nothing")
			}
		})
	}
}

func every(n []int, k int) []int {
	var out []int
	for i := 0; i < len(n); i += k {
		out = append(out, n[i])
	}
	return out
}
