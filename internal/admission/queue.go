package admission

import (
	"container/heap"
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"
)

// ErrQueueFull is returned by Acquire at once when no request may wait: the queue (of the
// backend or of the site) is full of requests at least as trusted. Answer 503 (or 429) with
// Retry-After.
var ErrQueueFull = errors.New("admission: backend busy: wait queue full")

// ErrWaitTimeout is returned by Acquire when no slot freed up within the wait bound.
var ErrWaitTimeout = errors.New("admission: backend busy: no slot freed within the maximum wait")

// ErrShed is returned by Acquire when a waiting request gave its place to a more trusted one
// (or to a site waiting less, within a tier).
var ErrShed = errors.New("admission: backend busy: place given to a more trusted request")

// Defaults of Options.
const (
	DefaultQueueLen = 1024
	DefaultMaxWait  = 2 * time.Second
	DefaultMaxSites = 4096
)

// Options sets a Controller. Nothing needs setting: the limits are learned.
type Options struct {
	// BackendCap is an upper bound on the requests in flight to the backend, all sites
	// together; the learned limit never goes above it. 0: no bound but DefaultMaxLimit.
	BackendCap int
	// QueueLen is the most requests waiting, all sites together. 0: DefaultQueueLen; a
	// negative value: no queue (past the limit, ErrQueueFull at once).
	QueueLen int
	// SiteQueueLen is the most requests one site may have waiting. 0: QueueLen/8 (at least
	// 1); never above QueueLen.
	SiteQueueLen int
	// MaxWait is the longest a request waits. 0: DefaultMaxWait.
	MaxWait time.Duration
	// MaxSites bounds the sites whose limit is learned; past it, sites seen once give their
	// place, and sites that cannot get one share a single state. 0: DefaultMaxSites.
	MaxSites int
	// Clock returns a monotonic time; nil: time since the Controller was made. Tests inject
	// a simulated clock.
	Clock func() time.Duration
	// SchedDelay measures the proxy's own scheduling delay, which the limits subtract from
	// the latencies they learn from (see SchedDelay). nil: this process's, from
	// runtime/metrics, unless Clock is set (a simulated clock has none: tests inject both).
	SchedDelay SchedDelay
}

// Outcome is what became of an admitted request, for the limits.
type Outcome uint8

const (
	// OutcomeOK: the backend answered (any status that is not a failure of the backend).
	OutcomeOK Outcome = iota
	// OutcomeDropped: the backend failed (502, 503, 504, connection error): the limits back
	// off.
	OutcomeDropped
	// OutcomeIgnore: the latency says nothing of the backend (the client left, the answer
	// was not from the backend); the slot is freed, nothing is learned.
	OutcomeIgnore
)

// Controller admits requests to a backend up to a learned concurrency limit (see Limit),
// for the backend as a whole and for each site, and makes the others wait in a bounded
// queue ordered by trust (Tier): a waiting request is admitted only when no more trusted
// request is waiting, and when the queue is full a more trusted arrival takes the place of
// the newest waiter of the least trusted tier. Within a tier, sites share fairly: the site
// holding the fewest slots goes first, then the one served longest ago (round robin). A
// site at its own limit waits for its own requests and never holds up other sites.
//
// Acquire and Release take one lock each, never across the upstream call, and do not
// allocate when the request is admitted at once; a waiting request reuses a pooled waiter.
// Work per call is O(log w) in the sites waiting, except when the queue is full, which
// looks at the sites waiting (bounded by the queue). A Controller is safe for concurrent use.
type Controller struct {
	mu    sync.Mutex
	clock func() time.Duration
	seed  maphash.Seed

	backend      Limit
	backendMax   int
	queueLen     int
	siteQueueLen int
	maxWait      time.Duration
	maxSites     int

	inflight int
	// pages counts the requests in flight that are not static files (see AcquireStatic).
	pages        int
	busySites    int // sites with a request in flight or waiting
	waiting      int
	tierWaiting  [NumTiers + 1]int
	tierInflight [NumTiers + 1]int
	seq          uint64
	served       uint64
	sites        map[uint64]*site
	shared       *site // the state of the sites that could not get their own
	ready        [NumTiers + 1]siteHeap
	waitingList  []*site // sites with a waiter, for pushing out
	lastDecay    time.Duration

	demand demand // the tiers' measured demand, and the reserve it sets

	waiters sync.Pool // *waiter
}

// site is the state of one site.
type site struct {
	key      uint64
	limit    Limit
	cap      int
	inflight int
	waiting  int
	queues   [NumTiers + 1]waitList
	index    [NumTiers + 1]int // position in Controller.ready[tier], -1 when not there
	wIndex   int               // position in Controller.waitingList, -1 when not there
	served   uint64
	hits     uint32 // requests seen, halved every decayEvery
}

// waiter is one waiting request.
type waiter struct {
	site       *site
	tier       Tier
	seq        uint64
	ready      chan struct{} // one value when admitted or pushed out
	timer      *time.Timer
	granted    bool
	pushedOut  bool
	start      time.Duration
	queued     time.Duration // when it began to wait
	inflight   int           // of the backend, and of the site, once admitted
	real       int           // pages of the backend really in flight once admitted (no reserve)
	static     bool          // a static file (see AcquireStatic)
	siteInfl   int
	prev, next *waiter
}

// Ticket is an admitted request. Call Release exactly once when the backend has answered.
type Ticket struct {
	c     *Controller
	site  *site
	tier  Tier
	start time.Duration
	// in flight, of the backend and of the site, once this request was admitted
	inflight, siteInflight int
	real                   int // pages of the backend really in flight, the reserve not counted
	static                 bool
	// Waited is true when the request waited in the queue before it was admitted; Wait
	// is how long it waited (also on a refusal after waiting).
	Waited bool
	Wait   time.Duration
	// Pressure is true when the request met the limit (it waited, or was refused) while
	// its site asked for at least its share of the backend (its requests in flight and
	// waiting at least the average of the sites with any), or was at its own limit: the
	// site's own traffic presses on the backend, a sign for the under-attack detector. A quiet site's request that waits a moment behind another
	// site's flood is not pressure. Acquire sets it on refusals too (on a zero Ticket).
	Pressure bool
}

const (
	// evictSample is how many sites are looked at to find one to forget when MaxSites are
	// known (as Redis samples keys to evict).
	evictSample = 8
	// decayEvery is how often the sites' hit counts are halved, so that a site that went
	// quiet can give its place.
	decayEvery = 30 * time.Second
)

// New returns a Controller with opts (zero fields take their defaults).
func New(opts Options) *Controller {
	c := &Controller{seed: maphash.MakeSeed(), sites: make(map[uint64]*site)}
	c.clock = opts.Clock
	if c.clock == nil {
		t0 := time.Now()
		c.clock = func() time.Duration { return time.Since(t0) }
	}
	for t := range c.ready {
		c.ready[t].tier = Tier(t)
	}
	c.waiters.New = func() any { return &waiter{ready: make(chan struct{}, 1)} }
	now := c.clock()
	c.backend.sched = opts.SchedDelay
	if c.backend.sched == nil && opts.Clock == nil {
		c.backend.sched = RuntimeSchedDelay()
	}
	c.backend.TrackKnee() // for the reserve (see Limit.HeldBack)
	c.backend.Reset(0, 0, opts.BackendCap, now)
	c.shared = newSite(0, &c.backend, now)
	c.setOptions(opts)
	return c
}

func newSite(key uint64, backend *Limit, now time.Duration) *site {
	s := &site{key: key, wIndex: -1}
	for t := range s.index {
		s.index[t] = -1
	}
	// A new site starts where the backend is (not below the usual start), and learns its
	// own from there, subtracting the same scheduling delay.
	s.limit.sched = backend.sched
	s.limit.Reset(max(backend.Current(), DefaultInitialLimit), 0, int(backend.max), now)
	return s
}

// setOptions applies opts; c.mu is held or c is not shared yet.
func (c *Controller) setOptions(opts Options) {
	c.backendMax = max(opts.BackendCap, 0)
	c.backend.SetBounds(0, c.backendMax)
	c.queueLen = opts.QueueLen
	switch {
	case c.queueLen == 0:
		c.queueLen = DefaultQueueLen
	case c.queueLen < 0:
		c.queueLen = 0
	}
	c.siteQueueLen = opts.SiteQueueLen
	if c.siteQueueLen <= 0 {
		c.siteQueueLen = max(c.queueLen/8, 1)
	}
	c.siteQueueLen = min(c.siteQueueLen, c.queueLen)
	c.maxWait = opts.MaxWait
	if c.maxWait <= 0 {
		c.maxWait = DefaultMaxWait
	}
	c.maxSites = opts.MaxSites
	if c.maxSites <= 0 {
		c.maxSites = DefaultMaxSites
	}
	for _, s := range c.sites {
		s.limit.SetBounds(0, int(c.backend.max))
	}
	c.shared.limit.SetBounds(0, int(c.backend.max))
}

// Reconfigure changes the options of a running Controller (on a config reload), keeping
// what it learned and the requests in flight and waiting. The clock is not changed.
func (c *Controller) Reconfigure(opts Options) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setOptions(opts)
	for _, s := range c.sites {
		c.fix(s)
	}
	c.fix(c.shared)
	c.dispatch(c.clock())
}

// Acquire asks for a slot for a request of siteName, trusted at tier (an invalid tier
// counts as TierUntrusted); siteCap is the site's configured upper bound on requests in
// flight (0: none). It returns at once when the site and the backend are below their
// limits. Otherwise the request waits, at most MaxWait, and Acquire returns ErrQueueFull
// (at once), ErrShed (its place went to a more trusted request), ErrWaitTimeout or
// ctx.Err(). On success, call Ticket.Release once the backend has answered.
func (c *Controller) Acquire(ctx context.Context, siteName string, tier Tier, siteCap int) (Ticket, error) {
	return c.AcquireNotify(ctx, siteName, tier, siteCap, nil)
}

// AcquireNotify is Acquire that also calls pressed, when not nil, as soon as the request
// meets the limit under pressure (see Ticket.Pressure) — before it waits, or as it is
// refused at once — so that the under-attack detector hears of pressure when it is met, not
// when the request ends, up to MaxWait later. pressed runs without the lock held.
func (c *Controller) AcquireNotify(ctx context.Context, siteName string, tier Tier, siteCap int, pressed func(site string)) (Ticket, error) {
	return c.acquire(ctx, siteName, tier, siteCap, pressed, false)
}

// AcquireStatic is AcquireNotify for a static file: it holds a slot as a page does, but is
// not counted among the pages in flight that the backend's limit learns what calm traffic
// used, and where the backend queues, from (see Limit.StartedPage). A browser fetches a
// page's assets at once, each holding a worker for a millisecond: the matrix benchmark's
// calm days reached 13 requests in flight on 4 workers that way, and counted as what calm
// traffic used, that kept a flood of pages at 13 on those 4 workers (all-open-30x-4w200,
// sites not attacked 1.28× their calm p95).
func (c *Controller) AcquireStatic(ctx context.Context, siteName string, tier Tier, siteCap int, pressed func(site string)) (Ticket, error) {
	return c.acquire(ctx, siteName, tier, siteCap, pressed, true)
}

// acquire is Acquire's path, in steps: the request arrives (its site found and counted);
// it is admitted at once when its site and the backend have room for its tier; else it records the
// pressure it met (meetLimit), is refused at once when the queues are full of requests at
// least as trusted (queueFull), or waits (enqueueWaiter, waiter.wait) until endWait settles
// how the wait ended: a slot, a place given away, the wait bound or the client gone.
func (c *Controller) acquire(ctx context.Context, siteName string, tier Tier, siteCap int, pressed func(site string), static bool) (Ticket, error) {
	tier = tier.orUntrusted()
	key := maphash.String(c.seed, siteName)
	c.mu.Lock()
	now := c.clock()
	s := c.arrive(key, tier, siteCap, now)
	if s.room() && c.roomFor(tier) {
		// The queue invariant (see dispatch): with room in the backend for a tier, no site
		// with room has a waiter of that tier or a more trusted one, so nobody more trusted
		// is passed over.
		inflight := c.start(s, tier, now, static)
		t := Ticket{c: c, site: s, tier: tier, start: now, inflight: inflight, siteInflight: s.inflight, real: c.pages, static: static}
		c.mu.Unlock()
		return t, nil
	}
	pressure := c.meetLimit(s, tier)
	if c.queueFull(s, tier) {
		c.mu.Unlock()
		tellPressure(pressed, siteName, pressure)
		return Ticket{Pressure: pressure}, ErrQueueFull
	}
	w := c.enqueueWaiter(s, tier, now, static)
	maxWait := c.maxWait
	c.mu.Unlock()
	tellPressure(pressed, siteName, pressure)
	return c.endWait(w, pressure, w.wait(ctx, maxWait))
}

// arrive returns the state of the request's site (see lookup) and counts the request: the
// site's hits, its configured cap (siteCap) when it changed, the tiers' demand, which may move
// the reserve. c.mu is held.
func (c *Controller) arrive(key uint64, tier Tier, siteCap int, now time.Duration) *site {
	s := c.lookup(key, now)
	if s.hits < ^uint32(0) {
		s.hits++
	}
	if s != c.shared && s.cap != max(siteCap, 0) {
		s.cap = max(siteCap, 0)
		c.fix(s)
		c.dispatch(now)
	}
	if c.demand.arrive(tier, now) {
		c.updateReserve(now)
	}
	return s
}

// meetLimit records, for the limits, a request of tier that site s or the backend has no
// room for, and reports whether it is pressure for the under-attack detector (see
// Ticket.Pressure). c.mu is held.
func (c *Controller) meetLimit(s *site, tier Tier) (pressure bool) {
	c.backend.Waited() // not calm traffic's alone (see Limit.used)
	switch {
	case !c.backendRoom():
		c.backend.Pressure() // the limit was reached
	case !c.roomFor(tier):
		// Held back below the limit by the reserve alone: demand the limit has not met.
		// With healthy latency it grows the limit, below where the backend was last seen
		// to queue (see Limit.HeldBack), so that a calm big backend's limit does not stay
		// where the reserve holds its less trusted visitors back.
		c.backend.HeldBack(tier)
	}
	if !s.room() {
		s.limit.Pressure()
	}
	return !s.room() || c.overShare(s)
}

// queueFull reports whether a request of tier from site s finds no place to wait: its
// site's queue, or the whole queue, is full and no less trusted waiter can be pushed out to
// make room (see pushOutOfSite, pushOut; one that can is pushed out). c.mu is held.
func (c *Controller) queueFull(s *site, tier Tier) bool {
	return (s.waiting >= c.siteQueueLen && !c.pushOutOfSite(s, tier)) ||
		(c.waiting >= c.queueLen && !c.pushOut(s, tier))
}

// tellPressure calls pressed, when set, with the site when the request met pressure; the
// lock is not held.
func tellPressure(pressed func(site string), siteName string, pressure bool) {
	if pressure && pressed != nil {
		pressed(siteName)
	}
}

// enqueueWaiter puts a request of tier to site s, arrived at now, in the queue, with a
// pooled waiter. c.mu is held.
func (c *Controller) enqueueWaiter(s *site, tier Tier, now time.Duration, static bool) *waiter {
	w := c.waiters.Get().(*waiter)
	w.site, w.tier, w.seq, w.queued, w.static = s, tier, c.seq, now, static
	c.seq++
	c.enqueue(w)
	return w
}

// wait blocks until w is granted a slot or pushed out (nil), maxWait passes
// (ErrWaitTimeout) or ctx ends (its error). c.mu is not held.
func (w *waiter) wait(ctx context.Context, maxWait time.Duration) error {
	if w.timer == nil {
		w.timer = time.NewTimer(maxWait)
	} else {
		w.timer.Reset(maxWait)
	}
	var err error
	select {
	case <-w.ready:
	case <-w.timer.C:
		err = ErrWaitTimeout
	case <-ctx.Done():
		err = ctx.Err()
	}
	w.timer.Stop()
	return err
}

// endWait settles a wait that ended with err, and gives w back to the pool. The Controller
// may have decided while the wait ended, before the lock was taken back: a slot granted as
// the wait bound passed is used; one granted as the client left goes to the next waiter; a
// place given away is ErrShed however the wait ended. Else a waiter that gave up leaves the
// queue.
func (c *Controller) endWait(w *waiter, pressure bool, err error) (Ticket, error) {
	s, tier, static := w.site, w.tier, w.static
	c.mu.Lock()
	t := Ticket{Pressure: pressure, Waited: true, Wait: c.clock() - w.queued}
	admitted := Ticket{c: c, site: s, tier: tier, start: w.start, inflight: w.inflight, siteInflight: w.siteInfl, real: w.real, static: static, Waited: true, Wait: w.start - w.queued, Pressure: pressure}
	switch {
	case err == nil && w.pushedOut:
		err = ErrShed
	case err == nil:
		t = admitted
	case w.granted:
		<-w.ready // sent under the lock when granted
		if err == ErrWaitTimeout {
			// Admitted while giving up on the wait: use the slot.
			t, err = admitted, nil
		} else {
			// Nobody will use it: give it to the next waiter.
			c.finish(s, tier, static)
			c.dispatch(c.clock())
		}
	case w.pushedOut:
		<-w.ready
		err = ErrShed
	default:
		c.dequeue(w)
	}
	c.mu.Unlock()
	*w = waiter{ready: w.ready, timer: w.timer}
	c.waiters.Put(w)
	return t, err
}

// Release frees the slot of t and tells the limits how the backend did, its latency being
// the time since the request was admitted. Calling Release on a zero Ticket does nothing.
func (t Ticket) Release(outcome Outcome) { t.release(outcome, -1) }

// ReleaseAfter is Release with the backend's latency measured by the caller: the time from
// sending the request upstream to its answer's first byte. Time spent before (waking up
// once admitted) or after (writing the answer to the client) is the proxy's, not the
// backend's, and under a flood on a busy machine it is most of the total.
func (t Ticket) ReleaseAfter(outcome Outcome, latency time.Duration) {
	t.release(outcome, max(latency, 0))
}

func (t Ticket) release(outcome Outcome, latency time.Duration) {
	c := t.c
	if c == nil {
		return
	}
	c.mu.Lock()
	now := c.clock()
	s := t.site
	c.finish(s, t.tier, t.static)
	c.demand.held(t.tier, now-t.start)
	if outcome == OutcomeIgnore {
		c.backend.Ignored(t.start)
		s.limit.Ignored(t.start)
	} else {
		if latency < 0 {
			latency = now - t.start
		}
		dropped := outcome == OutcomeDropped
		c.backend.SampleAt(now, latency, dropped, c.inflight, t.inflight, t.real, t.start)
		s.limit.SampleOf(now, latency, dropped, s.inflight, t.siteInflight, t.start)
	}
	c.fix(s)
	if c.demand.due(now) {
		c.updateReserve(now)
	}
	c.dispatch(now)
	if now-c.lastDecay >= decayEvery {
		c.decay(now)
	}
	c.mu.Unlock()
}

// lookup returns the state of the site with key, making one if needed: in a free place,
// else in the place of a site seen at most once lately and idle, else the shared state.
func (c *Controller) lookup(key uint64, now time.Duration) *site {
	if s := c.sites[key]; s != nil {
		return s
	}
	if len(c.sites) >= c.maxSites {
		var victim *site
		n := 0
		for _, o := range c.sites { // map order is random: a sample of the sites
			if o.inflight == 0 && o.waiting == 0 && o.hits <= 1 && (victim == nil || o.hits < victim.hits) {
				victim = o
			}
			if n++; n >= evictSample {
				break
			}
		}
		if victim == nil {
			return c.shared
		}
		delete(c.sites, victim.key)
	}
	s := newSite(key, &c.backend, now)
	c.sites[key] = s
	return s
}

// decay halves every site's hit count; c.mu is held.
func (c *Controller) decay(now time.Duration) {
	c.lastDecay = now
	for _, s := range c.sites {
		s.hits /= 2
	}
}

func (c *Controller) backendRoom() bool { return c.inflight < c.backend.Current() }

// roomFor reports whether the backend has room for one more request of tier: below the
// limit, and leaving free the slots reserved for every more trusted tier's demand (see
// demand). The reserve of a group of tiers counts what they hold in flight: only the part
// they do not hold yet must stay free. Room for a tier implies room for every more trusted
// one. c.mu is held.
func (c *Controller) roomFor(tier Tier) bool {
	return c.inflight+c.reserveFree(tier) < c.backend.Current()
}

// reserveFree is the part of the reserves held against tier that the more trusted tiers
// are not using: the slots a request of tier must leave free. A reserve never takes the
// whole limit: one slot is always left to the lower tiers, so that no tier is shut out
// while the backend idles (a small limit, a Poisson margin larger than it) and a person's
// first page, ranked with the new browsers, keeps moving.
//
// None in slow start: the limit is then still looking for the backend's capacity, not at
// it, and a slot held free below it is a request waiting with the backend idle. The
// session 5 matrix measured it on a calm big backend (32 × 200 ms) just started: the first
// window's probe of its baseline, which holds the limit at 8 then 6 while 40 requests
// answer at each, took 6 s instead of 2.5 with Googlebot's reserve of 4 slots (0.8 in use)
// leaving people 2-4 of them, and people's calm p95 was 863 ms against plain Caddy's 204.
// A flood ends slow start as soon as it makes the latency climb. c.mu is held.
func (c *Controller) reserveFree(tier Tier) int {
	if c.demand.reserve[tier] == 0 || c.backend.SlowStart() {
		return 0 // reserves grow down the tiers: none above either (the usual calm case)
	}
	free, above := 0, 0
	most := c.backend.Current() - 1
	for u := TierTrusted; u < tier; u++ {
		above += c.tierInflight[u]
		free = max(free, min(c.demand.reserve[u+1], most)-above)
	}
	return free
}

// updateReserve closes a period of the demand's measurement and, as the reserve may have
// shrunk, admits the waiters it now lets in. c.mu is held.
func (c *Controller) updateReserve(now time.Duration) {
	c.demand.update(now, c.backend.Baseline())
	c.dispatch(now)
}

// overShare reports whether site s asks for at least its share of the backend: its
// requests in flight and waiting at least the average of the sites with any. A flooded
// site's long queue is far above it; a quiet site's visitor, waiting a moment behind
// another site's flood, far below. c.mu is held.
func (c *Controller) overShare(s *site) bool {
	return (s.inflight+s.waiting)*max(1, c.busySites) >= c.inflight+c.waiting
}

// room reports whether s may have one more request in flight.
func (s *site) room() bool {
	if s.cap > 0 && s.inflight >= s.cap {
		return false
	}
	return s.inflight < s.limit.Current()
}

// start counts one more request of s, of tier, in flight, and returns the backend's
// concurrency the limit learns it was admitted at (for how far it grows; whether the limit
// was reached at all is the requests in flight, or one held back); c.mu is held. That is the
// requests in flight and the reserve held free (against the least trusted tier that asks
// for slots, the only one it holds back when the limit is reached): the limit grows from the
// concurrency it committed (as it would if the more trusted tiers used their reserve), so
// that the lower tiers of a calm big backend are not kept at the limit less the reserve.
// Slow start's growth by half, and the ceiling a measured queue sets, go by the requests
// really in flight (see Limit).
func (c *Controller) start(s *site, tier Tier, now time.Duration, static bool) int {
	if s.inflight+s.waiting == 0 {
		c.busySites++
	}
	s.inflight++
	c.inflight++
	c.tierInflight[tier]++
	c.served++
	s.served = c.served
	c.backend.Started(now, c.inflight)
	if !static {
		c.pages++
		c.backend.StartedPage(c.pages)
	}
	s.limit.Started(now, s.inflight)
	return c.inflight + c.reserveFree(c.demand.lowest)
}

// finish counts one request of s, of tier, less in flight; c.mu is held. The caller fixes
// s and dispatches.
func (c *Controller) finish(s *site, tier Tier, static bool) {
	if !static {
		c.pages--
	}
	s.inflight--
	c.tierInflight[tier]--
	if s.inflight+s.waiting == 0 {
		c.busySites--
	}
	c.inflight--
	c.fix(s)
}

// enqueue puts w at the end of its site's queue of its tier; c.mu is held.
func (c *Controller) enqueue(w *waiter) {
	s := w.site
	s.queues[w.tier].push(w)
	if s.inflight+s.waiting == 0 {
		c.busySites++
	}
	if s.waiting == 0 {
		s.wIndex = len(c.waitingList)
		c.waitingList = append(c.waitingList, s)
	}
	s.waiting++
	c.waiting++
	c.tierWaiting[w.tier]++
	c.fixTier(s, w.tier)
}

// dequeue takes w out of the queue; c.mu is held.
func (c *Controller) dequeue(w *waiter) {
	s := w.site
	s.queues[w.tier].remove(w)
	s.waiting--
	c.waiting--
	c.tierWaiting[w.tier]--
	if s.inflight+s.waiting == 0 {
		c.busySites--
	}
	if s.waiting == 0 {
		last := len(c.waitingList) - 1
		moved := c.waitingList[last]
		c.waitingList[s.wIndex] = moved
		moved.wIndex = s.wIndex
		c.waitingList[last] = nil
		c.waitingList = c.waitingList[:last]
		s.wIndex = -1
	}
	c.fixTier(s, w.tier)
}

// dispatch admits waiters while the backend has room for their tier (see roomFor), most
// trusted tier first. It keeps the queue invariant: after it, for every tier, either the
// backend has no room for the tier or no site with room has a waiter of it. c.mu is held.
func (c *Controller) dispatch(now time.Duration) {
	for t := TierTrusted; t <= TierUntrusted && c.roomFor(t); t++ {
		h := &c.ready[t]
		for len(h.s) > 0 && c.roomFor(t) {
			s := h.s[0]
			w := s.queues[t].head
			c.dequeue(w)
			inflight := c.start(s, t, now, w.static)
			c.fix(s)
			w.granted, w.start, w.inflight, w.siteInfl, w.real = true, now, inflight, s.inflight, c.pages
			w.ready <- struct{}{}
		}
	}
}

// pushOut makes room in the full queue for a request of tier from site s: the newest waiter
// of the least trusted tier below tier, taken from the site with the most waiters in it;
// else, within tier, the newest waiter of the site with the most waiters in the tier, if it
// has more than s would. It reports whether room was made; c.mu is held.
func (c *Controller) pushOut(s *site, tier Tier) bool {
	for t := TierUntrusted; t >= tier; t-- {
		if c.tierWaiting[t] == 0 {
			continue
		}
		var longest *site
		for _, o := range c.waitingList {
			if o.queues[t].n > 0 && (longest == nil || o.queues[t].n > longest.queues[t].n) {
				longest = o
			}
		}
		if t == tier && (longest == nil || longest == s || longest.queues[t].n <= s.queues[t].n+1) {
			return false
		}
		c.evict(longest.queues[t].tail)
		return true
	}
	return false
}

// pushOutOfSite makes room in the full queue of site s for a request of tier: the newest
// waiter of s of the least trusted tier below tier. c.mu is held.
func (c *Controller) pushOutOfSite(s *site, tier Tier) bool {
	for t := TierUntrusted; t > tier; t-- {
		if w := s.queues[t].tail; w != nil {
			c.evict(w)
			return true
		}
	}
	return false
}

// evict takes w out of the queue and tells it its place is gone; c.mu is held.
func (c *Controller) evict(w *waiter) {
	c.dequeue(w)
	w.pushedOut = true
	w.ready <- struct{}{}
}

// fix updates the place of s in every tier's ready heap; c.mu is held.
func (c *Controller) fix(s *site) {
	if s.waiting == 0 {
		return
	}
	for t := TierTrusted; t <= TierUntrusted; t++ {
		c.fixTier(s, t)
	}
}

// fixTier puts s in the ready heap of tier t, moves it or takes it out, by whether it has a
// waiter of that tier and room under its limit.
func (c *Controller) fixTier(s *site, t Tier) {
	h := &c.ready[t]
	eligible := s.queues[t].n > 0 && s.room()
	switch {
	case eligible && s.index[t] < 0:
		heap.Push(h, s)
	case eligible:
		heap.Fix(h, s.index[t])
	case s.index[t] >= 0:
		heap.Remove(h, s.index[t])
	}
}

// Stats is a snapshot of a Controller, for metrics.
type Stats struct {
	// Limit is the learned limit of the backend; Baseline its healthy latency.
	Limit    int
	Baseline time.Duration
	// Inflight and Waiting count requests, all sites together; WaitingByTier by tier
	// (index 0 unused).
	Inflight, Waiting int
	WaitingByTier     [NumTiers + 1]int
	// InflightByTier counts the requests in flight by tier; Reserved is, for each tier, the
	// slots held free for the more trusted tiers' measured demand (see demand): a request
	// of the tier is admitted only below Limit less what of them is not in use.
	InflightByTier, Reserved [NumTiers + 1]int
	// Sites is the number of sites with their own state.
	Sites int
	// Delay is the latency the proxy's own scheduling added to each answer in the
	// backend's last window, which the limit does not count as the backend's.
	Delay time.Duration
}

// Stats returns a snapshot of c.
func (c *Controller) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Limit: c.backend.Current(), Baseline: c.backend.Baseline(), Inflight: c.inflight,
		Waiting: c.waiting, WaitingByTier: c.tierWaiting, Sites: len(c.sites), Delay: c.backend.Delay(),
		InflightByTier: c.tierInflight, Reserved: c.reserved()}
}

// reserved is the reserve held against each tier: none in slow start (see reserveFree).
func (c *Controller) reserved() [NumTiers + 1]int {
	if c.backend.SlowStart() {
		return [NumTiers + 1]int{}
	}
	return c.demand.reserve
}

// SiteStats returns the requests of siteName in flight and waiting, and its learned limit
// (that of the backend for a site never seen).
func (c *Controller) SiteStats(siteName string) (inflight, waiting, limit int) {
	key := maphash.String(c.seed, siteName)
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sites[key]
	if s == nil {
		return 0, 0, c.backend.Current()
	}
	return s.inflight, s.waiting, min(s.limit.Current(), c.backend.Current())
}

// waitList is a FIFO of waiters linked through them (removal in O(1)).
type waitList struct {
	head, tail *waiter
	n          int
}

func (l *waitList) push(w *waiter) {
	w.prev, w.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = w
	} else {
		l.head = w
	}
	l.tail = w
	l.n++
}

func (l *waitList) remove(w *waiter) {
	if w.prev != nil {
		w.prev.next = w.next
	} else {
		l.head = w.next
	}
	if w.next != nil {
		w.next.prev = w.prev
	} else {
		l.tail = w.prev
	}
	w.prev, w.next = nil, nil
	l.n--
}

// siteHeap orders the sites that can take a waiter of one tier: the site holding the fewest
// slots first (fair share), then the one served longest ago (round robin), then by arrival.
type siteHeap struct {
	tier Tier
	s    []*site
}

func (h *siteHeap) Len() int { return len(h.s) }
func (h *siteHeap) Less(i, j int) bool {
	a, b := h.s[i], h.s[j]
	if a.inflight != b.inflight {
		return a.inflight < b.inflight
	}
	if a.served != b.served {
		return a.served < b.served
	}
	return a.queues[h.tier].head.seq < b.queues[h.tier].head.seq
}
func (h *siteHeap) Swap(i, j int) {
	h.s[i], h.s[j] = h.s[j], h.s[i]
	h.s[i].index[h.tier] = i
	h.s[j].index[h.tier] = j
}
func (h *siteHeap) Push(x any) {
	s := x.(*site)
	s.index[h.tier] = len(h.s)
	h.s = append(h.s, s)
}
func (h *siteHeap) Pop() any {
	n := len(h.s)
	s := h.s[n-1]
	h.s[n-1] = nil
	s.index[h.tier] = -1
	h.s = h.s[:n-1]
	return s
}
