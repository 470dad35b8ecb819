package protect

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkTick2000 is the detector's tick as the overhead run meets it (issue 9): 2,000
// sites at the default 250 ms Resolution, each with a request or none per tick. It reports
// ns per site per tick and the heap the sites' state holds (what a GC cycle scans when it
// holds pointers).
func BenchmarkTick2000(b *testing.B) {
	for _, c := range []struct {
		name string
		busy int // of every 1,000 sites, how many have a request each tick
	}{{"busy", 1000}, {"tenth", 100}, {"idle", 0}} {
		b.Run(c.name, func(b *testing.B) {
			const sites = 2000
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			d := NewDetector(DetectorOptions{Defaults: SiteThresholds{TriggerRate: 100}})
			names := make([]string, sites)
			for i := range names {
				names[i] = fmt.Sprintf("site%d.example.org", i)
				d.Observe(names[i], Sample{Requests: 1, Latency: time.Millisecond})
			}
			t := t0
			for range 50 { // fill the rings
				t = t.Add(DefaultResolution)
				d.Tick(t)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			heap := float64(after.HeapInuse-before.HeapInuse) / sites
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for j, n := range names {
					if j%1000 < c.busy {
						d.Observe(n, Sample{Requests: 1, Latency: time.Millisecond})
					}
				}
				b.StartTimer()
				t = t.Add(DefaultResolution)
				d.Tick(t)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/sites, "ns/site")
			b.ReportMetric(heap, "heapB/site")
		})
	}
}
