package admission

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"testing"
	"time"
)

// eventually polls cond until it holds; it fails the test after a generous bound. It only
// synchronises with goroutines (a waiter reaching the queue); it asserts nothing on time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 20000; i++ {
		if cond() {
			return
		}
		time.Sleep(500 * time.Microsecond)
	}
	t.Fatalf("never happened: %s", what)
}

// fixedClock is a clock that moves only when told, so that no limit learns anything the
// test did not feed it.
type fixedClock struct {
	mu sync.Mutex
	t  time.Duration
}

func (c *fixedClock) now() time.Duration { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// newTestController returns a Controller whose backend limit is capped at cap, on a clock
// that does not move.
func newTestController(cap int, opts Options) *Controller {
	opts.BackendCap = cap
	opts.Clock = (&fixedClock{}).now
	return New(opts)
}

// hold acquires n slots of site at once; they must be admitted without waiting.
func hold(t *testing.T, c *Controller, site string, siteCap, n int) []Ticket {
	t.Helper()
	var out []Ticket
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // a wait would end at once with context.Canceled
		tk, err := c.Acquire(ctx, site, TierBrowser, siteCap)
		if err != nil {
			t.Fatalf("hold %s #%d: want immediate admission, got %v", site, i, err)
		}
		out = append(out, tk)
	}
	return out
}

type outcome struct {
	name string
	tier Tier
	err  error
	tk   Ticket
}

// queued starts an Acquire in a goroutine and returns once it waits in the queue.
func queued(t *testing.T, c *Controller, ctx context.Context, site string, tier Tier, siteCap int, name string, out chan outcome) {
	t.Helper()
	before := c.Stats().Waiting
	go func() {
		tk, err := c.Acquire(ctx, site, tier, siteCap)
		out <- outcome{name, tier, err, tk}
	}()
	eventually(t, name+" waiting", func() bool { return c.Stats().Waiting == before+1 })
}

// A lower tier is never admitted while a higher tier waits: whatever the order of arrival
// and the sites, slots freed one at a time go to the waiters most trusted first.
func TestTierOrder(t *testing.T) {
	c := newTestController(1, Options{})
	held := hold(t, c, "x.test", 0, 1)
	out := make(chan outcome, 16)
	arrivals := []struct {
		site string
		tier Tier
	}{
		{"a.test", TierUntrusted}, {"b.test", TierBrowser}, {"a.test", TierAutomation},
		{"c.test", TierTrusted}, {"b.test", TierUntrusted}, {"a.test", TierReturning},
		{"c.test", TierBrowser}, {"b.test", TierTrusted},
	}
	for i, a := range arrivals {
		queued(t, c, context.Background(), a.site, a.tier, 0, fmt.Sprintf("#%d %s %s", i, a.site, a.tier), out)
	}
	held[0].Release(OutcomeIgnore)
	var last Tier
	for range arrivals {
		o := <-out
		if o.err != nil {
			t.Fatalf("%s: %v", o.name, o.err)
		}
		if o.tier < last {
			t.Errorf("%s admitted after a less trusted waiter (tier %s)", o.name, last)
		}
		for tr := TierTrusted; tr < o.tier; tr++ {
			if n := c.Stats().WaitingByTier[tr]; n > 0 {
				t.Errorf("%s admitted while %d of tier %s wait", o.name, n, tr)
			}
		}
		last = o.tier
		o.tk.Release(OutcomeIgnore)
	}
}

// A more trusted arrival takes the place of the newest waiter of the least trusted tier
// when the queue is full; an arrival no more trusted than anyone waiting is refused at
// once. The same holds inside one site's share of the queue.
func TestPushOutByTier(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"backend queue full", Options{QueueLen: 3, SiteQueueLen: 3}},
		{"site queue full", Options{QueueLen: 100, SiteQueueLen: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestController(1, tc.opts)
			held := hold(t, c, "a.test", 0, 1)
			out := make(chan outcome, 8)
			queued(t, c, context.Background(), "a.test", TierAutomation, 0, "automation", out)
			queued(t, c, context.Background(), "a.test", TierUntrusted, 0, "crawler 1", out)
			queued(t, c, context.Background(), "a.test", TierUntrusted, 0, "crawler 2", out)

			if _, err := c.Acquire(context.Background(), "a.test", TierUntrusted, 0); !errors.Is(err, ErrQueueFull) {
				t.Fatalf("crawler 3 on a full queue: got %v, want ErrQueueFull", err)
			}
			// A browser takes crawler 2's place (the newest of the least trusted tier).
			go func() {
				tk, err := c.Acquire(context.Background(), "a.test", TierBrowser, 0)
				out <- outcome{"browser", TierBrowser, err, tk}
			}()
			if o := <-out; o.name != "crawler 2" || !errors.Is(o.err, ErrShed) {
				t.Fatalf("got %s %v, want crawler 2 shed", o.name, o.err)
			}
			eventually(t, "browser waiting", func() bool { return c.Stats().WaitingByTier[TierBrowser] == 1 })
			held[0].Release(OutcomeIgnore)
			if o := <-out; o.name != "browser" || o.err != nil {
				t.Fatalf("first admitted: %s %v, want the browser", o.name, o.err)
			} else {
				o.tk.Release(OutcomeIgnore)
			}
			for _, want := range []string{"automation", "crawler 1"} {
				o := <-out
				if o.name != want || o.err != nil {
					t.Fatalf("next admitted: %s %v, want %s", o.name, o.err, want)
				}
				o.tk.Release(OutcomeIgnore)
			}
			if s := c.Stats(); s.Inflight != 0 || s.Waiting != 0 {
				t.Errorf("after all: %+v, want nothing in flight or waiting", s)
			}
		})
	}
}

// Within a tier, sites share: a quiet site's request goes before the older requests of a
// flooded site that already holds slots, and sites take turns.
func TestFairShareWithinTier(t *testing.T) {
	c := newTestController(2, Options{})
	held := hold(t, c, "flood.test", 0, 2)
	out := make(chan outcome, 8)
	for i := 0; i < 3; i++ {
		queued(t, c, context.Background(), "flood.test", TierBrowser, 0, fmt.Sprintf("flood %d", i), out)
	}
	queued(t, c, context.Background(), "quiet.test", TierBrowser, 0, "quiet", out)
	held[0].Release(OutcomeIgnore)
	if o := <-out; o.name != "quiet" {
		t.Fatalf("first admitted: %s, want quiet (it holds no slot, the flood holds two)", o.name)
	} else {
		o.tk.Release(OutcomeIgnore)
	}
	held[1].Release(OutcomeIgnore)
	for i := 0; i < 3; i++ {
		o := <-out
		o.tk.Release(OutcomeIgnore)
	}
}

// A request of a more trusted tier does not wait behind a site at its own cap: the site
// waits for its own requests, others go on.
func TestSiteCapDoesNotBlockOthers(t *testing.T) {
	c := newTestController(10, Options{})
	held := hold(t, c, "capped.test", 2, 2)
	out := make(chan outcome, 4)
	queued(t, c, context.Background(), "capped.test", TierTrusted, 2, "capped trusted", out)
	tk, err := c.Acquire(context.Background(), "other.test", TierUntrusted, 0)
	if err != nil {
		t.Fatalf("other site's request behind a capped site: %v", err)
	}
	tk.Release(OutcomeIgnore)
	held[0].Release(OutcomeIgnore)
	if o := <-out; o.err != nil {
		t.Fatalf("capped site's waiter after a slot freed: %v", o.err)
	} else {
		o.tk.Release(OutcomeIgnore)
	}
	held[1].Release(OutcomeIgnore)
}

// A waiter gives up at the wait bound or when its client leaves, and leaves nothing behind.
func TestWaitEnds(t *testing.T) {
	c := newTestController(1, Options{MaxWait: 20 * time.Millisecond})
	held := hold(t, c, "a.test", 0, 1)
	if _, err := c.Acquire(context.Background(), "a.test", TierBrowser, 0); !errors.Is(err, ErrWaitTimeout) {
		t.Errorf("got %v, want ErrWaitTimeout", err)
	}
	c.Reconfigure(Options{BackendCap: 1, MaxWait: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan outcome, 1)
	queued(t, c, ctx, "a.test", TierBrowser, 0, "leaving", out)
	cancel()
	if o := <-out; !errors.Is(o.err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", o.err)
	}
	held[0].Release(OutcomeIgnore)
	if s := c.Stats(); s.Inflight != 0 || s.Waiting != 0 {
		t.Errorf("after all: %+v, want nothing in flight or waiting", s)
	}
}

// Attacker: many cheap site keys (random Host headers) neither grow the state past MaxSites
// nor take the place of a site that has traffic.
func TestJunkSitesDoNotCrowdOut(t *testing.T) {
	c := newTestController(0, Options{MaxSites: 32})
	for i := 0; i < 50; i++ {
		hold(t, c, "real.test", 0, 1)[0].Release(OutcomeOK)
	}
	for i := 0; i < 20000; i++ {
		tk, err := c.Acquire(context.Background(), fmt.Sprintf("junk-%d.test", i), TierUntrusted, 0)
		if err != nil {
			t.Fatal(err)
		}
		tk.Release(OutcomeOK)
	}
	if n := c.Stats().Sites; n > 32 {
		t.Errorf("%d sites tracked, want at most MaxSites 32", n)
	}
	c.mu.Lock()
	_, kept := c.sites[maphash.String(c.seed, "real.test")]
	c.mu.Unlock()
	if !kept {
		t.Error("real.test, with traffic, lost its state to junk hosts")
	}
	// A new real site still gets a place among the junk.
	for i := 0; i < 3; i++ {
		hold(t, c, "new.test", 0, 1)[0].Release(OutcomeOK)
	}
	c.mu.Lock()
	_, got := c.sites[maphash.String(c.seed, "new.test")]
	c.mu.Unlock()
	if !got {
		t.Error("new.test found no place among junk hosts seen once")
	}
}

// Concurrent use: many goroutines of every tier acquire and release; the counts return to
// zero and the run is clean under -race.
func TestConcurrentUse(t *testing.T) {
	c := New(Options{BackendCap: 4, QueueLen: 16, MaxWait: 50 * time.Millisecond})
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				tk, err := c.Acquire(context.Background(), fmt.Sprintf("s%d.test", g%3), Tier(1+(g+i)%NumTiers), 0)
				if err == nil {
					tk.Release(OutcomeOK)
				}
			}
		}(g)
	}
	wg.Wait()
	if s := c.Stats(); s.Inflight != 0 || s.Waiting != 0 {
		t.Errorf("after all: %+v, want nothing in flight or waiting", s)
	}
}

// Pressure blames the site that asks for the backend: a flooded site's requests meeting the
// limit are pressure, a quiet site's visitor waiting a moment behind the flood is not.
func TestPressureIsTheSitesOwn(t *testing.T) {
	c := newTestController(2, Options{QueueLen: 4, SiteQueueLen: 4})
	held := hold(t, c, "flood.test", 0, 2)
	out := make(chan outcome, 8)
	for i := 0; i < 4; i++ {
		queued(t, c, context.Background(), "flood.test", TierUntrusted, 0, fmt.Sprint("flood ", i), out)
	}
	tk, err := c.Acquire(context.Background(), "flood.test", TierUntrusted, 0)
	if !errors.Is(err, ErrQueueFull) || !tk.Pressure {
		t.Fatalf("flood request on a full queue: %v, pressure %v; want refused with pressure", err, tk.Pressure)
	}
	go func() {
		tk, err := c.Acquire(context.Background(), "quiet.test", TierBrowser, 0)
		out <- outcome{"quiet", TierBrowser, err, tk}
	}()
	shed := <-out // the quiet visitor takes the newest flood waiter's place
	if shed.name == "quiet" || !errors.Is(shed.err, ErrShed) {
		t.Fatalf("got %s %v, want a flood waiter shed", shed.name, shed.err)
	}
	eventually(t, "quiet waiting", func() bool { return c.Stats().WaitingByTier[TierBrowser] == 1 })
	held[0].Release(OutcomeIgnore)
	q := <-out
	if q.name != "quiet" || q.err != nil || !q.tk.Waited || q.tk.Pressure {
		t.Fatalf("quiet visitor: %s %v waited %v pressure %v; want admitted after a wait, no pressure", q.name, q.err, q.tk.Waited, q.tk.Pressure)
	}
	q.tk.Release(OutcomeIgnore)
	held[1].Release(OutcomeIgnore)
	for i := 0; i < 3; i++ {
		o := <-out
		o.tk.Release(OutcomeIgnore)
	}
}
