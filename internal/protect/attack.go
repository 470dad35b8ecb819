package protect

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Mode says who decides whether a site is under attack.
type Mode uint8

const (
	// ModeAuto lets the Detector switch the site on and off by its load signals (default).
	ModeAuto Mode = iota
	// ModeOn keeps the site under attack mode, set by hand.
	ModeOn
	// ModeOff keeps the site out of under-attack mode, set by hand.
	ModeOff
)

// String returns "auto", "on" or "off".
func (m Mode) String() string {
	switch m {
	case ModeOn:
		return "on"
	case ModeOff:
		return "off"
	}
	return "auto"
}

// ParseMode reads "auto", "on" or "off".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "auto":
		return ModeAuto, nil
	case "on":
		return ModeOn, nil
	case "off":
		return ModeOff, nil
	}
	return ModeAuto, fmt.Errorf("under-attack mode %q: expected auto, on or off", s)
}

// Sample is what one answered request tells the Detector.
type Sample struct {
	// Requests is the number of requests the sample stands for, usually 1. Every request
	// counts, refused ones included: it is the site's request rate.
	Requests int
	// Errors5xx is the number of 5xx answers from the upstream (not floodgate's own refusals).
	Errors5xx int
	// Latency is the upstream's response time for a request that went upstream, 0 for one
	// that did not (refused, served by floodgate). Only non-zero latencies are counted.
	Latency time.Duration
	// Queued is true when the request waited for admission to the backend; Shed when it
	// was refused by admission (queue full, wait bound, place taken by a more trusted
	// request). Both are backend pressure from this site's traffic.
	Queued, Shed bool
	// Pressed reports, as it happens, a page request that has just met the limit under
	// pressure (it is about to wait, or is refused): the same pressure Queued and Shed
	// report when the request ends, up to the wait bound later. A sample with Pressed set
	// says nothing else (its other fields are ignored); the Detector counts the larger of
	// the two reports over a window, never their sum, so a request reported both ways
	// counts once.
	Pressed bool
}

// SiteThresholds are the triggers of the under-attack signals of a site. A signal is past
// its trigger at or above it, and calm below ReleaseFactor times it. In
// DetectorOptions.Defaults a zero field takes the package default below; in
// DetectorOptions.Thresholds a zero field inherits from DetectorOptions.Defaults. A
// negative value turns the signal off.
type SiteThresholds struct {
	// TriggerRate is the request rate (requests per second over the window) of the site
	// that means an attack; set it from the site's budget. Package default: off.
	TriggerRate float64
	// TriggerErrorShare is the share (0 to 1) of upstream answers that are 5xx that means
	// an attack. Package default: 0.5.
	TriggerErrorShare float64
	// TriggerLatency is a fixed upstream latency that means an attack, compared with the
	// 90th percentile of the window's upstream latencies. Package default: off (the site's
	// own baseline is used instead, see TriggerLatencyFactor).
	TriggerLatency time.Duration
	// TriggerLatencyFactor is how many times its own healthy latency a site's mean upstream
	// latency over the window must reach to mean an attack, and at least 100 ms more (a
	// delay people notice). The healthy latency is learned from the site's calm windows.
	// Package default: 3.
	TriggerLatencyFactor float64
	// TriggerSaturation is the share (0 to 1) of the pages that asked for the backend that
	// met backend pressure — queued or shed by admission, or the site at its cap — that
	// means an attack (pages floodgate answered itself, refused or challenged, asked
	// nothing of the backend and do not count). Package default:
	// 0.5 (a flooded site's requests meet the limit nine times in ten; a quiet site
	// touched by another's flood, far fewer).
	TriggerSaturation float64
}

// Package defaults of SiteThresholds.
const (
	DefaultTriggerErrorShare    = 0.5
	DefaultTriggerLatencyFactor = 3
	DefaultTriggerSaturation    = 0.5
)

// DefaultOnAfter is how long a signal must stay past its trigger before a site switches on,
// when DetectorOptions.OnAfter is not set: the one default of floodgate's on_after. With
// the default Resolution and FastWindow, a flood shows at the first tick after it starts
// (at most DefaultResolution late), so a site switches on within
// DefaultResolution+DefaultOnAfter+DefaultResolution = 1 s of pressure, even when the
// first quarter second was too little to tell.
const DefaultOnAfter = 500 * time.Millisecond

// DefaultResolution is how often Tick is called by default (DetectorOptions.Resolution).
const DefaultResolution = 250 * time.Millisecond

// DefaultFastWindow is the default DetectorOptions.FastWindow.
const DefaultFastWindow = time.Second

// slowStep is the span of one bucket of the whole window: the whole window is kept a
// second at a time (its memory does not grow with a finer Resolution), the fast window
// a tick at a time.
const slowStep = time.Second

// minLatencyExcess is how far above its healthy latency a site's mean latency must also be
// for the latency signal to count: about the delay a person starts to notice, so that a
// 10 ms site at 40 ms (a busy machine, not an attack) is not switched on.
const minLatencyExcess = 100 * time.Millisecond

// baselineSmoothing is how much of a calm window's mean latency moves a site's healthy
// latency: slow, so that a flood building up over minutes does not become the baseline.
const baselineSmoothing = 0.05

// MaxSiteLen is the longest site name tracked on its own; longer names (no DNS name is)
// share one state named LongSite, so that the Detector's memory is bounded in bytes:
// MaxSites × (MaxSiteLen + the state of a site, about 1.7 KB with a 10 s window and a 1 s
// fast window at the default Resolution).
const MaxSiteLen = 253

// LongSite is the state shared by every site name longer than MaxSiteLen.
const LongSite = "(host name too long)"

// latencyQuantile is the share of slow upstream answers that puts the latency signal past
// its trigger: 0.1 compares the 90th percentile.
const latencyQuantile = 0.1

// DetectorOptions sets a Detector. Zero fields take the defaults given.
type DetectorOptions struct {
	// Defaults are the thresholds of every site without its own (see SiteThresholds).
	Defaults SiteThresholds
	// Thresholds, when set, gives the thresholds of a site (for example from host
	// patterns); zero fields inherit from Defaults. It is called when a site is first seen
	// and on Reconfigure, never per request.
	Thresholds func(site string) SiteThresholds
	// Window is the sliding window over which signals are measured. Default 10s.
	Window time.Duration
	// FastWindow is a shorter window whose signals may also switch a site on (never off),
	// so that a flood is caught within a second of its start. Default 1s (DefaultFastWindow);
	// at least one tick.
	FastWindow time.Duration
	// Resolution is how often the caller calls Tick (see Detector.Resolution): the fast
	// window is kept a tick at a time, so a flood shows at the first tick after it starts.
	// Default 250ms (DefaultResolution).
	Resolution time.Duration
	// OnAfter is how long a signal must stay past its trigger before the site switches on.
	// Default DefaultOnAfter (500ms).
	OnAfter time.Duration
	// OffAfter is how long all signals must stay calm (below ReleaseFactor × trigger)
	// before the site switches off. Default 60s.
	OffAfter time.Duration
	// MinOn is the shortest time a site stays on once switched on. Default 60s.
	MinOn time.Duration
	// ReleaseFactor is the fraction of a trigger below which a signal is calm; between it
	// and the trigger, a site that is on stays on (hysteresis). Default 0.5.
	ReleaseFactor float64
	// MinRequests is the fewest requests (for shares) or upstream answers (for 5xx share
	// and latency) in the window for those signals to count, so that a quiet site is not
	// switched on by two slow pages. Default 20.
	MinRequests int
	// ForgetAfter is how long a site in ModeAuto, off, without traffic, is kept before
	// its state is dropped. Default 10m.
	ForgetAfter time.Duration
	// MaxSites bounds the sites tracked. When they are all tracked, a new site takes the
	// place of a site with at most one request in the window (junk hosts seen once), never
	// that of a site with traffic, one under attack, one set by hand or one Keep keeps;
	// when none can give its place, the new site's samples are ignored until one can.
	// Default 10000.
	MaxSites int
	// Keep, when set, names the sites never to forget or evict (configured sites). It is
	// called when a site is first seen, never per request.
	Keep func(site string) bool
	// OnSwitch, when set, is called once for every switch of a site, on or off, with a
	// reason for the log. It is called from Tick or SetMode, one call at a time and in
	// order; it must not call SetMode, Reconfigure or Tick.
	OnSwitch func(site string, on bool, reason string)
}

// withDefaults fills the zero fields of o.
func (o DetectorOptions) withDefaults() DetectorOptions {
	setDur := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	setDur(&o.Window, 10*time.Second)
	setDur(&o.FastWindow, DefaultFastWindow)
	setDur(&o.Resolution, DefaultResolution)
	setDur(&o.OnAfter, DefaultOnAfter)
	setDur(&o.OffAfter, 60*time.Second)
	setDur(&o.MinOn, 60*time.Second)
	setDur(&o.ForgetAfter, 10*time.Minute)
	if o.ReleaseFactor <= 0 || o.ReleaseFactor > 1 {
		o.ReleaseFactor = 0.5
	}
	if o.MinRequests <= 0 {
		o.MinRequests = 20
	}
	if o.MaxSites <= 0 {
		o.MaxSites = 10000
	}
	o.Defaults = inherit(o.Defaults, SiteThresholds{
		TriggerErrorShare:    DefaultTriggerErrorShare,
		TriggerLatencyFactor: DefaultTriggerLatencyFactor,
		TriggerSaturation:    DefaultTriggerSaturation,
	})
	return o
}

// inherit fills the zero fields of t from base.
func inherit(t, base SiteThresholds) SiteThresholds {
	if t.TriggerRate == 0 {
		t.TriggerRate = base.TriggerRate
	}
	if t.TriggerErrorShare == 0 {
		t.TriggerErrorShare = base.TriggerErrorShare
	}
	if t.TriggerLatency == 0 {
		t.TriggerLatency = base.TriggerLatency
	}
	if t.TriggerLatencyFactor == 0 {
		t.TriggerLatencyFactor = base.TriggerLatencyFactor
	}
	if t.TriggerSaturation == 0 {
		t.TriggerSaturation = base.TriggerSaturation
	}
	return t
}

// Detector switches sites into and out of under-attack mode by their load signals, with
// hysteresis, or by hand. Observe (per request) and Active (per request) are cheap; Tick,
// called once a second, does the measuring. It keeps state only for sites with recent
// traffic or a mode set by hand. A Detector is safe for concurrent use.
type Detector struct {
	tickMu sync.Mutex // serialises the state changes and their OnSwitch calls
	mu     sync.RWMutex
	opts   DetectorOptions
	sites  map[string]*attackSite
	last   time.Time // previous Tick
	// epoch is the origin of the buckets' times (nanoseconds since it, so that buckets hold
	// no pointers for the GC to scan), a century before the Detector was made: a bucket
	// time is never 0 (0 marks an empty bucket), and t.Sub(epoch) keeps the monotonic
	// clock of times that have it.
	epoch time.Time
	// active is the set of sites on, replaced by a copy at every switch (rare), so that
	// Active takes no lock.
	active atomic.Pointer[map[string]struct{}]
	// tickAll turns quiet sites off (tests: the reference the skipping is compared with).
	tickAll bool
}

// attackSite is the state of one site. Its first fields are what Tick reads of a quiet
// site (one cache line: the state is allocated in a 576-byte size class, 64-byte aligned),
// so that a quiet site costs a tick one cache line, not the 2 KB of its rings.
type attackSite struct {
	// touched is set by Observe when it counts a sample (and by SetMode and Reconfigure):
	// the site had something since the last tick. Cleared by Tick.
	touched atomic.Bool
	active  atomic.Bool // read by Active without d.mu held for writing
	created bool        // set on creation, cleared by the first Tick
	kept    bool        // Keep(site): never forgotten nor evicted
	// quiet: at its last tick the site had nothing in its window nor in the tick, was in
	// ModeAuto and not on: every tick after it would only close empty buckets, so Tick
	// skips it until it is touched (then wake rebuilds its rings as those ticks would have
	// left them). Owned by Tick.
	quiet    bool
	mode     Mode      // owned by Tick and SetMode, like the fields below the hot path
	lastSeen time.Time // owned by Tick
	// Hot path: written by Observe without d.mu held for writing.
	cur    counts
	slowAt atomic.Int64 // latency trigger in ns, 0 = off
	calmAt atomic.Int64 // latency release in ns, 0 = off

	// Owned by Tick and SetMode (under d.mu held for writing).
	th        SiteThresholds
	ring      []bucket // the whole window, a second (slowStep) a bucket
	next      int      // ring position of the next bucket
	acc       bucket   // the ticks since ring's last bucket closed (acc.at zero: none)
	roll      rolling  // the running sum of ring's buckets in the window
	fast      []bucket // the fast window, a tick a bucket
	fastNext  int
	overSince time.Time
	runSince  time.Time // first of the run of ticks whose own signals are past a trigger
	calmSince time.Time
	onSince   time.Time
	baseline  float64 // healthy mean upstream latency in ns, 0 until learned
}

// counts are the atomic counters of the current tick.
type counts struct {
	req, asked, err, sat, press, up, slow, slowRel, upSum atomic.Int64
}

// tally is the counts of an interval.
type tally struct {
	req, asked, err, sat, press, up, slow, slowRel, upSum int64
}

// bucket holds counts for the interval (from, at]: one Tick's, or a second's. Its times are
// nanoseconds since the Detector's epoch (no pointers: the GC need not scan the rings);
// at 0 marks an empty bucket.
type bucket struct {
	tally
	from, at int64
}

// add adds the counts of o to b.
func (b *tally) add(o *tally) {
	b.req += o.req
	b.asked += o.asked
	b.err += o.err
	b.sat += o.sat
	b.press += o.press
	b.up += o.up
	b.slow += o.slow
	b.slowRel += o.slowRel
	b.upSum += o.upSum
}

// sub takes the counts of o from b.
func (b *tally) sub(o *tally) {
	b.req -= o.req
	b.asked -= o.asked
	b.err -= o.err
	b.sat -= o.sat
	b.press -= o.press
	b.up -= o.up
	b.slow -= o.slow
	b.slowRel -= o.slowRel
	b.upSum -= o.upSum
}

// NewDetector returns a Detector with the given options.
func NewDetector(opts DetectorOptions) *Detector {
	d := &Detector{
		opts:  opts.withDefaults(),
		sites: make(map[string]*attackSite),
		epoch: time.Now().Add(-100 * 365 * 24 * time.Hour),
	}
	d.active.Store(&map[string]struct{}{})
	return d
}

// publish rebuilds the set of active sites after switches; d.mu is held for writing.
func (d *Detector) publish() {
	m := make(map[string]struct{})
	for name, s := range d.sites {
		if s.active.Load() {
			m[name] = struct{}{}
		}
	}
	d.active.Store(&m)
}

// Reconfigure changes the options of a running Detector (on a config reload), keeping
// the sites' measurements, modes and states.
func (d *Detector) Reconfigure(opts DetectorOptions) {
	d.tickMu.Lock()
	defer d.tickMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.opts = opts.withDefaults()
	for name, s := range d.sites {
		s.kept = d.opts.Keep != nil && d.opts.Keep(name)
		s.touched.Store(true) // ticked in full at the next tick, with the new options
		d.resolve(name, s)
		if n := d.ringLen(); len(s.ring) != n {
			s.ring, s.next = make([]bucket, n), 0
		}
		s.roll.invalidate(0) // the window may have changed: re-summed at the next tick
		if n := d.fastLen(); len(s.fast) != n {
			s.fast, s.fastNext = make([]bucket, n), 0
		}
	}
}

// Resolution is how often Tick is to be called (DetectorOptions.Resolution).
func (d *Detector) Resolution() time.Duration {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.opts.Resolution
}

// resolve sets the thresholds of s: Thresholds', inheriting Defaults.
func (d *Detector) resolve(name string, s *attackSite) {
	var th SiteThresholds
	if d.opts.Thresholds != nil {
		th = d.opts.Thresholds(name)
	}
	s.th = inherit(th, d.opts.Defaults)
	slow, calm := int64(0), int64(0)
	if s.th.TriggerLatency > 0 {
		slow = int64(s.th.TriggerLatency)
		calm = max(int64(float64(slow)*d.opts.ReleaseFactor), 1)
	}
	s.slowAt.Store(slow)
	s.calmAt.Store(calm)
}

func (d *Detector) ringLen() int {
	return max(int((d.opts.Window+slowStep-1)/slowStep), 1)
}

// fastLen is the fast ring's length: the ticks of the fast window, and one more (ticks
// come a little late or early).
func (d *Detector) fastLen() int {
	return max(int((d.opts.FastWindow+d.opts.Resolution-1)/d.opts.Resolution), 1) + 1
}

// newState is the state of a new site; d.mu is held for writing.
func (d *Detector) newState(name string) *attackSite {
	s := &attackSite{ring: make([]bucket, d.ringLen()), fast: make([]bucket, d.fastLen()), created: true}
	s.kept = d.opts.Keep != nil && d.opts.Keep(name)
	d.resolve(name, s)
	return s
}

// newSite creates the state of a site; d.mu is held for writing. It returns nil when
// MaxSites are tracked already and none of them can give its place.
func (d *Detector) newSite(name string) *attackSite {
	if len(d.sites) >= d.opts.MaxSites && !d.evictOne() {
		return nil
	}
	s := d.newState(name)
	d.sites[name] = s
	return s
}

// evictSample is how many tracked sites are looked at to find one that can give its place
// (as Redis samples keys to evict): the work per new site is bounded whatever MaxSites.
const evictSample = 16

// evictOne forgets a tracked site with at most one request in the window, not kept, not
// set by hand and not under attack, among a random sample; d.mu is held for writing. It
// reports whether one was forgotten. A site with traffic never gives its place.
func (d *Detector) evictOne() bool {
	n := 0
	for name, s := range d.sites { // map order is random: a sample
		if !s.kept && s.mode == ModeAuto && !s.active.Load() && s.traffic() <= 1 {
			delete(d.sites, name)
			return true
		}
		if n++; n >= evictSample {
			break
		}
	}
	return false
}

// traffic is the number of requests of s in its ring and the current second.
func (s *attackSite) traffic() int64 {
	if s.quiet { // nothing in the window: its rings hold only buckets older than it
		return s.cur.req.Load()
	}
	n := s.cur.req.Load() + s.acc.req // acc.req is 0 when acc is empty
	for i := range s.ring {
		n += s.ring[i].req
	}
	return n
}

// Observe counts one request (or smp.Requests) of site. It runs per request: a read lock,
// a map lookup and a few atomic additions.
func (d *Detector) Observe(site string, smp Sample) {
	if len(site) > MaxSiteLen {
		site = LongSite
	}
	d.mu.RLock()
	s := d.sites[site]
	if s == nil {
		d.mu.RUnlock()
		d.mu.Lock()
		if s = d.sites[site]; s == nil {
			s = d.newSite(site)
		}
		d.mu.Unlock()
		if s == nil {
			return
		}
		d.mu.RLock()
		if d.sites[site] != s { // forgotten in between: drop the sample
			d.mu.RUnlock()
			return
		}
	}
	if !s.touched.Load() { // read first: most samples find it set, and a store is a write
		s.touched.Store(true)
	}
	c := &s.cur
	if smp.Pressed {
		c.press.Add(1)
		d.mu.RUnlock()
		return
	}
	if smp.Requests > 0 {
		c.req.Add(int64(smp.Requests))
		if smp.Latency > 0 || smp.Queued || smp.Shed {
			c.asked.Add(int64(smp.Requests)) // it asked for the backend
		}
	}
	if smp.Errors5xx > 0 {
		c.err.Add(int64(smp.Errors5xx))
	}
	if smp.Queued || smp.Shed {
		c.sat.Add(int64(max(smp.Requests, 1)))
	}
	if smp.Latency > 0 {
		c.up.Add(1)
		c.upSum.Add(int64(smp.Latency))
		if at := s.slowAt.Load(); at > 0 && int64(smp.Latency) >= at {
			c.slow.Add(1)
		}
		if at := s.calmAt.Load(); at > 0 && int64(smp.Latency) >= at {
			c.slowRel.Add(1)
		}
	}
	d.mu.RUnlock()
}

// Active reports whether site is in under-attack mode. It runs per request: an atomic
// load and a lookup in the (small) set of active sites, no lock.
func (d *Detector) Active(site string) bool {
	_, on := (*d.active.Load())[site]
	return on
}

// ActiveSites returns the sites in under-attack mode, sorted (for status pages and logs).
func (d *Detector) ActiveSites() []string {
	d.mu.RLock()
	var out []string
	for name, s := range d.sites {
		if s.active.Load() {
			out = append(out, name)
		}
	}
	d.mu.RUnlock()
	sort.Strings(out)
	return out
}

// switchEvent is one OnSwitch call to make.
type switchEvent struct {
	site   string
	on     bool
	reason string
}

// SetMode sets who decides for site: ModeOn and ModeOff switch it at once and hold it;
// ModeAuto hands it back to the signals (a site that is on then switches off once calm).
// A site with a mode set by hand is never forgotten; ModeAuto lets it be forgotten again.
func (d *Detector) SetMode(site string, m Mode) {
	d.tickMu.Lock()
	defer d.tickMu.Unlock()
	var ev []switchEvent
	d.mu.Lock()
	s := d.sites[site]
	if s == nil && m != ModeAuto {
		s = d.newState(site)
		d.sites[site] = s // exempt from MaxSites: set by hand, bounded by the config
	}
	if s != nil {
		s.mode = m
		s.touched.Store(true) // a quiet site is ticked again: its mode changed
		t := now()
		switch {
		case m == ModeOn && !s.active.Load():
			s.active.Store(true)
			s.onSince = t
			ev = append(ev, switchEvent{site, true, "set on by hand"})
		case m == ModeOff && s.active.Load():
			s.active.Store(false)
			ev = append(ev, switchEvent{site, false, "set off by hand"})
		}
	}
	if len(ev) > 0 {
		d.publish()
	}
	d.mu.Unlock()
	d.emit(ev)
}

// emit calls OnSwitch for each event; d.tickMu is held, d.mu is not.
func (d *Detector) emit(ev []switchEvent) {
	if d.opts.OnSwitch == nil {
		return
	}
	for _, e := range ev {
		d.opts.OnSwitch(e.site, e.on, e.reason)
	}
}

// Tick closes the current second of every site, measures the signals over the window and
// switches sites on or off. Call it every Resolution (from a time.Ticker) with the current
// time; its cost is proportional to the number of sites with traffic in their window, or
// on, never per request: a quiet site (see attackSite.quiet) costs a map entry and a cache
// line.
func (d *Detector) Tick(t time.Time) {
	d.tickMu.Lock()
	defer d.tickMu.Unlock()
	var ev []switchEvent
	d.mu.Lock()
	from := d.last
	// Ticks at times that do not increase may leave the rings' buckets out of order: the
	// running sums are then re-summed until the rings hold only buckets made since.
	disorder := !from.IsZero() && !from.Before(t)
	if from.IsZero() || !from.Before(t) {
		from = t.Add(-time.Second)
	}
	d.last = t
	fromN, tn := d.ns(from), d.ns(t)
	for name, s := range d.sites {
		if s.quiet {
			if !s.touched.Load() && !disorder {
				// Nothing since its window emptied: the tick would only close empty buckets.
				if !s.kept && t.Sub(s.lastSeen) >= d.opts.ForgetAfter { // quiet: ModeAuto, off
					delete(d.sites, name)
				}
				continue
			}
			d.wake(s, fromN)
		}
		s.touched.Store(false) // Observe holds d.mu for reading: none runs during the tick
		if disorder {
			s.roll.invalidate(len(s.ring) + 1)
		}
		if e, ok := d.tickSite(name, s, from, t, fromN, tn); ok {
			ev = append(ev, e)
		}
		if s.mode == ModeAuto && !s.kept && !s.active.Load() && t.Sub(s.lastSeen) >= d.opts.ForgetAfter {
			delete(d.sites, name)
		}
	}
	if len(ev) > 0 {
		d.publish()
	}
	d.mu.Unlock()
	d.emit(ev)
}

// window sums the buckets of ring, and the partial bucket extra, of the last w before t
// (times in ns since the epoch), and says how much time they cover (at least a second).
func window(ring []bucket, extra *bucket, t int64, w time.Duration) (tally, time.Duration) {
	var sum tally
	start, cutoff := t, t-int64(w)
	take := func(r *bucket) {
		if !inWindow(r, t, cutoff) {
			return
		}
		sum.add(&r.tally)
		start = min(start, r.from)
	}
	for i := range ring {
		take(&ring[i])
	}
	if extra != nil {
		take(extra)
	}
	return sum, max(time.Duration(t-start), time.Second)
}

// inWindow reports whether bucket r is in the window (cutoff, t].
func inWindow(r *bucket, t, cutoff int64) bool {
	return r.at != 0 && r.at > cutoff && r.at <= t
}

// take returns the count of c and sets it to 0. A count that is 0 already (most, at most
// sites at most ticks) is only read: a swap is a locked instruction, 9 of them per site per
// tick were half the tick's cost. An addition between the read and the next tick counts at
// the next tick, as one after a swap would.
func take(c *atomic.Int64) int64 {
	if c.Load() == 0 {
		return 0
	}
	return c.Swap(0)
}

// ns is t in nanoseconds since d's epoch.
func (d *Detector) ns(t time.Time) int64 {
	return int64(t.Sub(d.epoch))
}

// wake makes the rings of a quiet site what the ticks Tick skipped would have left them,
// up to fromN (the previous tick): empty buckets, a second each in the ring and a tick
// each in the fast ring, and the partial second since the last second closed. The skipped
// ticks would have closed a second every second after the site's last close (the ticks
// come every Resolution): wake closes them there, so that the window's span, the
// denominator of its rates, is the one those ticks would have left. Only when ticks came
// late or early (a loaded host) can its seconds close a tick away from where the skipped
// ticks would have closed them. The rest of a quiet site's state (calm since its first
// quiet tick, nothing over, its baseline) is what the skipped ticks would have kept.
func (d *Detector) wake(s *attackSite, fromN int64) {
	s.quiet = false
	last := fromN // the site's last close: where its partial second began
	if s.acc.at != 0 {
		last = s.acc.from
	} else if nb := s.ring[(s.next+len(s.ring)-1)%len(s.ring)]; nb.at != 0 {
		last = nb.at
	}
	last = min(last, fromN) // a close after fromN: the clock was set back since
	step := int64(slowStep)
	closed := last + (fromN-last)/step*step // the skipped ticks' last close
	// Oldest at position 0, the next one to be overwritten.
	for i := range s.ring {
		at := closed - int64(len(s.ring)-1-i)*step
		s.ring[i] = bucket{from: at - step, at: at}
	}
	s.next, s.acc = 0, bucket{}
	if closed < fromN {
		s.acc = bucket{from: closed, at: fromN}
	}
	s.roll = rolling{n: len(s.ring)} // every bucket in the window, summing to nothing
	res := int64(d.opts.Resolution)
	for i := range s.fast {
		at := fromN - int64(len(s.fast)-1-i)*res
		s.fast[i] = bucket{from: at - res, at: at}
	}
	s.fastNext = 0
}

// tickSite closes the current tick of s, measures its signals and runs its switch; d.mu is
// held for writing. fromN and tn are from and t in ns since d's epoch.
func (d *Detector) tickSite(name string, s *attackSite, from, t time.Time, fromN, tn int64) (switchEvent, bool) {
	c := &s.cur
	b := bucket{
		tally: tally{req: take(&c.req), asked: take(&c.asked), err: take(&c.err), sat: take(&c.sat), press: take(&c.press),
			up: take(&c.up), slow: take(&c.slow), slowRel: take(&c.slowRel), upSum: take(&c.upSum)},
		from: fromN, at: tn,
	}
	if b.req > 0 || b.press > 0 || s.created {
		s.lastSeen = t
		s.created = false
	}
	s.fast[s.fastNext] = b
	s.fastNext = (s.fastNext + 1) % len(s.fast)
	if s.acc.at == 0 {
		s.acc = b
	} else {
		s.acc.add(&b.tally)
		s.acc.at = tn
	}
	closed := false
	if time.Duration(tn-s.acc.from) >= slowStep-time.Millisecond { // a ticker's tick may come a little early
		s.roll.push(s.ring, s.next, &s.acc)
		s.ring[s.next] = s.acc
		s.next = (s.next + 1) % len(s.ring)
		s.acc = bucket{}
		closed = true
	}

	sum, span := s.roll.window(s.ring, s.next, &s.acc, tn, d.opts.Window)
	var over, tickOver string
	calm := true
	if sum != (tally{}) || b.tally != (tally{}) {
		// An idle site (nothing in its window nor in this tick) is calm with nothing over:
		// signals need not be measured.
		over, calm = d.signals(s.th, s.baseline, sum, span, d.opts.MinRequests)
		// The signals of this tick alone, whatever its traffic: a signal past its trigger at
		// every tick since runSince stays past it (a blip that has stopped does not).
		tickOver, _ = d.signals(s.th, s.baseline, b.tally, max(t.Sub(from), time.Millisecond), 1)
	}
	if tickOver == "" {
		s.runSince = time.Time{}
	} else if s.runSince.IsZero() {
		s.runSince = t
	}
	holdFrom := time.Time{}
	if over == "" && tickOver != "" && d.opts.FastWindow < d.opts.Window {
		// A flood starting from calm shows in the last ticks long before it moves the
		// average of the whole window: the fast window switches on (while the flood goes
		// on at this tick, held since its run of ticks began), the whole one off.
		fast, fspan := window(s.fast, nil, tn, d.opts.FastWindow)
		if o, _ := d.signals(s.th, s.baseline, fast, fspan, d.opts.MinRequests); o != "" {
			over = o + " (last " + d.opts.FastWindow.String() + ")"
			holdFrom = s.runSince
		}
	}
	if closed && calm && !s.active.Load() && sum.up >= int64(d.opts.MinRequests) {
		// The site's healthy latency is learned only from calm windows while it is not
		// under attack, once a second whatever the Resolution.
		mean := float64(sum.upSum) / float64(sum.up)
		if s.baseline == 0 {
			s.baseline = mean
		} else {
			s.baseline += (mean - s.baseline) * baselineSmoothing
		}
	}

	switch {
	case over != "":
		s.calmSince = time.Time{}
		if s.overSince.IsZero() {
			s.overSince = t
		}
	case calm:
		s.overSince = time.Time{}
		if s.calmSince.IsZero() {
			s.calmSince = t
		}
	default:
		s.overSince, s.calmSince = time.Time{}, time.Time{}
	}
	if s.mode != ModeAuto {
		return switchEvent{}, false
	}
	// Nothing in the window nor in this tick, calm, off: the ticks to come close empty
	// buckets until the site is touched (a switch on needs a signal past its trigger).
	s.quiet = !d.tickAll && !s.active.Load() && sum == (tally{}) && b.tally == (tally{}) && calm && over == ""
	if holdFrom.IsZero() || s.overSince.Before(holdFrom) {
		holdFrom = s.overSince
	}
	if !s.active.Load() && over != "" && t.Sub(holdFrom) >= d.opts.OnAfter {
		s.active.Store(true)
		s.onSince = t
		return switchEvent{name, true, fmt.Sprintf("%s for %s", over, t.Sub(holdFrom))}, true
	}
	if s.active.Load() && calm && t.Sub(s.calmSince) >= d.opts.OffAfter && t.Sub(s.onSince) >= d.opts.MinOn {
		s.active.Store(false)
		return switchEvent{name, false, fmt.Sprintf("calm for %s (every signal below %g× its trigger)",
			t.Sub(s.calmSince), d.opts.ReleaseFactor)}, true
	}
	return switchEvent{}, false
}

// signals compares the window's measures with th. over names the first signal past its
// trigger ("" when none); calm is true when every signal is below its release level. The
// shares and latency count only with at least minRequests requests (or upstream answers).
func (d *Detector) signals(th SiteThresholds, baseline float64, w tally, span time.Duration, minRequests int) (over string, calm bool) {
	rf := d.opts.ReleaseFactor
	minN := int64(minRequests)
	calm = true
	check := func(value, trigger float64, enough bool, format string) {
		if trigger <= 0 || !enough {
			return
		}
		if value >= trigger && over == "" {
			over = fmt.Sprintf(format, value, trigger)
		}
		if value >= rf*trigger {
			calm = false
		}
	}
	rate := float64(w.req) / span.Seconds()
	check(rate, th.TriggerRate, true, "request rate %.1f/s past trigger %g/s")
	if w.up > 0 {
		check(float64(min(w.err, w.up))/float64(w.up), th.TriggerErrorShare, w.up >= minN,
			"upstream 5xx share %.2f past trigger %g")
	}
	// Pressure is reported as it is met (press) and again when the request ends (sat): the
	// larger of the two counts, so that a flood shows at once and a request counts once.
	// The share is of the pages that asked for the backend — those that ended without
	// pressure and those that met it, ended or not (a flood's first requests are still
	// waiting); pages floodgate answered itself (a budget's refusal, a challenge) asked
	// nothing of the backend, and a flood's refusals must not hide its pressure.
	pressed := max(w.sat, w.press)
	if n := max(w.asked-w.sat, 0) + pressed; n > 0 {
		check(float64(min(pressed, n))/float64(n), th.TriggerSaturation, n >= minN,
			"backend pressure (queued or shed) share %.2f past trigger %g")
	}
	if baseline > 0 && w.up > 0 {
		mean := float64(w.upSum) / float64(w.up)
		ratio := mean / baseline
		if mean-baseline < float64(minLatencyExcess) {
			ratio = min(ratio, 1) // fast pages a few ms slower: nobody notices
		}
		check(ratio, th.TriggerLatencyFactor, w.up >= minN,
			"upstream latency %.1f× the site's healthy latency, past trigger %g×")
	}
	if th.TriggerLatency > 0 && w.up >= minN {
		// The 90th percentile is at or past a level when at least 10% of answers are.
		if float64(w.slow) >= latencyQuantile*float64(w.up) && over == "" {
			over = fmt.Sprintf("upstream latency p90 past trigger %s", th.TriggerLatency)
		}
		if float64(w.slowRel) >= latencyQuantile*float64(w.up) {
			calm = false
		}
	}
	return over, calm
}
