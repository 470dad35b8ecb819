package admission

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Property: across random arrivals, tiers, sites with and without caps, releases and
// reserves for the more trusted tiers, a waiter is admitted only when no more trusted
// waiter could have been (one whose site had room), and after every step the queue
// invariant holds: with room in the backend for a tier, no site with room has a waiter of
// that tier; room for a tier implies room for every more trusted one. White-box: it drives the Controller's own enqueue, finish and
// dispatch under its lock, without goroutines, so every interleaving is reproducible.
func TestDispatchInvariants(t *testing.T) {
	type slot struct {
		s    *site
		tier Tier
	}
	for seed := uint64(1); seed <= 400; seed++ {
		r := rand.New(rand.NewPCG(seed, 2))
		c := newTestController(1+r.IntN(6), Options{})
		var held []slot
		var queued []*waiter
		c.mu.Lock()
		// Half the seeds with a reserve for the more trusted tiers (random, as a measured
		// demand could set it), the limit past its slow start so that the reserve applies.
		reserved := seed%2 == 0
		if reserved {
			c.backend.slowStart = false
		}
		sites := make([]*site, 1+r.IntN(5))
		for i := range sites {
			sites[i] = c.lookup(uint64(i+1), 0)
			if r.IntN(3) == 0 {
				sites[i].cap = 1 + r.IntN(3)
			}
		}
		for step := 0; step < 300; step++ {
			if reserved && r.IntN(10) == 0 {
				// As measured: the reserve against a tier counts every tier above it, so
				// it never shrinks down the tiers.
				for tr, sum := TierReturning, 0; tr <= TierUntrusted; tr++ {
					sum += r.IntN(3)
					c.demand.reserve[tr] = sum
				}
				c.dispatch(0)
				var still []*waiter
				for _, w := range queued {
					if w.granted {
						<-w.ready
						held = append(held, slot{w.site, w.tier})
					} else {
						still = append(still, w)
					}
				}
				queued = still
			}
			if r.IntN(2) == 0 || len(held) == 0 {
				s := sites[r.IntN(len(sites))]
				tier := Tier(1 + r.IntN(NumTiers))
				if s.room() && c.roomFor(tier) {
					c.start(s, tier, 0, false)
					held = append(held, slot{s, tier})
					continue
				}
				w := c.waiters.Get().(*waiter)
				w.site, w.tier, w.seq = s, tier, c.seq
				c.seq++
				c.enqueue(w)
				queued = append(queued, w)
				continue
			}
			i := r.IntN(len(held))
			h := held[i]
			held = append(held[:i], held[i+1:]...)
			c.finish(h.s, h.tier, false)
			c.dispatch(0)
			// No waiter is admitted while a more trusted one whose site has room still
			// waits (one release may admit several: with the more trusted tiers' reserve
			// now in use, what is left of the limit may take a lower tier too).
			var still, granted []*waiter
			for _, w := range queued {
				if w.granted {
					<-w.ready
					granted = append(granted, w)
					held = append(held, slot{w.site, w.tier})
				} else {
					still = append(still, w)
				}
			}
			for _, g := range granted {
				for _, w := range still {
					if w.tier < g.tier && w.site.room() {
						t.Fatalf("seed %d step %d: tier %s admitted while tier %s, its site with room, waits", seed, step, g.tier, w.tier)
					}
				}
			}
			queued = still
			for _, w := range queued {
				if c.roomFor(w.tier) && w.site.room() {
					t.Fatalf("seed %d step %d: backend has room for tier %s, its site has room, and one waits", seed, step, w.tier)
				}
			}
			for tr := TierTrusted; tr < TierUntrusted; tr++ {
				if c.roomFor(tr+1) && !c.roomFor(tr) {
					t.Fatalf("seed %d step %d: room for tier %s but not for the more trusted %s", seed, step, tr+1, tr)
				}
			}
			// The reserve is kept: a tier holds no more than the limit less the free part
			// of every more trusted tiers' reserve, counted when it was admitted; here, that
			// the counts add up.
			n := 0
			for tr := TierTrusted; tr <= TierUntrusted; tr++ {
				n += c.tierInflight[tr]
			}
			if n != c.inflight || n != len(held) {
				t.Fatalf("seed %d step %d: %d in flight by tier, %d in all, %d held", seed, step, n, c.inflight, len(held))
			}
			if got := fmt.Sprint(c.waiting); got != fmt.Sprint(len(queued)) {
				t.Fatalf("seed %d: %s waiting counted, %d queued", seed, got, len(queued))
			}
		}
		c.mu.Unlock()
	}
}
