package admission

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// Issue 11 through the whole Controller (the reserve included), on a simulated clock: a
// backend of 4 workers × 200 ms; people (browsers, their own site) send a page every
// peopleEvery; 40 closed-loop untrusted clients start after 30 s calm, their requests let
// through by a budget at rate a second in bursts of up to burst (a token bucket), the rest
// refused before admission. An admitted flood request that finds no room waits for it.
//
// What the simulation showed (main at 42ecc22): past slow start (learned: the matrix cell's
// calm limit of 9 set by hand) the limit never grew, the windows at the limit judged
// healthy or not on their mean of all answers notwithstanding. In slow start it did, 8 → 12:
// the reserve held the flood back, which in slow start counts the reserve as in use
// (Controller.start, for a calm big backend to grow), so the window was "reached" with 5 in
// flight and the answers healthy, and slow start multiplied the limit by 1.5 — a limit the
// backend never carried. The limit must stay where TestLimitFollowsCapacity keeps it.
func TestControllerBurstsDoNotGrowPastWorkers(t *testing.T) {
	for _, tc := range []struct {
		peopleEvery time.Duration
		rate, burst int
		learned     int
	}{
		{100 * time.Millisecond, 5, 10, 9},
		{100 * time.Millisecond, 10, 20, 9},
		{100 * time.Millisecond, 3, 40, 9},
		{70 * time.Millisecond, 5, 20, 9},
		{150 * time.Millisecond, 10, 40, 9},
		{100 * time.Millisecond, 20, 40, 9},
		{100 * time.Millisecond, 40, 40, 9},
		{100 * time.Millisecond, 5, 10, 0},
		{100 * time.Millisecond, 10, 20, 0},
		{100 * time.Millisecond, 3, 40, 0},
		{70 * time.Millisecond, 5, 20, 0},
		{150 * time.Millisecond, 10, 40, 0},
		{100 * time.Millisecond, 20, 40, 0},
	} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			const workers = 4
			page := 200 * time.Millisecond
			b := &simBackend{workers: workers, pages: pageMix(11, page, page)}
			clk := &fixedClock{}
			c := New(Options{Clock: clk.now, SchedDelay: func() ProxyDelay { return ProxyDelay{} }})
			ended, cancel := context.WithCancel(context.Background())
			cancel()
			tickets := map[int]Ticket{}
			person := map[int]bool{}
			id := 0
			var done []simReq
			var people, calmPeople []time.Duration
			var limits []int
			calmLimit := 0
			tokens, floodWaiting, peopleWaiting := 0, 0, 0
			const calm, run = 30 * time.Second, 150 * time.Second
			for now := time.Duration(0); now < run; now += time.Millisecond {
				clk.mu.Lock()
				clk.t = now
				clk.mu.Unlock()
				done = b.step(now, done)
				for _, r := range done {
					tickets[r.with].Release(OutcomeOK)
					delete(tickets, r.with)
					if person[r.with] {
						delete(person, r.with)
						switch {
						case now > run/2:
							people = append(people, now-r.admitted)
						case now > calm/2 && now < calm:
							calmPeople = append(calmPeople, now-r.admitted)
						}
					} else if now > calm {
						floodWaiting++ // the closed-loop client asks again at once
					}
				}
				if now%tc.peopleEvery == 0 {
					peopleWaiting++
				}
				if now >= calm {
					if now == calm { // the flood starts
						floodWaiting = 40
						if tc.learned > 0 { // slow start over, the limit learned
							c.mu.Lock()
							c.backend.slowStart, c.backend.limit = false, float64(tc.learned)
							c.mu.Unlock()
						}
						calmLimit = c.Stats().Limit
					}
					if now%(time.Second/time.Duration(tc.rate)) == 0 && tokens < tc.burst {
						tokens++
					}
				}
				admit := func(site string, tier Tier, isPerson bool) bool {
					tk, err := c.Acquire(ended, site, tier, 0)
					if err != nil {
						return false
					}
					id++
					tickets[id] = tk
					person[id] = isPerson
					b.queue = append(b.queue, simReq{admitted: now, with: id})
					return true
				}
				for peopleWaiting > 0 && admit("people.test", TierBrowser, true) {
					peopleWaiting--
				}
				for floodWaiting > 0 && tokens > 0 && admit("flood.test", TierUntrusted, false) {
					floodWaiting--
					tokens--
				}
				if now > run/2 {
					limits = append(limits, c.Stats().Limit)
				}
			}
			slices.Sort(limits)
			slices.Sort(people)
			slices.Sort(calmPeople)
			busy := b.busyTime.Seconds() / (run.Seconds() * workers)
			p95 := people[len(people)*95/100]
			top := limits[len(limits)-1]
			t.Logf("limit calm %d → flood median %d, max %d; people p95 %v (calm %v); backend busy %.0f%%", calmLimit, limits[len(limits)/2], top, p95, calmPeople[len(calmPeople)*95/100], 100*busy)
			if high := workers + workers/2 + 4; top > high {
				t.Errorf("limit reached %d on %d workers, want at most %d", top, workers, high)
			}
		})
	}
}
