package protect

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// noRate is the detector's defaults with the fixed rate trigger off, as shipped: a site
// switches on from backend pressure or its own latency, not from a guessed request rate.
var noRate = DetectorOptions{
	Window: 10 * time.Second, FastWindow: 2 * time.Second, OnAfter: time.Second,
	OffAfter: 30 * time.Second, MinOn: 30 * time.Second,
}

// A site switches on from backend pressure alone — its requests queued or shed by admission
// — with no rate trigger set, within a couple of seconds; it switches off once calm, after
// the hysteresis.
func TestDetectorOnFromPressureAlone(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flood load
	}{
		{"requests queued", load{n: 40, queued: 30}},
		{"requests shed", load{n: 40, shed: 30, noUpstreamAll: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, noRate)
			r.run(20, load{site: "s", n: 40})
			r.expect("") // the same rate without pressure: calm
			tc.flood.site = "s"
			r.run(3, tc.flood)
			if !r.d.Active("s") {
				t.Fatalf("3 s of pressure: not on (%v)", r.events)
			}
			on := r.events[0]
			r.run(20, load{site: "s", n: 40, queued: 5}) // some pressure, below release: stays on
			r.run(40, load{site: "s", n: 40})
			if r.d.Active("s") || len(r.events) != 2 {
				t.Fatalf("after calm: %v, want on then off once", r.events)
			}
			var onSec, offSec int
			fmt.Sscanf(on, "%d:", &onSec)
			fmt.Sscanf(r.events[1], "%d:", &offSec)
			if offSec-onSec < 30 {
				t.Errorf("off %d s after on, want at least MinOn 30 s", offSec-onSec)
			}
		})
	}
}

// A site whose upstream latency climbs past a multiple of its own healthy latency (and by
// a delay people notice) switches on, whatever that healthy latency is: a site at 4× its
// 50 ms, not a slow site steady at 600 ms, nor a fast site going from 10 ms to 40 ms.
func TestDetectorOnFromOwnLatency(t *testing.T) {
	r := newRig(t, noRate)
	calm := []load{{site: "fast", n: 30, lat: 50 * time.Millisecond}, {site: "slow", n: 30, lat: 600 * time.Millisecond},
		{site: "tiny", n: 30, lat: 10 * time.Millisecond}}
	r.run(60, calm...)
	r.expect("")
	r.run(5, load{site: "fast", n: 30, lat: 200 * time.Millisecond}, load{site: "slow", n: 30, lat: 600 * time.Millisecond},
		load{site: "tiny", n: 30, lat: 40 * time.Millisecond})
	if !r.d.Active("fast") || r.d.Active("slow") || r.d.Active("tiny") || len(r.events) != 1 {
		t.Fatalf("events %v: want fast on, slow and tiny calm", r.events)
	}
}

// Attacker (issue 10): random Host headers never crowd out a real site's detection. 125,000
// requests with random hosts fill the table; a site with traffic keeps its place, and a
// real flood on a site first seen after the junk still switches it on.
func TestDetectorJunkHostsDoNotCrowdOut(t *testing.T) {
	opts := noRate
	opts.MaxSites = 1000
	opts.Keep = func(site string) bool { return site == "configured.test" }
	r := newRig(t, opts)
	r.run(5, load{site: "busy.test", n: 30}, load{site: "configured.test", n: 1})
	junk := 0
	for sec := 0; sec < 25; sec++ {
		for i := 0; i < 5000; i++ {
			r.d.Observe(fmt.Sprintf("junk%d.test", junk), Sample{Requests: 1})
			junk++
		}
		r.run(1, load{site: "busy.test", n: 30})
	}
	if n := len(r.d.sites); n > 1000 {
		t.Fatalf("%d sites tracked, want at most MaxSites", n)
	}
	for _, site := range []string{"busy.test", "configured.test"} {
		if r.d.sites[site] == nil {
			t.Errorf("%s lost its place to junk hosts", site)
		}
	}
	// The junk goes on; a real site, first seen now, is flooded.
	for sec := 0; sec < 5; sec++ {
		for i := 0; i < 5000; i++ {
			r.d.Observe(fmt.Sprintf("junk%d.test", junk), Sample{Requests: 1})
			junk++
		}
		r.run(1, load{site: "victim.test", n: 200, queued: 180})
	}
	if !r.d.Active("victim.test") {
		t.Fatalf("flooded site never switched on among junk hosts (%v)", r.events)
	}
}

// Attacker (issue 10): long Host headers do not grow the detector's memory: names past
// MaxSiteLen share one state.
func TestDetectorLongHostsBoundedInBytes(t *testing.T) {
	r := newRig(t, noRate)
	long := strings.Repeat("a", 16<<10)
	for i := 0; i < 2000; i++ {
		r.d.Observe(fmt.Sprintf("%d.%s", i, long), Sample{Requests: 1})
	}
	r.run(1)
	bytes := 0
	for name := range r.d.sites {
		bytes += len(name)
	}
	if len(r.d.sites) != 1 || r.d.sites[LongSite] == nil || bytes > MaxSiteLen {
		t.Fatalf("%d sites, %d bytes of names after 2000 16 KB hosts; want one shared state", len(r.d.sites), bytes)
	}
}

// qrig drives a Detector with the shipped defaults (no rate trigger, Resolution, FastWindow
// and OnAfter as shipped) on an injected clock, a tick every Resolution, with traffic spread
// over each tick in steps of a millisecond.
type qrig struct {
	t   *testing.T
	d   *Detector
	at  time.Time // the clock
	on  map[string]time.Time
	res time.Duration
}

func newQrig(t *testing.T) *qrig {
	r := &qrig{t: t, at: t0, on: map[string]time.Time{}}
	clock := t0
	setClock(t, &clock)
	r.d = NewDetector(DetectorOptions{OnSwitch: func(site string, on bool, reason string) {
		if on {
			r.on[site] = r.at
		}
	}})
	r.res = r.d.Resolution()
	r.d.Tick(r.at)
	return r
}

// stream is one site's traffic: pages a second that end without meeting the limit, and
// pages a second that meet it (reported as met: pressed; or refused at once: shed).
type stream struct {
	site           string
	calm, pressed  float64
	shed           float64
	refused        float64 // pages floodgate answered itself (a budget's 429, a challenge)
	latency        time.Duration
	pressedAsEnded bool // the pressed pages are also reported when they end (queued)
}

// play runs d for dur: each millisecond, each stream's due requests; a Tick every
// Resolution.
func (r *qrig) play(dur time.Duration, streams ...stream) {
	r.t.Helper()
	owed := make([][4]float64, len(streams))
	for end := r.at.Add(dur); r.at.Before(end); {
		r.at = r.at.Add(time.Millisecond)
		for i, s := range streams {
			o := &owed[i]
			o[0] += s.calm / 1000
			o[1] += s.pressed / 1000
			o[2] += s.shed / 1000
			o[3] += s.refused / 1000
			lat := s.latency
			if lat == 0 {
				lat = 50 * time.Millisecond
			}
			for ; o[0] >= 1; o[0]-- {
				r.d.Observe(s.site, Sample{Requests: 1, Latency: lat})
			}
			for ; o[1] >= 1; o[1]-- {
				r.d.Observe(s.site, Sample{Pressed: true})
				if s.pressedAsEnded {
					r.d.Observe(s.site, Sample{Requests: 1, Queued: true, Latency: lat})
				}
			}
			for ; o[2] >= 1; o[2]-- {
				r.d.Observe(s.site, Sample{Pressed: true})
				r.d.Observe(s.site, Sample{Requests: 1, Shed: true})
			}
			for ; o[3] >= 1; o[3]-- {
				r.d.Observe(s.site, Sample{Requests: 1})
			}
		}
		if r.at.Sub(t0)%r.res == 0 {
			r.d.Tick(r.at)
		}
	}
}

// Issue 11: a site switches on from backend pressure alone — no rate trigger set, the
// shipped defaults — within one second of the pressure's start, whether its requests wait
// (the pressure is heard as it is met, not when they end) or are refused at once, and
// wherever in a tick the pressure starts. A busy site whose requests meet no pressure, at
// ten times the flooded site's rate, never switches on; nor does a site whose latency
// wobbles below its trigger, nor one whose many refused requests (a budget's) never asked
// for the backend while its other pages met no pressure. A flood's refusals do not hide its
// pressure: the share is of the pages that asked for the backend.
func TestDetectorOnWithinASecondOfPressure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flood stream
	}{
		{"closed loop: requests wait, none has ended", stream{pressed: 60}},
		{"requests queued, then served", stream{pressed: 200, pressedAsEnded: true}},
		{"requests shed at once", stream{shed: 400}},
		{"the site's own pages pressed too", stream{pressed: 40, calm: 0}},
		{"most of the flood refused by budgets, the rest pressed", stream{refused: 800, pressed: 60}},
	} {
		for _, offset := range []time.Duration{0, 1 * time.Millisecond, 120 * time.Millisecond, 249 * time.Millisecond} {
			t.Run(fmt.Sprintf("%s/starts %v into a tick", tc.name, offset), func(t *testing.T) {
				r := newQrig(t)
				calm := []stream{{site: "flooded", calm: 40}, {site: "busy", calm: 400}, {site: "wobbly", calm: 40},
					{site: "throttled", calm: 40, refused: 400}}
				r.play(30*time.Second, calm...)
				r.play(offset, calm...)
				if len(r.on) != 0 {
					t.Fatalf("calm traffic switched on %v", r.on)
				}
				start := r.at
				flood := tc.flood
				flood.site = "flooded"
				r.play(3*time.Second, flood, stream{site: "busy", calm: 400},
					stream{site: "wobbly", calm: 40, latency: 120 * time.Millisecond}, // 2.4×, below 3×
					stream{site: "throttled", calm: 40, refused: 400, pressed: 10})    // a quarter pressed
				on, ok := r.on["flooded"]
				if !ok {
					t.Fatalf("3 s of pressure: not on")
				}
				t.Logf("on %v after the pressure began", on.Sub(start))
				if after := on.Sub(start); after > time.Second {
					t.Errorf("switched on %v after the pressure began, want within 1s", after)
				}
				for _, quiet := range []string{"busy", "wobbly", "throttled"} {
					if _, ok := r.on[quiet]; ok {
						t.Errorf("%s switched on without pressure", quiet)
					}
				}
			})
		}
	}
}

// A blip of pressure shorter than OnAfter — one page's assets waiting, a burst of a few
// requests — does not switch a site on; nor does pressure on fewer requests than
// MinRequests in the window.
func TestDetectorPressureBlipStaysOff(t *testing.T) {
	r := newQrig(t)
	r.play(20*time.Second, stream{site: "s", calm: 40})
	r.play(250*time.Millisecond, stream{site: "s", pressed: 200})
	r.play(10*time.Second, stream{site: "s", calm: 40})
	r.play(20*time.Second, stream{site: "few", pressed: 1}) // 10 in the window, fewer than MinRequests
	if len(r.on) != 0 {
		t.Fatalf("switched on: %v", r.on)
	}
}

// A reload that changes the resolution or the fast window resizes every site's rings and
// keeps detecting; the ticker follows Resolution.
func TestDetectorReconfigureResolution(t *testing.T) {
	r := newQrig(t)
	r.play(5*time.Second, stream{site: "s", calm: 40})
	opts := r.d.opts
	opts.Resolution, opts.FastWindow = 100*time.Millisecond, 2*time.Second
	r.d.Reconfigure(opts)
	if got := r.d.Resolution(); got != 100*time.Millisecond {
		t.Fatalf("Resolution %v after reload, want 100ms", got)
	}
	if n := len(r.d.sites["s"].fast); n != 21 {
		t.Fatalf("fast ring of %d ticks, want 21 (2 s of 100 ms ticks, and one)", n)
	}
	r.res = 100 * time.Millisecond
	r.play(10*time.Second, stream{site: "s", calm: 40})
	start := r.at
	r.play(3*time.Second, stream{site: "s", pressed: 200})
	if on, ok := r.on["s"]; !ok || on.Sub(start) > time.Second {
		t.Fatalf("after the reload: on %v (%v after the pressure began), want within 1s", ok, on.Sub(start))
	}
}
