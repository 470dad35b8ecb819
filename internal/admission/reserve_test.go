package admission

import (
	"context"
	"testing"
	"time"
)

// reserveSim drives a Controller on a simulated clock, in 1 ms steps, with loads: each
// sends n requests of its tier every `every` on its own site, and every admitted request
// holds its slot for the load's hold. A request not admitted at once gives up at once (its
// context is done), as a refusal, so that the simulation never blocks and counts only who
// found a free slot on arrival. Within a step the loads arrive in the order given: people
// last, so that a flood gets the slots freed that step first.
type reserveSim struct {
	c     *Controller
	clk   *fixedClock
	held  []simSlot
	ended context.Context
}

type simSlot struct {
	tk    Ticket
	until time.Duration
}

type load struct {
	tier  Tier
	every time.Duration
	n     int
	hold  time.Duration
}

// simCounts counts, by load, the requests sent and those admitted at once.
type simCounts struct{ sent, atOnce []int }

// newReserveSim returns a Controller capped at limit, past its slow start (as after a first
// flood: the reserve applies only once the backend's capacity is known to be near).
func newReserveSim(limit int) *reserveSim {
	clk := &fixedClock{}
	c := New(Options{BackendCap: limit, Clock: clk.now})
	c.backend.slowStart = false
	c.backend.limit = float64(limit)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return &reserveSim{c: c, clk: clk, ended: ctx}
}

func (r *reserveSim) run(d time.Duration, loads ...load) simCounts {
	n := simCounts{make([]int, len(loads)), make([]int, len(loads))}
	for end := r.clk.now() + d; r.clk.now() < end; {
		r.clk.mu.Lock()
		r.clk.t += time.Millisecond
		now := r.clk.t
		r.clk.mu.Unlock()
		kept := r.held[:0]
		for _, h := range r.held {
			if h.until <= now {
				h.tk.Release(OutcomeOK)
			} else {
				kept = append(kept, h)
			}
		}
		r.held = kept
		for i, l := range loads {
			if l.n == 0 || now%l.every != 0 {
				continue
			}
			for j := 0; j < l.n; j++ {
				n.sent[i]++
				if tk, err := r.c.Acquire(r.ended, l.tier.String()+".test", l.tier, 0); err == nil {
					n.atOnce[i]++
					r.held = append(r.held, simSlot{tk, now + l.hold})
				}
			}
		}
	}
	return n
}

// Under a flood, people find a free slot on arrival: the flood, of a lower tier, is not
// admitted into the slots reserved for the people's measured demand, and still takes the
// rest of the limit.
func TestReserveKeepsSlotsForPeople(t *testing.T) {
	// People: one every 20 ms holding 100 ms, 5 slots on average; the flood asks for 25
	// times the limit.
	people := load{TierReturning, 20 * time.Millisecond, 1, 100 * time.Millisecond}
	for _, tier := range []Tier{TierNew, TierAutomation, TierUntrusted} {
		flood := load{tier, time.Millisecond, 5, 100 * time.Millisecond}
		r := newReserveSim(20)
		r.run(2*time.Second, people)
		n := r.run(3*time.Second, flood, people)
		st := r.c.Stats()
		t.Logf("flood %s: people %d/%d at once; flood %d/%d; reserved %v; limit %d", tier, n.atOnce[1], n.sent[1], n.atOnce[0], n.sent[0], st.Reserved, st.Limit)
		if n.atOnce[1] != n.sent[1] {
			t.Errorf("flood %s: %d of %d people waited for a slot", tier, n.sent[1]-n.atOnce[1], n.sent[1])
		}
		if st.Reserved[tier] < 5 {
			t.Errorf("flood %s: %d slots reserved for people's demand of 5", tier, st.Reserved[tier])
		}
		if n.atOnce[0] == 0 || st.InflightByTier[tier] < st.Limit-st.Reserved[tier] {
			t.Errorf("flood %s: %d in flight, want the limit %d less the reserve %d", tier, st.InflightByTier[tier], st.Limit, st.Reserved[tier])
		}
	}
}

// The same people under the same flood, but of the flood's own tier (nothing is reserved
// against a tier for itself), do wait: the test above shows the reserve, not a flood too
// weak to fill the limit.
func TestWithoutReservePeopleWait(t *testing.T) {
	people := load{TierUntrusted, 20 * time.Millisecond, 1, 100 * time.Millisecond}
	flood := load{TierUntrusted, time.Millisecond, 5, 100 * time.Millisecond}
	r := newReserveSim(20)
	r.run(2*time.Second, people)
	n := r.run(3*time.Second, flood, people)
	if n.atOnce[1] > n.sent[1]/2 {
		t.Errorf("without a reserve, %d of %d people found a free slot under the flood: the flood is too weak", n.atOnce[1], n.sent[1])
	}
	if st := r.c.Stats(); st.Reserved[TierUntrusted] != 0 {
		t.Errorf("reserved %v against the people's own tier", st.Reserved)
	}
}

// In slow start (a calm big backend whose capacity the limit has not found yet), the
// reserve holds nobody back: the limit is looking for the backend's capacity, not at it,
// and a slot held free below it is a request waiting with the backend idle (a calm big
// backend just started took 6 s instead of 2.5 to probe its first baseline, people's calm
// p95 863 ms against plain Caddy's 204). The demand is measured all the same, ready for
// when the latency climbs.
func TestReserveNotInSlowStart(t *testing.T) {
	clk := &fixedClock{}
	c := New(Options{Clock: clk.now})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := &reserveSim{c: c, clk: clk, ended: ctx}
	people := load{TierReturning, 20 * time.Millisecond, 1, 100 * time.Millisecond} // 5 slots
	auto := load{TierAutomation, time.Millisecond, 1, 20 * time.Millisecond}        // 20 slots
	r.run(time.Second, people)
	r.run(5*time.Second, auto, people)
	n := r.run(time.Second, auto, people)
	st := c.Stats()
	t.Logf("limit %d; reserved %v (measured %v); automation %d/%d at once; slow start %v", st.Limit, st.Reserved, c.demand.reserve, n.atOnce[0], n.sent[0], c.backend.SlowStart())
	if !c.backend.SlowStart() || c.demand.reserve[TierAutomation] < DefaultInitialLimit/2 {
		t.Fatalf("the test wants slow start and a measured reserve of half the initial limit: %v, %v", c.backend.SlowStart(), c.demand.reserve)
	}
	if st.Reserved != [NumTiers + 1]int{} || n.atOnce[0] != n.sent[0] || n.atOnce[1] != n.sent[1] {
		t.Errorf("slow start: reserved %v; automation %d of %d, people %d of %d admitted at once", st.Reserved, n.atOnce[0], n.sent[0], n.atOnce[1], n.sent[1])
	}
	if st.Limit < 25 {
		t.Errorf("slow start kept the limit at %d under 25 slots of demand", st.Limit)
	}
}

// Calm: demand below the limit, people and other tiers together, no one waits, the reserve
// notwithstanding (it only matters at the limit).
func TestReserveCalmAdmitsAll(t *testing.T) {
	// People 5 slots on average (a reserve of 11), automation 5 (one every 4 ms holding
	// 20 ms): 10 of 20 in use, 11 reserved, never more than the limit.
	people := load{TierReturning, 20 * time.Millisecond, 1, 100 * time.Millisecond}
	auto := load{TierAutomation, 4 * time.Millisecond, 1, 20 * time.Millisecond}
	r := newReserveSim(20)
	r.run(time.Second, people)
	n := r.run(3*time.Second, people, auto)
	st := r.c.Stats()
	t.Logf("people %d/%d, automation %d/%d at once; reserved %v", n.atOnce[0], n.sent[0], n.atOnce[1], n.sent[1], st.Reserved)
	if st.Reserved[TierAutomation] == 0 {
		t.Fatal("no reserve measured: the test shows nothing")
	}
	if n.atOnce[0] != n.sent[0] || n.atOnce[1] != n.sent[1] {
		t.Errorf("calm: %d of %d people and %d of %d automation waited", n.sent[0]-n.atOnce[0], n.sent[0], n.sent[1]-n.atOnce[1], n.sent[1])
	}
}

// The reserve follows the people's demand: it shrinks when fewer come (the flood gets the
// slots back), grows when more do, and is gone some seconds after they stop.
func TestReserveAdapts(t *testing.T) {
	hold := 100 * time.Millisecond
	flood := load{TierUntrusted, time.Millisecond, 2, hold}
	busyPeople := load{TierBrowser, 10 * time.Millisecond, 1, hold}  // 10 slots
	quietPeople := load{TierBrowser, 50 * time.Millisecond, 1, hold} // 2 slots
	r := newReserveSim(40)
	r.run(3*time.Second, flood, busyPeople)
	busy := r.c.Stats().Reserved[TierUntrusted]
	r.run(3*time.Second, flood, quietPeople)
	quiet := r.c.Stats().Reserved[TierUntrusted]
	r.run(3*time.Second, flood, busyPeople)
	again := r.c.Stats().Reserved[TierUntrusted]
	n := r.run(10*time.Second, flood)
	st := r.c.Stats()
	t.Logf("reserve: %d busy, %d quiet, %d busy again, %d gone; flood %d in flight of %d", busy, quiet, again, st.Reserved[TierUntrusted], st.InflightByTier[TierUntrusted], st.Limit)
	if !(quiet < busy && quiet < again) {
		t.Errorf("reserve did not follow the demand: %d at 10 slots, %d at 2, %d at 10", busy, quiet, again)
	}
	if busy < 10 || quiet < 2 {
		t.Errorf("reserve below the mean demand: %d for 10 slots, %d for 2", busy, quiet)
	}
	if st.Reserved[TierUntrusted] != 0 || st.InflightByTier[TierUntrusted] != st.Limit || n.atOnce[0] == 0 {
		t.Errorf("people gone: reserve %d, flood holds %d of %d", st.Reserved[TierUntrusted], st.InflightByTier[TierUntrusted], st.Limit)
	}
}

// An attacker cannot grow the reserve held against others: a flood of any size, of a tier
// anyone can claim (new browsers, untrusted), leaves the reserve against every tier down to
// its own exactly what the people's demand sets: it reserves nothing against its own tier's
// requests or those of any tier above it.
func TestFloodCannotInflateReserve(t *testing.T) {
	people := load{TierReturning, 20 * time.Millisecond, 1, 100 * time.Millisecond}
	quiet := newReserveSim(20)
	quiet.run(3*time.Second, people)
	want := quiet.c.Stats().Reserved
	for _, tier := range []Tier{TierNew, TierUntrusted} {
		for _, perStep := range []int{1, 20} {
			r := newReserveSim(20)
			r.run(3*time.Second, load{tier, time.Millisecond, perStep, 100 * time.Millisecond}, people)
			got := r.c.Stats().Reserved
			for tr := TierTrusted; tr <= tier; tr++ {
				if got[tr] != want[tr] {
					t.Errorf("flood %s × %d a step: reserve against tier %s %d, %d without the flood", tier, perStep, tr, got[tr], want[tr])
				}
			}
		}
	}
}

func TestPoissonQuantile(t *testing.T) {
	for _, tc := range []struct {
		mean float64
		want int
	}{
		{0, 0}, {0.005, 0}, {0.02, 1}, {1, 4}, {5, 11}, {10, 18},
	} {
		if got := poissonQuantile(tc.mean, 0.99); got != tc.want {
			t.Errorf("poissonQuantile(%v) = %d, want %d", tc.mean, got, tc.want)
		}
	}
	// The normal approximation takes over without a jump.
	a, b := poissonQuantile(400, 0.99), poissonQuantile(400.001, 0.99)
	if d := b - a; d < -1 || d > 1 {
		t.Errorf("quantile jumps at 400: %d, %d", a, b)
	}
}

// A reserve larger than the limit (a small backend, people's Poisson margin) still leaves
// the lower tiers one slot: they are never shut out while the backend idles.
func TestReserveLeavesOneSlot(t *testing.T) {
	people := load{TierBrowser, 50 * time.Millisecond, 1, 100 * time.Millisecond} // 2 slots: 6 reserved
	flood := load{TierNew, time.Millisecond, 5, 100 * time.Millisecond}
	r := newReserveSim(3)
	r.run(2*time.Second, people)
	n := r.run(3*time.Second, flood, people)
	st := r.c.Stats()
	t.Logf("reserved %v of %d; new %d/%d admitted at once; people %d/%d", st.Reserved, st.Limit, n.atOnce[0], n.sent[0], n.atOnce[1], n.sent[1])
	if st.Reserved[TierNew] < st.Limit {
		t.Fatalf("reserve %d below the limit %d: the test shows nothing", st.Reserved[TierNew], st.Limit)
	}
	if n.atOnce[0] < 3000/100 { // at least one slot, held 100 ms, over 3 s
		t.Errorf("new browsers got %d slots in 3 s under a reserve larger than the limit", n.atOnce[0])
	}
	if n.atOnce[1] != n.sent[1] {
		t.Errorf("%d of %d people waited", n.sent[1]-n.atOnce[1], n.sent[1])
	}
}

// The tiers floodgate verified (a pass, a visitor cookie) are not held back for the Poisson
// margin of those above them: on a small backend the margin of the trusted tier's one slot
// in use (4 slots) took all but one of the limit, and returning visitors waited with the
// backend half idle (all-open-30x-4w200). New visitors and below still leave the margin of
// everyone above them.
func TestReserveNotAgainstVerifiedTiers(t *testing.T) {
	trusted := load{TierTrusted, 100 * time.Millisecond, 1, 100 * time.Millisecond}    // 1 slot
	returning := load{TierReturning, 50 * time.Millisecond, 1, 100 * time.Millisecond} // 2 slots
	browser := load{TierBrowser, 100 * time.Millisecond, 1, 100 * time.Millisecond}    // 1 slot
	r := newReserveSim(5)
	r.run(2*time.Second, trusted, returning, browser)
	n := r.run(3*time.Second, trusted, returning, browser)
	st := r.c.Stats()
	t.Logf("reserved %v of %d; at once: trusted %d/%d, returning %d/%d, browser %d/%d", st.Reserved, st.Limit, n.atOnce[0], n.sent[0], n.atOnce[1], n.sent[1], n.atOnce[2], n.sent[2])
	if st.Reserved[TierReturning] != 0 || st.Reserved[TierBrowser] != 0 || st.Reserved[TierNew] < 4 {
		t.Errorf("reserved %v: want none against returning visitors and browsers, people's margin against new ones", st.Reserved)
	}
	for i := range n.sent {
		if n.atOnce[i] != n.sent[i] {
			t.Errorf("load %d: %d of %d waited, 4 of 5 slots in use", i, n.sent[i]-n.atOnce[i], n.sent[i])
		}
	}
}
