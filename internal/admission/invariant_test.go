package admission

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Property: across random arrivals, tiers, sites with and without caps, and releases, a
// waiter is admitted only when no more trusted waiter could have been (one whose site had
// room), and after every step the queue invariant holds: with room in the backend, no site
// with room has a waiter. White-box: it drives the Controller's own enqueue, finish and
// dispatch under its lock, without goroutines, so every interleaving is reproducible.
func TestDispatchInvariants(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 2))
		c := newTestController(1+r.IntN(6), Options{})
		var held []*site
		var queued []*waiter
		c.mu.Lock()
		sites := make([]*site, 1+r.IntN(5))
		for i := range sites {
			sites[i] = c.lookup(uint64(i+1), 0)
			if r.IntN(3) == 0 {
				sites[i].cap = 1 + r.IntN(3)
			}
		}
		for step := 0; step < 300; step++ {
			if r.IntN(2) == 0 || len(held) == 0 {
				s := sites[r.IntN(len(sites))]
				tier := Tier(1 + r.IntN(NumTiers))
				if s.room() && c.backendRoom() {
					c.start(s, 0)
					held = append(held, s)
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
			s := held[i]
			held = append(held[:i], held[i+1:]...)
			// Before dispatch: the best tier any waiter with room could take.
			c.finish(s)
			best := Tier(NumTiers + 1)
			for _, w := range queued {
				if !w.granted && w.site.room() && w.tier < best {
					best = w.tier
				}
			}
			c.dispatch(0)
			var still []*waiter
			for _, w := range queued {
				switch {
				case w.granted:
					<-w.ready
					if w.tier > best {
						t.Fatalf("seed %d step %d: tier %s admitted while tier %s could have been", seed, step, w.tier, best)
					}
					held = append(held, w.site)
				default:
					still = append(still, w)
				}
			}
			queued = still
			if c.backendRoom() {
				for _, w := range queued {
					if w.site.room() {
						t.Fatalf("seed %d step %d: backend has room, site has room, a tier %s waiter waits", seed, step, w.tier)
					}
				}
			}
			if got := fmt.Sprint(c.waiting); got != fmt.Sprint(len(queued)) {
				t.Fatalf("seed %d: %s waiting counted, %d queued", seed, got, len(queued))
			}
		}
		c.mu.Unlock()
	}
}
