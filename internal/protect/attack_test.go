package protect

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// rig drives a Detector second by second with synthetic samples and records its switches
// as "second:site:on|off".
type rig struct {
	t      *testing.T
	d      *Detector
	sec    int
	events []string
}

func newRig(t *testing.T, opts DetectorOptions) *rig {
	r := &rig{t: t}
	clock := t0
	setClock(t, &clock) // SetMode reads now(); keep it on the rig's second
	opts.OnSwitch = func(site string, on bool, reason string) {
		if reason == "" {
			t.Errorf("switch of %s without a reason", site)
		}
		state := "off"
		if on {
			state = "on"
		}
		r.events = append(r.events, fmt.Sprintf("%d:%s:%s", r.sec, site, state))
	}
	r.d = NewDetector(opts)
	r.d.Tick(t0) // second 0
	now = func() time.Time { return t0.Add(time.Duration(r.sec) * time.Second) }
	return r
}

// load is one second of one site's traffic: n requests, of which errs are upstream 5xx,
// slow have latency slowLat and the rest lat, sat found the gate saturated.
type load struct {
	site          string
	n, errs, sat  int
	queued, shed  int
	slow          int
	lat, slowLat  time.Duration
	noUpstreamAll bool
}

// run plays seconds of the given loads, ticking after each.
func (r *rig) run(seconds int, loads ...load) {
	r.t.Helper()
	for i := 0; i < seconds; i++ {
		for _, l := range loads {
			for k := 0; k < l.n; k++ {
				s := Sample{Requests: 1, Queued: k < l.sat || k < l.queued, Shed: k >= l.n-l.shed}
				if !l.noUpstreamAll {
					s.Latency = l.lat
					if s.Latency == 0 {
						s.Latency = 50 * time.Millisecond
					}
					if k < l.slow {
						s.Latency = l.slowLat
					}
					if k < l.errs {
						s.Errors5xx = 1
					}
				}
				r.d.Observe(l.site, s)
			}
		}
		r.sec++
		r.d.Tick(t0.Add(time.Duration(r.sec) * time.Second))
	}
}

// expect checks all the switches so far, in order.
func (r *rig) expect(want string) {
	r.t.Helper()
	if got := strings.Join(r.events, " "); got != want {
		r.t.Fatalf("switches:\n got  %s\n want %s", got, want)
	}
}

var testOpts = DetectorOptions{
	Defaults: SiteThresholds{TriggerRate: 50},
	Window:   10 * time.Second, OnAfter: 3 * time.Second, OffAfter: 60 * time.Second,
	MinOn: 60 * time.Second, ReleaseFactor: 0.5, MinRequests: 20,
}

func TestDetectorFloodOnThenOffWithHysteresis(t *testing.T) {
	r := newRig(t, testOpts)
	r.run(30, load{site: "a", n: 10}, load{site: "b", n: 40})
	r.expect("") // 10/s and 40/s are below 50/s
	if r.d.Active("a") {
		t.Fatal("a active on calm traffic")
	}
	// Flood at 150/s from second 31. The fast window (2 s) is past the trigger at once:
	// 31: (10+150)/2 = 80/s; OnAfter 3 s later, at 34, the site switches on. (The whole
	// window alone would wait until 33: (7×10+3×150)/10 = 52/s, so until 36.)
	r.run(40, load{site: "a", n: 150}, load{site: "b", n: 40})
	r.expect("34:a:on")
	if !r.d.Active("a") || r.d.Active("b") {
		t.Fatalf("active a=%v b=%v, want true false", r.d.Active("a"), r.d.Active("b"))
	}
	// Between release (25/s) and trigger (50/s): stays on, however long.
	r.run(300, load{site: "a", n: 40}, load{site: "b", n: 40})
	r.expect("34:a:on")
	// Calm at 10/s from second 371. Window rates: 371: 37/s, 372: 34, 373: 31, 374: 28,
	// 375: 25 (not below the release level 25/s), 376: 22: calm from 376, off 60 s later.
	r.run(100, load{site: "a", n: 10}, load{site: "b", n: 40})
	r.expect("34:a:on 436:a:off")
	if got := r.d.ActiveSites(); len(got) != 0 {
		t.Fatalf("active sites %v after the flood", got)
	}
}

func TestDetectorWithoutFastWindow(t *testing.T) {
	opts := testOpts
	opts.FastWindow = opts.Window // the whole window only: the flood shows later
	r := newRig(t, opts)
	r.run(30, load{site: "a", n: 10})
	r.run(10, load{site: "a", n: 150})
	r.expect("36:a:on")
}

func TestDetectorFastWindowNeverSwitchesOff(t *testing.T) {
	r := newRig(t, testOpts)
	r.run(20, load{site: "a", n: 150})
	r.expect("4:a:on")
	// Traffic drops to 40/s: below the trigger in the fast window, above the release level
	// (25/s) in the whole window: the site stays on, however long.
	r.run(70, load{site: "a", n: 40})
	r.expect("4:a:on")
	r.run(80, load{site: "a", n: 5}) // calm for OffAfter (60 s): off
	if strings.Count(strings.Join(r.events, " "), ":off") != 1 {
		t.Fatalf("switches %v, want one off after calm", r.events)
	}
}

func TestDetectorOnAfterExactly(t *testing.T) {
	r := newRig(t, testOpts)
	r.run(3, load{site: "c", n: 100}) // over at 1, 2, 3: 2 s past the first over second
	r.expect("")
	r.run(1, load{site: "c", n: 100})
	r.expect("4:c:on")
	// A short dip below trigger resets the count: a new flood needs OnAfter again.
	r2 := newRig(t, testOpts)
	r2.run(3, load{site: "c", n: 100})
	r2.run(1, load{site: "c", n: 0})
	// window: 300 requests over 4 s = 75/s, still past: no reset, on at 4.
	r2.expect("4:c:on")
}

func TestDetectorMinOn(t *testing.T) {
	opts := testOpts
	opts.OffAfter = 5 * time.Second
	opts.MinOn = 30 * time.Second
	r := newRig(t, opts)
	r.run(4, load{site: "a", n: 100})
	r.expect("4:a:on")
	r.run(60, load{site: "a", n: 0})
	// calm from 13 (10 s window emptied), OffAfter 5 s → 18, but MinOn holds until 34.
	r.expect("4:a:on 34:a:off")
}

func TestDetectorSignals(t *testing.T) {
	cases := []struct {
		name  string
		th    SiteThresholds
		flood load
		mid   load // between release and trigger: stays on
		calm  load
	}{
		{
			name:  "5xx share",
			th:    SiteThresholds{TriggerErrorShare: 0.4},
			flood: load{n: 30, errs: 15},
			mid:   load{n: 30, errs: 9},
			calm:  load{n: 30, errs: 3},
		},
		{
			name:  "latency p90",
			th:    SiteThresholds{TriggerLatency: time.Second},
			flood: load{n: 30, slow: 6, slowLat: 2 * time.Second},        // 20% ≥ 1s
			mid:   load{n: 30, slow: 6, slowLat: 700 * time.Millisecond}, // p90 in [0.5s, 1s)
			calm:  load{n: 30, slow: 2, slowLat: 2 * time.Second},        // 7% slow: p90 fast
		},
		{
			name:  "saturation share",
			th:    SiteThresholds{TriggerSaturation: 0.5},
			flood: load{n: 30, sat: 20},
			mid:   load{n: 30, sat: 10},
			calm:  load{n: 30, sat: 2},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOpts
			opts.Defaults = SiteThresholds{TriggerRate: -1, TriggerErrorShare: -1, TriggerLatency: -1, TriggerSaturation: -1}
			opts.Thresholds = func(site string) SiteThresholds {
				if site == "s" {
					return tc.th
				}
				return SiteThresholds{}
			}
			r := newRig(t, opts)
			tc.flood.site, tc.mid.site, tc.calm.site = "s", "s", "s"
			r.run(20, tc.calm)
			r.expect("")
			r.run(20, tc.flood)
			if !r.d.Active("s") || len(r.events) != 1 {
				t.Fatalf("flood did not switch on once: %v", r.events)
			}
			r.run(200, tc.mid)
			if !r.d.Active("s") || len(r.events) != 1 {
				t.Fatalf("between release and trigger, switched: %v", r.events)
			}
			r.run(200, tc.calm)
			if r.d.Active("s") || len(r.events) != 2 {
				t.Fatalf("calm did not switch off once: %v", r.events)
			}
			// The signal off for another site: the same flood does nothing there.
			r.run(20, load{site: "other", n: tc.flood.n, errs: tc.flood.errs, sat: tc.flood.sat,
				slow: tc.flood.slow, slowLat: tc.flood.slowLat})
			if r.d.Active("other") || len(r.events) != 2 {
				t.Fatalf("site without the signal switched: %v", r.events)
			}
		})
	}
}

func TestDetectorMinRequests(t *testing.T) {
	r := newRig(t, testOpts)
	// 1 request a second, every one a slow 5xx on a saturated site: 10 in the window < 20.
	r.run(60, load{site: "q", n: 1, errs: 1, sat: 1, slow: 1, slowLat: time.Minute})
	r.expect("")
	// Refused requests (no upstream answer) do not count in 5xx share or latency.
	r.run(60, load{site: "q", n: 3, noUpstreamAll: true})
	r.expect("")
}

func TestDetectorManualModes(t *testing.T) {
	r := newRig(t, testOpts)
	r.d.SetMode("m", ModeOn)
	r.expect("0:m:on")
	r.d.SetMode("m", ModeOn) // no switch, no call
	r.run(100)               // no traffic: held on by hand, never forgotten
	r.expect("0:m:on")
	if !r.d.Active("m") {
		t.Fatal("ModeOn not active")
	}
	r.d.SetMode("m", ModeAuto) // calm since second 1 and on for 100 s: off at next tick
	r.run(1)
	r.expect("0:m:on 101:m:off")

	r.d.SetMode("f", ModeOff)
	r.run(30, load{site: "f", n: 200})
	r.expect("0:m:on 101:m:off")
	if r.d.Active("f") {
		t.Fatal("ModeOff site switched on by a flood")
	}
	r.d.SetMode("f", ModeAuto) // the flood has been past trigger for a long time: on at once
	r.run(1, load{site: "f", n: 200})
	r.expect("0:m:on 101:m:off 132:f:on")
	r.d.SetMode("f", ModeOff)
	r.expect("0:m:on 101:m:off 132:f:on 132:f:off")
	if _, err := ParseMode("sometimes"); err == nil {
		t.Fatal("ParseMode accepted an unknown mode")
	}
	for _, m := range []Mode{ModeAuto, ModeOn, ModeOff} {
		if got, err := ParseMode(m.String()); err != nil || got != m {
			t.Fatalf("ParseMode(%q) = %v %v", m, got, err)
		}
	}
}

func TestDetectorThresholdsFuncAndReconfigure(t *testing.T) {
	opts := testOpts
	small := SiteThresholds{TriggerRate: 5}
	opts.Thresholds = func(site string) SiteThresholds {
		switch {
		case strings.HasSuffix(site, ".big.org"):
			return SiteThresholds{TriggerRate: 500}
		case site == "small.org":
			return small
		}
		return SiteThresholds{}
	}
	r := newRig(t, opts)
	r.run(10, load{site: "www.big.org", n: 100}, load{site: "small.org", n: 10}, load{site: "mid.org", n: 30})
	r.expect("4:small.org:on")
	small = SiteThresholds{}  // back to the default 50/s: 10/s is calm
	r.d.Reconfigure(r.d.opts) // a reload: thresholds resolved again, states kept
	r.run(70, load{site: "small.org", n: 10})
	r.expect("4:small.org:on 71:small.org:off")
}

func TestDetectorForgetsIdleSites(t *testing.T) {
	opts := testOpts
	opts.ForgetAfter = time.Minute
	opts.MaxSites = 50
	r := newRig(t, opts)
	var loads []load
	for i := 0; i < 100; i++ {
		loads = append(loads, load{site: fmt.Sprint("s", i), n: 1})
	}
	r.d.SetMode("held", ModeOn)
	r.run(5, loads...)
	if n := len(r.d.sites); n != 50 {
		t.Fatalf("%d sites tracked, want MaxSites 50, the one set by hand included", n)
	}
	r.run(61)
	if n := len(r.d.sites); n != 1 || r.d.sites["held"] == nil {
		t.Fatalf("after a quiet minute, %d sites tracked, want only the one set by hand", n)
	}
	r.run(1, load{site: "new", n: 1})
	if r.d.sites["new"] == nil {
		t.Fatal("a site seen after the others were forgotten is not tracked")
	}
}

// TestDetectorConcurrent observes from 4 goroutines while another ticks, sets modes and
// reconfigures; afterwards the published set of active sites agrees with every site's own
// state, and a mode set by hand takes effect at once.
func TestDetectorConcurrent(t *testing.T) {
	opts := DetectorOptions{Defaults: SiteThresholds{TriggerRate: 10}, OnSwitch: func(string, bool, string) {}}
	d := NewDetector(opts)
	var observers, ticker sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 4; w++ {
		observers.Add(1)
		go func(w int) {
			defer observers.Done()
			for i := 0; i < 20000; i++ {
				site := fmt.Sprint("s", (w+i)%30)
				d.Observe(site, Sample{Requests: 1, Latency: time.Millisecond, Queued: i%2 == 0})
				d.Active(site)
			}
		}(w)
	}
	ticker.Add(1)
	go func() {
		defer ticker.Done()
		t := t0
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			t = t.Add(time.Second)
			d.Tick(t)
			d.SetMode("s1", Mode(i%3))
			opts.Defaults.TriggerRate = float64(i%5 + 1)
			d.Reconfigure(opts)
			d.ActiveSites()
		}
	}()
	observers.Wait()
	close(stop)
	ticker.Wait()

	d.Tick(t0.Add(time.Hour))
	active := d.ActiveSites()
	for i := range 30 {
		site := fmt.Sprint("s", i)
		if d.Active(site) != slices.Contains(active, site) {
			t.Errorf("%s: Active %v, yet ActiveSites %v", site, d.Active(site), active)
		}
	}
	d.SetMode("s7", ModeOn)
	if !d.Active("s7") || !slices.Contains(d.ActiveSites(), "s7") {
		t.Errorf("s7 set on by hand: Active %v, ActiveSites %v", d.Active("s7"), d.ActiveSites())
	}
	d.SetMode("s7", ModeOff)
	if d.Active("s7") || slices.Contains(d.ActiveSites(), "s7") {
		t.Errorf("s7 set off by hand: Active %v, ActiveSites %v", d.Active("s7"), d.ActiveSites())
	}
}

// BenchmarkDetectorObserve is the per-request cost: 1,000 known sites, all CPUs.
func BenchmarkDetectorObserve(b *testing.B) {
	d := NewDetector(DetectorOptions{Defaults: SiteThresholds{TriggerRate: 100}})
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("site%d.example.org", i)
		d.Observe(names[i], Sample{Requests: 1})
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			d.Observe(names[i%len(names)], Sample{Requests: 1, Latency: 30 * time.Millisecond, Queued: i%8 == 0})
		}
	})
}

// BenchmarkDetectorActive is the per-request cost of the hot-path read.
func BenchmarkDetectorActive(b *testing.B) {
	d := NewDetector(DetectorOptions{})
	d.SetMode("site1.example.org", ModeOn)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !d.Active("site1.example.org") {
				b.Fatal("not active")
			}
		}
	})
}

// BenchmarkDetectorTick is the once-a-second cost with 1,000 busy sites.
func BenchmarkDetectorTick(b *testing.B) {
	d := NewDetector(DetectorOptions{Defaults: SiteThresholds{TriggerRate: 100}})
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("site%d.example.org", i)
	}
	t := t0
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for _, n := range names {
			d.Observe(n, Sample{Requests: 1, Latency: time.Millisecond})
		}
		b.StartTimer()
		t = t.Add(time.Second)
		d.Tick(t)
	}
}
