package protect

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// eventually polls cond until it holds; it fails the test after a generous bound. It only
// synchronises with goroutines (a waiter reaching the queue), it asserts nothing on time.
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

// hold acquires n slots of site at once (they must be admitted without waiting).
func hold(t *testing.T, g *Gate, site string, siteCap, n int) []func() {
	t.Helper()
	var rel []func()
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // a wait would end at once with context.Canceled
		r, err := g.Acquire(ctx, site, siteCap, false)
		if err != nil {
			t.Fatalf("hold %s #%d: want immediate admission, got %v", site, i, err)
		}
		rel = append(rel, r)
	}
	return rel
}

// queued starts an Acquire in a goroutine and returns once it waits in the queue. The
// result arrives on the returned channel (nil error = admitted; release then follows).
type outcome struct {
	name    string
	err     error
	release func()
}

func queued(t *testing.T, g *Gate, ctx context.Context, site string, siteCap int, prio bool, name string) <-chan outcome {
	t.Helper()
	_, before, _ := totals(g)
	ch := make(chan outcome, 1)
	go func() {
		r, err := g.Acquire(ctx, site, siteCap, prio)
		ch <- outcome{name, err, r}
	}()
	eventually(t, name+" waiting", func() bool { _, w, _ := totals(g); return w == before+1 })
	return ch
}

func TestGateAdmission(t *testing.T) {
	type held struct {
		site string
		cap  int
		n    int
	}
	cases := []struct {
		name string
		opts GateOptions
		held []held
		site string
		cap  int
		want string // "admit", "wait", "full"
	}{
		{"no caps", GateOptions{}, []held{{"a", 0, 50}}, "a", 0, "admit"},
		{"site below cap", GateOptions{}, []held{{"a", 3, 2}}, "a", 3, "admit"},
		{"site at cap waits", GateOptions{}, []held{{"a", 3, 3}}, "a", 3, "wait"},
		{"other site unaffected by a site cap", GateOptions{}, []held{{"a", 3, 3}}, "b", 3, "admit"},
		{"backend below cap", GateOptions{BackendCap: 4}, []held{{"a", 0, 3}}, "b", 0, "admit"},
		{"backend at cap waits", GateOptions{BackendCap: 4}, []held{{"a", 0, 4}}, "b", 0, "wait"},
		{"no queue", GateOptions{BackendCap: 1, QueueLen: -1}, []held{{"a", 0, 1}}, "b", 0, "full"},
		{"raised site cap admits", GateOptions{}, []held{{"a", 1, 1}}, "a", 2, "admit"},
		{"lowered site cap waits", GateOptions{}, []held{{"a", 3, 2}}, "a", 2, "wait"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewGate(tc.opts)
			var rels []func()
			for _, h := range tc.held {
				rels = append(rels, hold(t, g, h.site, h.cap, h.n)...)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			switch tc.want {
			case "admit":
				cancel() // any wait would fail at once
				r, err := g.Acquire(ctx, tc.site, tc.cap, false)
				if err != nil {
					t.Fatalf("want immediate admission, got %v", err)
				}
				rels = append(rels, r)
			case "full":
				_, err := g.Acquire(ctx, tc.site, tc.cap, false)
				if !errors.Is(err, ErrQueueFull) {
					t.Fatalf("want ErrQueueFull, got %v", err)
				}
			case "wait":
				ch := queued(t, g, ctx, tc.site, tc.cap, false, "w")
				cancel()
				if o := <-ch; !errors.Is(o.err, context.Canceled) {
					t.Fatalf("want the waiter to leave on cancel, got %v", o.err)
				}
			}
			for _, r := range rels {
				r()
			}
			if in, w, sites := totals(g); in != 0 || w != 0 || sites != 0 {
				t.Fatalf("after all releases: inflight %d waiting %d sites %d, want 0 0 0", in, w, sites)
			}
		})
	}
}

func TestGatePriorityFirstThenFIFO(t *testing.T) {
	g := NewGate(GateOptions{BackendCap: 1})
	first := hold(t, g, "x", 0, 1)[0]
	ctx := context.Background()
	// Arrival order: n1, p1, n2, p2 on several sites; admission: p1, p2, n1, n2.
	chans := []<-chan outcome{
		queued(t, g, ctx, "a", 0, false, "n1"),
		queued(t, g, ctx, "b", 0, true, "p1"),
		queued(t, g, ctx, "a", 0, false, "n2"),
		queued(t, g, ctx, "c", 0, true, "p2"),
	}
	results := make(chan outcome, len(chans))
	for _, ch := range chans {
		go func(ch <-chan outcome) { results <- <-ch }(ch)
	}
	first()
	var order []string
	for range chans {
		o := <-results
		if o.err != nil {
			t.Fatalf("%s: %v", o.name, o.err)
		}
		if in, _, _ := totals(g); in != 1 {
			t.Fatalf("backend cap 1 but %d in flight", in)
		}
		order = append(order, o.name)
		o.release()
	}
	if got, want := fmt.Sprint(order), "[p1 p2 n1 n2]"; got != want {
		t.Fatalf("admission order %s, want %s", got, want)
	}
}

func TestGatePrioritySameSite(t *testing.T) {
	g := NewGate(GateOptions{})
	first := hold(t, g, "a", 1, 1)[0]
	ctx := context.Background()
	n1 := queued(t, g, ctx, "a", 1, false, "n1")
	p1 := queued(t, g, ctx, "a", 1, true, "p1")
	first()
	o := <-p1
	if o.err != nil {
		t.Fatalf("priority waiter: %v", o.err)
	}
	if _, w := g.Stats("a"); w != 1 {
		t.Fatalf("site a: %d waiting, want n1 still waiting", w)
	}
	o.release()
	if o := <-n1; o.err != nil {
		t.Fatalf("n1: %v", o.err)
	} else {
		o.release()
	}
}

// A site at its cap with a long queue must not delay another site: neither when the
// backend has room, nor when the backend is full and a slot of a third site frees up.
func TestGateNoHeadOfLineBlockingAcrossSites(t *testing.T) {
	g := NewGate(GateOptions{BackendCap: 4, QueueLen: 100, SiteQueueLen: 50})
	relA := hold(t, g, "a", 2, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var aWaiters []<-chan outcome
	for i := 0; i < 10; i++ {
		aWaiters = append(aWaiters, queued(t, g, ctx, "a", 2, true, fmt.Sprint("a", i)))
	}
	if !g.Saturated("a") || g.Saturated("b") {
		t.Fatalf("saturated a=%v b=%v, want true false", g.Saturated("a"), g.Saturated("b"))
	}

	// Backend has room (2 of 4): b goes through at once despite a's older priority waiters.
	relB := hold(t, g, "b", 2, 1)
	relC := hold(t, g, "c", 0, 1) // backend now full: a 2, b 1, c 1
	d := queued(t, g, ctx, "d", 2, false, "d")
	relC[0]() // a slot frees up: a's waiters are older and priority but a is at its cap
	o := <-d
	if o.err != nil {
		t.Fatalf("d should take the freed slot, got %v", o.err)
	}
	if in, w := g.Stats("a"); in != 2 || w != 10 {
		t.Fatalf("site a: %d in flight %d waiting, want 2 and 10", in, w)
	}
	o.release()
	relB[0]()
	// Backend room again: a stays at its cap; its releases admit its own waiters in order.
	for i, r := range relA {
		r()
		if o := <-aWaiters[i]; o.err != nil || o.name != fmt.Sprint("a", i) {
			t.Fatalf("a waiter %d: %v %v", i, o.name, o.err)
		} else {
			defer o.release()
		}
		if in, _ := g.Stats("a"); in != 2 {
			t.Fatalf("site a: %d in flight, cap 2", in)
		}
	}
	cancel()
	for _, ch := range aWaiters[2:] {
		if o := <-ch; !errors.Is(o.err, context.Canceled) {
			t.Fatalf("%s: want context.Canceled, got %v", o.name, o.err)
		}
	}
}

func TestGateTimeout(t *testing.T) {
	g := NewGate(GateOptions{BackendCap: 1, MaxWait: time.Millisecond})
	rel := hold(t, g, "a", 0, 1)
	_, err := g.Acquire(context.Background(), "b", 0, true)
	if !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("want ErrWaitTimeout, got %v", err)
	}
	if _, w, sites := totals(g); w != 0 || sites != 1 {
		t.Fatalf("after timeout: %d waiting, %d sites; want 0 and 1 (b forgotten)", w, sites)
	}
	rel[0]()
	if in, w, sites := totals(g); in != 0 || w != 0 || sites != 0 {
		t.Fatalf("idle gate keeps inflight %d waiting %d sites %d", in, w, sites)
	}
}

func TestGateQueueFull(t *testing.T) {
	g := NewGate(GateOptions{BackendCap: 1, QueueLen: 3, SiteQueueLen: 2})
	rel := hold(t, g, "x", 0, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := []<-chan outcome{
		queued(t, g, ctx, "a", 0, false, "a1"),
		queued(t, g, ctx, "a", 0, false, "a2"),
	}
	if _, err := g.Acquire(ctx, "a", 0, true); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("site queue of 2 full: want ErrQueueFull, got %v", err)
	}
	w = append(w, queued(t, g, ctx, "b", 0, false, "b1"))
	// The queue of 3 is full (a: 2, b: 1). A visitor of c, which waits for nothing, takes
	// the place of a's newest waiter: a waits more than c would.
	c1 := make(chan outcome, 1)
	go func() {
		r, err := g.Acquire(ctx, "c", 0, false)
		c1 <- outcome{"c1", err, r}
	}()
	eventually(t, "c1 waiting", func() bool { _, n := g.Stats("c"); return n == 1 })
	if o := <-w[1]; o.name != "a2" || !errors.Is(o.err, ErrQueueFull) {
		t.Fatalf("a2, the newest of the longest queue: want ErrQueueFull, got %v", o.err)
	}
	// Now a, b and c wait one each: a visitor of d would not wait less than any: refused.
	if _, err := g.Acquire(ctx, "d", 0, false); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("queue of 3 full, evenly shared: want ErrQueueFull, got %v", err)
	}
	if _, _, sites := totals(g); sites != 4 {
		t.Fatalf("%d sites tracked, want x a b c (d refused and forgotten)", sites)
	}
	cancel()
	for _, ch := range []<-chan outcome{w[0], w[2], (<-chan outcome)(c1)} {
		<-ch
	}
	rel[0]()
}

func TestGateCancelLeavesQueue(t *testing.T) {
	g := NewGate(GateOptions{BackendCap: 1})
	rel := hold(t, g, "x", 0, 1)
	ctx1, cancel1 := context.WithCancel(context.Background())
	a := queued(t, g, ctx1, "a", 0, true, "a")
	b := queued(t, g, context.Background(), "b", 0, false, "b")
	cancel1()
	if o := <-a; !errors.Is(o.err, context.Canceled) {
		t.Fatalf("a: want context.Canceled, got %v", o.err)
	}
	rel[0]()
	o := <-b
	if o.err != nil {
		t.Fatalf("b should get the slot a left, got %v", o.err)
	}
	if in, w := g.Stats("a"); in != 0 || w != 0 {
		t.Fatalf("cancelled a still counted: %d %d", in, w)
	}
	o.release()
	o.release() // a second call does nothing
	if in, w, sites := totals(g); in != 0 || w != 0 || sites != 0 {
		t.Fatalf("after double release: inflight %d waiting %d sites %d", in, w, sites)
	}
}

func TestGateReconfigure(t *testing.T) {
	g := NewGate(GateOptions{BackendCap: 1})
	rel := hold(t, g, "a", 0, 1)
	b := queued(t, g, context.Background(), "b", 0, false, "b")
	g.Reconfigure(GateOptions{BackendCap: 2})
	o := <-b
	if o.err != nil {
		t.Fatalf("raised backend cap should admit b, got %v", o.err)
	}
	o.release()
	rel[0]()
}

// Many goroutines on several sites: the caps hold at every moment, checked by counters
// inside the critical section, and the gate ends empty.
func TestGateCapsHoldUnderConcurrency(t *testing.T) {
	const (
		backendCap = 6
		siteCap    = 3
		sites      = 5
		workers    = 40
		perWorker  = 200
	)
	g := NewGate(GateOptions{BackendCap: backendCap, QueueLen: 64, SiteQueueLen: 16, MaxWait: time.Minute})
	var total, maxTotal atomic.Int64
	var perSite [sites]atomic.Int64
	var maxSite atomic.Int64
	var admitted, full atomic.Int64
	raise := func(m *atomic.Int64, v int64) {
		for {
			cur := m.Load()
			if v <= cur || m.CompareAndSwap(cur, v) {
				return
			}
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				si := (w + i) % sites
				site := fmt.Sprint("site", si)
				rel, err := g.Acquire(context.Background(), site, siteCap, i%3 == 0)
				if err != nil {
					if !errors.Is(err, ErrQueueFull) {
						t.Errorf("unexpected error %v", err)
						return
					}
					full.Add(1)
					continue
				}
				admitted.Add(1)
				raise(&maxTotal, total.Add(1))
				raise(&maxSite, perSite[si].Add(1))
				if i%7 == 0 {
					time.Sleep(10 * time.Microsecond)
				}
				perSite[si].Add(-1)
				total.Add(-1)
				rel()
			}
		}(w)
	}
	wg.Wait()
	if m := maxTotal.Load(); m > backendCap || m < 1 {
		t.Fatalf("max in flight %d, backend cap %d", m, backendCap)
	}
	if m := maxSite.Load(); m > siteCap {
		t.Fatalf("max in flight for one site %d, site cap %d", m, siteCap)
	}
	if admitted.Load() == 0 || admitted.Load()+full.Load() != workers*perWorker {
		t.Fatalf("admitted %d + full %d != %d", admitted.Load(), full.Load(), workers*perWorker)
	}
	if in, w, n := totals(g); in != 0 || w != 0 || n != 0 {
		t.Fatalf("gate not empty after the run: inflight %d waiting %d sites %d", in, w, n)
	}
	if len(g.ready) != 0 {
		t.Fatalf("ready heap keeps %d sites", len(g.ready))
	}
}

func BenchmarkGateUncontended(b *testing.B) {
	g := NewGate(GateOptions{BackendCap: 100})
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		rel, err := g.Acquire(ctx, "example.org", 10, false)
		if err != nil {
			b.Fatal(err)
		}
		rel()
	}
}

// BenchmarkGateParallel runs Acquire/release from all CPUs over 1,000 sites with caps
// that do not bind (the mutex is the only contention).
func BenchmarkGateParallel(b *testing.B) {
	g := NewGate(GateOptions{BackendCap: 10000})
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("site%d.example.org", i)
	}
	ctx := context.Background()
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(n.Add(1)) * 7919
		for pb.Next() {
			i++
			rel, err := g.Acquire(ctx, names[i%len(names)], 50, false)
			if err != nil {
				b.Fatal(err)
			}
			rel()
		}
	})
}

// BenchmarkGateContended makes 4× GOMAXPROCS goroutines share a backend cap of 2 and a site
// cap of 1 on 8 sites: most Acquires wait in the queue and are woken by a release.
func BenchmarkGateContended(b *testing.B) {
	g := NewGate(GateOptions{BackendCap: 2, QueueLen: 100000, SiteQueueLen: 100000, MaxWait: time.Minute})
	names := []string{"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"}
	ctx := context.Background()
	var n atomic.Int64
	b.SetParallelism(4)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(n.Add(1))
		for pb.Next() {
			i++
			rel, err := g.Acquire(ctx, names[i%8], 1, i%4 == 0)
			if err != nil {
				b.Fatal(err)
			}
			rel()
		}
	})
}

// TestGateFairShareAcrossSites: a quiet site's visitor, arriving after a flooded site's
// queue has formed, goes before the flooded site's older waiters, because the flooded site
// already holds slots.
func TestGateFairShareAcrossSites(t *testing.T) {
	g := NewGate(GateOptions{BackendCap: 3})
	flood := hold(t, g, "flooded", 0, 2)
	quietHeld := hold(t, g, "other", 0, 1)[0]
	ctx := context.Background()
	f1 := queued(t, g, ctx, "flooded", 0, false, "flood-1")
	f2 := queued(t, g, ctx, "flooded", 0, false, "flood-2")
	q := queued(t, g, ctx, "quiet", 0, false, "quiet-1")
	// One slot frees: "quiet" holds none, "flooded" holds two: quiet-1 goes first, though
	// it arrived last.
	flood[0]()
	o := <-q
	if o.err != nil {
		t.Fatalf("quiet-1: %v", o.err)
	}
	select {
	case o1 := <-f1:
		t.Fatalf("flood-1 was admitted (%v) before the quiet site's visitor", o1.err)
	default:
	}
	o.release()
	quietHeld()
	flood[1]()
	for _, ch := range []<-chan outcome{f1, f2} {
		if r := <-ch; r.err != nil {
			t.Fatalf("%s: %v", r.name, r.err)
		} else {
			r.release()
		}
	}
}

// TestGateRoundRobinOnTies: when a flooded site drops to as few slots as a quiet site, the
// quiet site, served less recently, goes first, though the flooded site's waiter is older.
// (First come first served on such ties starved quiet sites while flooded sites took turns.)
func TestGateRoundRobinOnTies(t *testing.T) {
	g := NewGate(GateOptions{BackendCap: 1})
	ctx := context.Background()
	held := hold(t, g, "flooded", 0, 1)[0]
	f1 := queued(t, g, ctx, "flooded", 0, false, "flood-1")
	q1 := queued(t, g, ctx, "quiet", 0, false, "quiet-1")
	// The slot frees: flooded and quiet both hold none; flooded was served, quiet never.
	held()
	o := <-q1
	if o.err != nil {
		t.Fatalf("quiet-1: %v", o.err)
	}
	select {
	case r := <-f1:
		t.Fatalf("flood-1 admitted (%v) before the quiet site's first visitor", r.err)
	default:
	}
	o.release()
	if r := <-f1; r.err != nil {
		t.Fatalf("flood-1: %v", r.err)
	} else {
		r.release()
	}
}

// TestGateSaturatedIsTheSitesOwnCap: a site below its cap whose visitor waits because the
// whole backend is full is not saturated; a site at its own cap is.
func TestGateSaturatedIsTheSitesOwnCap(t *testing.T) {
	g := NewGate(GateOptions{BackendCap: 2})
	held := hold(t, g, "flooded", 2, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := queued(t, g, ctx, "quiet", 2, false, "quiet-1")
	if !g.Saturated("flooded") || g.Saturated("quiet") || g.Saturated("unknown") {
		t.Fatalf("saturated flooded=%v quiet=%v unknown=%v, want true false false",
			g.Saturated("flooded"), g.Saturated("quiet"), g.Saturated("unknown"))
	}
	held[0]()
	if o := <-w; o.err != nil {
		t.Fatal(o.err)
	} else {
		o.release()
	}
	held[1]()
}

// totals returns the requests in flight and waiting, all sites together, and the number of
// sites with either.
func totals(g *Gate) (inflight, waiting, sites int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inflight, g.waiting, len(g.sites)
}
