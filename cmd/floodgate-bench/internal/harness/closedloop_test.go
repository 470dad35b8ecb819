package harness

import (
	"context"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func closedScenario(seed uint64) Scenario {
	s := smallScenario()
	s.Seed = seed
	s.Closed = ClosedLoop{AI: 6, Stealth: 5, Post: 3}
	return s
}

// firstRequests returns the first n requests of every closed-loop worker of s.
func firstRequests(s Scenario, n int) [][]Request {
	var out [][]Request
	for _, w := range s.ClosedWorkers() {
		var qs []Request
		for range n {
			qs = append(qs, w.Next())
		}
		out = append(out, qs)
	}
	return out
}

func TestClosedWorkersAreDeterministicPerSeed(t *testing.T) {
	a, b := firstRequests(closedScenario(1), 50), firstRequests(closedScenario(1), 50)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave the closed-loop workers different requests")
	}
	if c := firstRequests(closedScenario(2), 50); reflect.DeepEqual(a, c) {
		t.Fatal("seeds 1 and 2 gave the same requests")
	}
	if len(a) != 14 {
		t.Fatalf("%d workers, want 6+5+3", len(a))
	}
	// Two workers of one population do not send the same stream.
	if reflect.DeepEqual(a[0], a[3]) || reflect.DeepEqual(a[6], a[7]) {
		t.Error("two workers of a population send identical requests")
	}
}

func TestClosedWorkersPopulations(t *testing.T) {
	s := closedScenario(1)
	in := func(kind NetworkKind, a netip.Addr) bool {
		for _, n := range NetworksOf(kind) {
			if n.Prefix.Contains(a) {
				return true
			}
		}
		return false
	}
	stealthIPs := map[netip.Addr]bool{}
	stealthN := 0
	for i, w := range s.ClosedWorkers() {
		if w.Index != i {
			t.Errorf("worker %d has index %d", i, w.Index)
		}
		for range 200 {
			q := w.Next()
			if q.Class != w.Class {
				t.Fatalf("worker of %s sent a %s request", w.Class, q.Class)
			}
			switch q.Class {
			case AICrawlers:
				if !in(Cloud, q.IP) || !strings.Contains(q.UA, "compatible") || !s.SiteAttacked(q.Site) || q.Method != "GET" {
					t.Fatalf("AI crawler request %+v: want a cloud address, a crawler UA, an attacked site", q)
				}
			case StealthScrapers:
				if !in(Residential, q.IP) || !strings.HasPrefix(q.UA, "Mozilla/5.0 (") || !s.SiteAttacked(q.Site) {
					t.Fatalf("stealth request %+v: want a residential address, a browser UA, an attacked site", q)
				}
				stealthIPs[q.IP] = true
				stealthN++
			case PostBurst:
				if q.Method != "POST" || q.Site != 0 || q.Path != "/wp-login.php" {
					t.Fatalf("POST burst request %+v: want POST /wp-login.php on site 0", q)
				}
			default:
				t.Fatalf("unexpected class %s", q.Class)
			}
		}
	}
	if float64(len(stealthIPs)) < 0.99*float64(stealthN) {
		t.Errorf("stealth scrapers: %d requests from %d addresses, want one address per request", stealthN, len(stealthIPs))
	}
	if open := smallScenario(); len(open.ClosedWorkers()) != 0 {
		t.Error("an open-loop scenario has closed-loop workers")
	}
}

// A closed-loop flood must not build an open-loop one too.
func TestClosedScenarioHasNoOpenFlood(t *testing.T) {
	sched, err := closedScenario(1).Build()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range sched.Requests {
		if q.Class != SearchEngine {
			t.Fatalf("closed-loop scenario scheduled an open-loop %s request", q.Class)
		}
	}
}

// RunClosedLoop sends exactly the limit, however many workers race for it, and nothing when
// the context has ended. send answers at once: the bound is on count, not time.
func TestRunClosedLoopIsBounded(t *testing.T) {
	s := closedScenario(1)
	workers := s.ClosedWorkers()
	var sends atomic.Int64
	perWorker := make([]atomic.Int64, len(workers))
	var mu sync.Mutex
	var recorded []Sample
	send := func(w *ClosedWorker, q Request) Sample {
		sends.Add(1)
		perWorker[w.Index].Add(1)
		return Sample{Class: q.Class, Phase: Flood, Outcome: Throttled}
	}
	record := func(smp Sample) {
		mu.Lock()
		recorded = append(recorded, smp)
		mu.Unlock()
	}
	const limit = 3000
	got := RunClosedLoop(context.Background(), workers, limit, send, record)
	if got != limit || sends.Load() != limit || len(recorded) != limit {
		t.Fatalf("RunClosedLoop returned %d, sent %d, recorded %d; want exactly %d each", got, sends.Load(), len(recorded), limit)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sends.Store(0)
	if got := RunClosedLoop(ctx, workers, limit, send, record); got != 0 || sends.Load() != 0 {
		t.Fatalf("with an ended context: returned %d, sent %d; want 0", got, sends.Load())
	}
}
