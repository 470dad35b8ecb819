package protect

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestRollingWindowMatchesResum drives a Detector with random traffic and ticks on a
// simulated clock — ticks on time, a little late or early, after long gaps, repeated, set
// back — and random window changes, and checks after every tick that every site's running
// window sum (and the time it covers) equals the brute-force re-sum of its ring.
func TestRollingWindowMatchesResum(t *testing.T) {
	for _, c := range []struct {
		window, resolution time.Duration
		disorder           bool // ticks repeated or set back, windows reconfigured
	}{
		{10 * time.Second, 250 * time.Millisecond, false},
		{10 * time.Second, 250 * time.Millisecond, true},
		{2500 * time.Millisecond, 100 * time.Millisecond, true},
		{time.Second, time.Second, true},
		{3700 * time.Millisecond, 300 * time.Millisecond, false},
		{500 * time.Millisecond, 250 * time.Millisecond, true},
	} {
		t.Run(fmt.Sprint(c.window, "/", c.resolution, "/", c.disorder), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(c.window), uint64(c.resolution)))
			opts := DetectorOptions{Window: c.window, Resolution: c.resolution, Defaults: SiteThresholds{TriggerRate: 50}}
			d := NewDetector(opts)
			sites := []string{"a.example", "b.example", "c.example", "d.example"}
			clock, rolled := t0, 0
			for step := range 3000 {
				for _, site := range sites {
					if rng.IntN(3) == 0 {
						continue // some ticks without traffic
					}
					for range rng.IntN(4) {
						d.Observe(site, Sample{Requests: 1 + rng.IntN(3), Errors5xx: rng.IntN(2),
							Latency: time.Duration(rng.IntN(200)) * time.Millisecond,
							Queued:  rng.IntN(5) == 0, Shed: rng.IntN(9) == 0, Pressed: rng.IntN(7) == 0})
					}
				}
				switch k := rng.IntN(1000); {
				case c.disorder && k < 5: // repeated tick
				case c.disorder && k < 10: // clock set back
					clock = clock.Add(-time.Duration(rng.Int64N(int64(5 * time.Second))))
				case c.disorder && k < 20:
					opts.Window = time.Duration(1+rng.IntN(12)) * 500 * time.Millisecond
					d.Reconfigure(opts)
					clock = clock.Add(c.resolution)
				case k < 100: // a long gap
					clock = clock.Add(time.Duration(rng.Int64N(int64(15 * time.Second))))
				default: // on time, a little early or late
					clock = clock.Add(c.resolution + time.Duration(rng.IntN(5)-2)*time.Millisecond)
				}
				d.Tick(clock)
				tn := d.ns(clock)
				for name, s := range d.sites {
					if !s.roll.stale {
						rolled++
					}
					got, gotSpan := s.roll.window(s.ring, s.next, &s.acc, tn, d.opts.Window)
					want, wantSpan := window(s.ring, &s.acc, tn, d.opts.Window)
					if !reflect.DeepEqual(got, want) || gotSpan != wantSpan {
						t.Fatalf("step %d, %s: running window %+v over %s, re-sum %+v over %s",
							step, name, got, gotSpan, want, wantSpan)
					}
				}
			}
			if rolled < 3000 {
				t.Errorf("the running sum was used %d times only", rolled)
			}
		})
	}
}

// TestBucketsHoldNoPointers: a site's rings (about 1.3 KB of buckets) are memory the GC
// need not scan only while a bucket holds no pointer (a time.Time holds one: its location).
func TestBucketsHoldNoPointers(t *testing.T) {
	var pointerFree func(reflect.Type) bool
	pointerFree = func(ty reflect.Type) bool {
		switch ty.Kind() {
		case reflect.Struct:
			for i := range ty.NumField() {
				if !pointerFree(ty.Field(i).Type) {
					return false
				}
			}
			return true
		case reflect.Array:
			return pointerFree(ty.Elem())
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
			reflect.Float32, reflect.Float64, reflect.Bool:
			return true
		}
		return false
	}
	for _, ty := range []reflect.Type{reflect.TypeFor[bucket](), reflect.TypeFor[rolling]()} {
		if !pointerFree(ty) {
			t.Errorf("%s holds a pointer: the GC scans every site's rings", ty)
		}
	}
}
