package admission

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkAcquireRelease is the admission path of one request admitted at once: Acquire
// and Release, with the limit learning from every answer.
func BenchmarkAcquireRelease(b *testing.B) {
	c := New(Options{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		tk, err := c.Acquire(ctx, "site.test", TierBrowser, 0)
		if err != nil {
			b.Fatal(err)
		}
		tk.Release(OutcomeOK)
	}
}

// BenchmarkAcquireReleaseParallel is the same from every core at once, over 64 sites.
func BenchmarkAcquireReleaseParallel(b *testing.B) {
	c := New(Options{})
	ctx := context.Background()
	sites := make([]string, 64)
	for i := range sites {
		sites[i] = fmt.Sprintf("site%d.test", i)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			tk, err := c.Acquire(ctx, sites[i%len(sites)], Tier(1+i%NumTiers), 0)
			if err != nil {
				b.Fatal(err)
			}
			tk.Release(OutcomeOK)
		}
	})
}

// BenchmarkAcquireReleaseContended is the path of requests that wait: a backend capped at
// 2 requests in flight, with more goroutines than that, of every tier, so that most
// requests queue and are handed a slot by a release.
func BenchmarkAcquireReleaseContended(b *testing.B) {
	c := New(Options{BackendCap: 2, QueueLen: 4096, SiteQueueLen: 4096})
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			tk, err := c.Acquire(ctx, "site.test", Tier(1+i%NumTiers), 0)
			if err != nil {
				b.Fatal(err)
			}
			tk.Release(OutcomeOK)
		}
	})
}

// TestAcquireReleaseDoesNotAllocate: the admission path of a request admitted at once
// allocates nothing (the benchmarks report the same; this makes it a test).
func TestAcquireReleaseDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations cannot be counted under the race detector; .ci/test runs this test without -race")
	}
	c := New(Options{})
	ctx := context.Background()
	n := testing.AllocsPerRun(1000, func() {
		tk, err := c.Acquire(ctx, "site.test", TierBrowser, 0)
		if err != nil {
			t.Fatal(err)
		}
		tk.Release(OutcomeOK)
	})
	if n > 0 {
		t.Errorf("Acquire+Release: %v allocations, want 0", n)
	}
}
