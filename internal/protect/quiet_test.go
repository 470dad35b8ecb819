package protect

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// pair drives two Detectors with the same samples and ticks: one that skips quiet sites,
// and a reference that ticks every site (tickAll). Switches are recorded as
// "tick:site:on|off:signal" (the signal's name without its figures: a woken site's window
// spans a little more or less time than the reference's, by where its seconds closed).
type pair struct {
	d, ref         *Detector
	tick           int
	t              time.Time
	events, refEvs []string
	jitter         func() time.Duration // added to each tick's Resolution, when set
	slack          int                  // ticks a switch may be from the reference's (check)
}

func newPair(t *testing.T, opts DetectorOptions) *pair {
	p := &pair{t: t0, slack: 4}
	clock := t0
	setClock(t, &clock)
	rec := func(evs *[]string) func(string, bool, string) {
		return func(site string, on bool, reason string) {
			state := "off"
			if on {
				state = "on"
			}
			*evs = append(*evs, fmt.Sprintf("%d:%s:%s:%s", p.tick, site, state, signalName(reason)))
		}
	}
	o := opts
	o.OnSwitch = rec(&p.events)
	p.d = NewDetector(o)
	o.OnSwitch = rec(&p.refEvs)
	p.ref = NewDetector(o)
	p.ref.tickAll = true
	p.d.Tick(t0)
	p.ref.Tick(t0)
	return p
}

// signalName is a switch reason without its figures.
func signalName(reason string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r == '.' {
			return -1
		}
		return r
	}, reason)
}

func (p *pair) observe(site string, s Sample) {
	p.d.Observe(site, s)
	p.ref.Observe(site, s)
}

// step ticks both after every Resolution.
func (p *pair) step() {
	p.tick++
	p.t = p.t.Add(DefaultResolution)
	if p.jitter != nil {
		p.t = p.t.Add(p.jitter())
	}
	p.d.Tick(p.t)
	p.ref.Tick(p.t)
}

// check compares the switches so far with the reference's: for every site the same
// switches, on and off in turn, each at most p.slack ticks from the reference's. With
// ticks every Resolution exactly they are the same (exact); with ticks early or late a
// woken site's seconds may close a tick away from where the skipped ticks would have
// closed them, so its window's span, the denominator of its rates, differs by up to a
// second, and a rate hovering near a trigger (past it for a tick, under it the next) may
// hold a run of OnAfter a little longer or shorter.
func (p *pair) check(t *testing.T) {
	t.Helper()
	got, want := bySite(p.events), bySite(p.refEvs)
	for site, w := range want {
		g := got[site]
		if len(g) != len(w) {
			t.Fatalf("site %s: switches %v, reference %v", site, g, w)
		}
		for i := range w {
			if g[i].on != w[i].on || g[i].tick < w[i].tick-p.slack || g[i].tick > w[i].tick+p.slack {
				t.Fatalf("site %s: switches %v, reference %v", site, g, w)
			}
		}
	}
	if len(got) != len(want) {
		t.Fatalf("sites switched %v, reference %v", got, want)
	}
	for name := range p.ref.sites {
		if q := p.d.sites[name]; q == nil {
			t.Fatalf("site %s: forgotten, the reference tracks it", name)
		}
	}
	if len(p.d.sites) != len(p.ref.sites) {
		t.Fatalf("%d sites tracked, reference %d", len(p.d.sites), len(p.ref.sites))
	}
}

// exact says whether the switches are the reference's, at the same ticks, for the same
// signals (in any order within a tick: each Detector ticks its sites in map order).
func (p *pair) exact() bool {
	a, b := slices.Clone(p.events), slices.Clone(p.refEvs)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

type switchAt struct {
	tick int
	on   bool
}

func bySite(evs []string) map[string][]switchAt {
	out := map[string][]switchAt{}
	for _, e := range evs {
		f := strings.SplitN(e, ":", 4)
		var tick int
		fmt.Sscan(f[0], &tick)
		out[f[1]] = append(out[f[1]], switchAt{tick, f[2] == "on"})
	}
	return out
}

// TestQuietSitesSwitchAsIfTicked plays the traffic a shared host meets — most sites idle
// for long stretches, then a flood on one (requests past the rate trigger, 5xx, slow
// answers, backend pressure), a burst, a trickle — and checks that skipping quiet sites
// switches the same sites on and off at the same ticks, for the same signals, as ticking
// every site.
func TestQuietSitesSwitchAsIfTicked(t *testing.T) {
	type phase struct {
		ticks int
		site  string
		per   int // samples per tick
		smp   Sample
	}
	flood := Sample{Requests: 1, Latency: 20 * time.Millisecond}
	for _, c := range []struct {
		name   string
		opts   DetectorOptions
		phases []phase
	}{
		{"rate flood after an hour idle, then calm", testOpts, []phase{
			{4, "a", 2, flood}, {4 * 3600, "", 0, Sample{}}, {4 * 20, "a", 30, flood}, {4 * 200, "", 0, Sample{}},
		}},
		{"5xx after idle", DetectorOptions{MinRequests: 5}, []phase{
			{8, "b", 3, Sample{Requests: 1, Latency: time.Millisecond}}, {4 * 60, "", 0, Sample{}},
			{4 * 10, "b", 5, Sample{Requests: 1, Latency: time.Millisecond, Errors5xx: 1}}, {4 * 150, "", 0, Sample{}},
		}},
		{"latency past the baseline after idle", DetectorOptions{MinRequests: 5}, []phase{
			{4 * 30, "c", 5, Sample{Requests: 1, Latency: 10 * time.Millisecond}}, {4 * 100, "", 0, Sample{}},
			{4 * 15, "c", 5, Sample{Requests: 1, Latency: time.Second}}, {4 * 150, "", 0, Sample{}},
		}},
		{"backend pressure only (Pressed) after idle", DetectorOptions{MinRequests: 5}, []phase{
			{4 * 20, "d", 1, Sample{Requests: 1, Latency: 10 * time.Millisecond}}, {4 * 30, "", 0, Sample{}},
			{4 * 10, "d", 10, Sample{Requests: 1, Queued: true, Latency: 10 * time.Millisecond}}, {4 * 150, "", 0, Sample{}},
		}},
		{"a burst just under the fast window's trigger", testOpts, []phase{
			{4 * 30, "", 0, Sample{}}, {3, "e", 12, flood}, {4 * 30, "", 0, Sample{}}, {2, "e", 40, flood}, {4 * 90, "", 0, Sample{}},
		}},
		{"static files only (latency, no requests)", DetectorOptions{MinRequests: 5}, []phase{
			{4 * 20, "f", 3, Sample{Latency: 5 * time.Millisecond}}, {4 * 30, "", 0, Sample{}},
			{4 * 10, "f", 3, Sample{Latency: 5 * time.Millisecond, Errors5xx: 1}}, {4 * 30, "", 0, Sample{}},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, c.opts)
			for _, ph := range c.phases {
				for range ph.ticks {
					for range ph.per {
						p.observe(ph.site, ph.smp)
					}
					p.step()
					if ph.site == "" && p.tick%4 == 0 {
						p.check(t)
					}
				}
			}
			p.check(t)
			if !p.exact() {
				t.Errorf("switches %v, reference %v: want the same ticks and signals", p.events, p.refEvs)
			}
			if len(p.refEvs) == 0 && c.name != "a burst just under the fast window's trigger" {
				t.Fatalf("no switch at all: the case tests nothing")
			}
		})
	}
}

// TestQuietSitesRandomTraffic: 40 sites, random bursts over long idle stretches (some
// forgotten, some evicted), same switches as ticking every site; with ticks a little early
// or late (a loaded host's ticker) and bursts well past the trigger, each within two
// seconds of the reference's. (Near a trigger, with ticks early or late, a woken site may
// switch where the reference does not, and the other way round: its seconds close a tick
// or so away from the reference's, as they would had the site first been seen a tick
// later; its rates differ by up to a tenth.)
func TestQuietSitesRandomTraffic(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		jittered := seed > 4
		t.Run(fmt.Sprint("seed", seed, "jitter", jittered), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 9))
			opts := testOpts
			opts.OffAfter, opts.MinOn, opts.ForgetAfter, opts.MaxSites = 20*time.Second, 20*time.Second, 2*time.Minute, 30
			p := newPair(t, opts)
			if jittered {
				p.jitter = func() time.Duration { return time.Duration(rng.IntN(41)-20) * time.Millisecond }
				p.slack = 8
			}
			burst := map[string]int{} // ticks left of a site's burst
			for range 4 * 1200 {
				if rng.IntN(40) == 0 {
					burst[fmt.Sprint("s", rng.IntN(40))] = 1 + rng.IntN(4*15)
				}
				for site, left := range burst {
					n := rng.IntN(40) // 80/s on average, trigger 50/s: many near it
					if jittered {
						n = 30 + rng.IntN(10) // past the trigger by twice or more: a near miss is phase, not skipping
					}
					for k := range n {
						p.observe(site, Sample{Requests: 1, Latency: time.Duration(1+rng.IntN(300)) * time.Millisecond, Errors5xx: k % 3 / 2, Queued: k%5 == 0})
					}
					if left--; left == 0 {
						delete(burst, site)
					} else {
						burst[site] = left
					}
				}
				p.step()
			}
			p.check(t)
			if !jittered && !p.exact() { // ticks every Resolution exactly: the woken seconds close where the skipped ticks would have
				t.Errorf("switches %v, reference %v: want the same ticks and signals", p.events, p.refEvs)
			}
			if len(p.refEvs) == 0 {
				t.Fatal("no switch at all: the traffic tests nothing")
			}
		})
	}
}

// TestQuietSiteSkippedAndWoken: a site idle for its whole window is quiet and not ticked
// (its rings are left as they are); a sample wakes it, and it is ticked again.
func TestQuietSiteSkippedAndWoken(t *testing.T) {
	p := newPair(t, testOpts)
	for range 8 {
		p.observe("a", Sample{Requests: 1, Latency: time.Millisecond})
		p.step()
	}
	for range 4 * 12 {
		p.step()
	}
	s := p.d.sites["a"]
	if !s.quiet || p.ref.sites["a"].quiet {
		t.Fatalf("after 12 idle seconds: quiet %v (want true), reference quiet %v (want false)", s.quiet, p.ref.sites["a"].quiet)
	}
	fast, ring := slices.Clone(s.fast), slices.Clone(s.ring)
	for range 4 * 5 {
		p.step()
	}
	if !slices.Equal(fast, s.fast) || !slices.Equal(ring, s.ring) {
		t.Fatal("a quiet site's rings changed: it was ticked")
	}
	p.observe("a", Sample{Requests: 3, Latency: time.Millisecond})
	p.step()
	if s.quiet || slices.Equal(fast, s.fast) {
		t.Fatal("a quiet site that got a request was not ticked")
	}
	got, _ := s.roll.window(s.ring, s.next, &s.acc, p.d.ns(p.t), testOpts.Window)
	r := p.ref.sites["a"]
	want, _ := r.roll.window(r.ring, r.next, &r.acc, p.ref.ns(p.t), testOpts.Window)
	if got != want || got.req != 3 {
		t.Fatalf("woken site's window %+v, reference %+v (want 3 requests)", got, want)
	}
	// SetMode wakes a quiet site too, and a site on by hand is never quiet.
	for range 4 * 12 {
		p.step()
	}
	if !s.quiet {
		t.Fatal("not quiet again after 12 idle seconds")
	}
	p.d.SetMode("a", ModeOn)
	p.step()
	if s.quiet || !p.d.Active("a") {
		t.Fatalf("set on by hand: quiet %v, on %v", s.quiet, p.d.Active("a"))
	}
}

// TestQuietSiteEndsUnderAttackWithHysteresis: a site switched on by a flood that then
// stops dead (no request at all: nothing touches it) is still ticked while it is on, and
// switches off after OffAfter of calm and MinOn, at the tick the reference does; then it
// goes quiet.
func TestQuietSiteEndsUnderAttackWithHysteresis(t *testing.T) {
	p := newPair(t, testOpts)
	for range 4 * 10 {
		for range 40 {
			p.observe("x", Sample{Requests: 1, Latency: time.Millisecond})
		}
		p.step()
	}
	if !p.d.Active("x") {
		t.Fatal("flood at 160/s (trigger 50/s) did not switch the site on")
	}
	onAt := p.tick
	for range 4 * 120 {
		p.step()
		if s := p.d.sites["x"]; s.quiet && s.active.Load() {
			t.Fatalf("tick %d: a site on is quiet", p.tick)
		}
	}
	p.check(t)
	if !p.exact() {
		t.Errorf("switches %v, reference %v: want the same ticks", p.events, p.refEvs)
	}
	if p.d.Active("x") || len(p.events) != 2 {
		t.Fatalf("after 120 s without requests: on %v, switches %v; want switched off", p.d.Active("x"), p.events)
	}
	var offAt int
	if _, err := fmt.Sscanf(p.events[1], "%d:", &offAt); err != nil {
		t.Fatal(err)
	}
	// Calm from when the window emptied (10 s after the flood), off 60 s later (OffAfter),
	// and no sooner than MinOn after it went on.
	if secs := float64(offAt-onAt) / 4; secs < 60 || secs > 75 {
		t.Fatalf("switched off %.2f s after it went on; want after MinOn 60 s and OffAfter 60 s of calm (about 70 s)", secs)
	}
	if !p.d.sites["x"].quiet {
		t.Fatal("off and idle, the site is not quiet")
	}
}

// TestQuietSiteEvictable: a quiet site whose ring still holds an old burst (ticks far
// apart) counts only what is in its window, so it may give its place to a new site.
func TestQuietSiteEvictable(t *testing.T) {
	opts := testOpts
	opts.MaxSites, opts.ForgetAfter = 1, 24*time.Hour
	d := NewDetector(opts)
	for range 5 {
		d.Observe("old", Sample{Requests: 1})
	}
	d.Tick(t0)
	d.Tick(t0.Add(time.Hour)) // the burst is out of the window, still in the ring
	if s := d.sites["old"]; !s.quiet || s.traffic() != 0 {
		t.Fatalf("old: quiet %v, traffic %d; want quiet, 0", s.quiet, s.traffic())
	}
	d.Observe("new", Sample{Requests: 1})
	if d.sites["new"] == nil || d.sites["old"] != nil {
		t.Fatal("the quiet site did not give its place")
	}
}
