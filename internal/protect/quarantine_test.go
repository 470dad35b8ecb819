package protect

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// setClock makes now() return *at for the duration of the test.
func setClock(t *testing.T, at *time.Time) {
	t.Helper()
	old := now
	now = func() time.Time { return *at }
	t.Cleanup(func() { now = old })
}

func TestQuarantine(t *testing.T) {
	type step struct {
		at      time.Duration // clock, from t0
		op      string        // start, end
		site    string
		until   time.Duration // from t0
		want    bool          // Start's started / End's held
		active  []string      // sites Active just after the step
		listing string        // List after the step: site:since-until, seconds from t0
	}
	cases := []struct {
		name  string
		max   int
		steps []step
	}{
		{"start, extend, expire", 0, []step{
			{0, "start", "a", 60 * time.Second, true, []string{"a"}, "[a:0-60]"},
			{10 * time.Second, "start", "a", 120 * time.Second, false, []string{"a"}, "[a:0-120]"},
			{20 * time.Second, "start", "a", 30 * time.Second, false, []string{"a"}, "[a:0-120]"}, // never shortened
			{120 * time.Second, "start", "b", 180 * time.Second, true, []string{"b"}, "[b:120-180]"},
			{130 * time.Second, "start", "a", 200 * time.Second, true, []string{"a", "b"}, "[a:130-200 b:120-180]"}, // a new one
		}},
		{"end lifts at once", 0, []step{
			{0, "start", "a", time.Hour, true, []string{"a"}, "[a:0-3600]"},
			{time.Second, "end", "a", 0, true, nil, "[]"},
			{2 * time.Second, "end", "a", 0, false, nil, "[]"},
		}},
		{"until in the past is ignored", 0, []step{
			{time.Minute, "start", "a", 0, false, nil, "[]"},
		}},
		{"full: expired dropped first, then the soonest ending", 2, []step{
			{0, "start", "a", 10 * time.Second, true, []string{"a"}, "[a:0-10]"},
			{0, "start", "b", 100 * time.Second, true, []string{"a", "b"}, "[a:0-10 b:0-100]"},
			{20 * time.Second, "start", "c", 50 * time.Second, true, []string{"b", "c"}, "[b:0-100 c:20-50]"},
			{30 * time.Second, "start", "d", 200 * time.Second, true, []string{"b", "d"}, "[b:0-100 d:30-200]"},
		}},
	}
	sites := []string{"a", "b", "c", "d"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var clock time.Time
			setClock(t, &clock)
			q := NewQuarantine(tc.max)
			for i, s := range tc.steps {
				clock = t0.Add(s.at)
				var got bool
				switch s.op {
				case "start":
					got = q.Start(s.site, t0.Add(s.until), "post burst")
				case "end":
					got = q.End(s.site)
				}
				if got != s.want {
					t.Fatalf("step %d: %s %s = %v, want %v", i, s.op, s.site, got, s.want)
				}
				var active []string
				for _, site := range sites {
					if q.Active(site, clock) {
						active = append(active, site)
					}
				}
				if fmt.Sprint(active) != fmt.Sprint(s.active) {
					t.Fatalf("step %d: active %v, want %v", i, active, s.active)
				}
				var listed []string
				for _, e := range q.List(clock) {
					if e.Reason != "post burst" {
						t.Fatalf("step %d: reason %q lost", i, e.Reason)
					}
					listed = append(listed, fmt.Sprintf("%s:%d-%d", e.Site, int(e.Since.Sub(t0).Seconds()), int(e.Until.Sub(t0).Seconds())))
				}
				if got := fmt.Sprintf("[%s]", strings.Join(listed, " ")); got != s.listing {
					t.Fatalf("step %d: list %s, want %s", i, got, s.listing)
				}
			}
		})
	}
}

// Many sites started and expiring: the Quarantine never holds more than its bound.
func TestQuarantineBounded(t *testing.T) {
	var clock time.Time
	setClock(t, &clock)
	q := NewQuarantine(100)
	for i := 0; i < 10000; i++ {
		clock = t0.Add(time.Duration(i) * time.Second)
		q.Start(fmt.Sprint("site", i), clock.Add(time.Duration(1+i%500)*time.Second), "burst")
		if n := len(*q.sites.Load()); n > 100 {
			t.Fatalf("after %d starts: %d entries held, bound 100", i+1, n)
		}
	}
	if !q.Active("site9999", clock) {
		t.Fatalf("the latest quarantine was dropped")
	}
}

// TestQuarantineConcurrent starts, reads, lists and ends quarantines from 8 goroutines and
// checks the books balance: per site, the quarantines started minus those ended is 1 exactly
// when the site is quarantined at the end, and List agrees with Active.
func TestQuarantineConcurrent(t *testing.T) {
	q := NewQuarantine(0)
	const sites = 20
	var started, ended [sites]atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				n := i % sites
				site := fmt.Sprint("s", n)
				switch (w + i) % 4 {
				case 0:
					if q.Start(site, time.Now().Add(time.Minute), "x") {
						started[n].Add(1)
					}
				case 1:
					q.Active(site, time.Now())
				case 2:
					q.List(time.Now())
				case 3:
					if q.End(site) {
						ended[n].Add(1)
					}
				}
			}
		}(w)
	}
	wg.Wait()
	listed := map[string]bool{}
	for _, e := range q.List(time.Now()) {
		listed[e.Site] = true
	}
	for n := range sites {
		site := fmt.Sprint("s", n)
		held := started[n].Load() - ended[n].Load()
		if active := q.Active(site, time.Now()); held != map[bool]int64{true: 1, false: 0}[active] || listed[site] != active {
			t.Errorf("%s: started %d, ended %d, active %v, listed %v", site, started[n].Load(), ended[n].Load(), active, listed[site])
		}
	}
}

func BenchmarkQuarantineActive(b *testing.B) {
	q := NewQuarantine(0)
	for i := 0; i < 1000; i++ {
		q.Start(fmt.Sprintf("site%d.example.org", i), time.Now().Add(time.Hour), "burst")
	}
	t := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !q.Active("site500.example.org", t) {
				b.Fatal("not active")
			}
		}
	})
}
