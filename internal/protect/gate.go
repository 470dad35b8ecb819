package protect

import (
	"container/heap"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// ErrQueueFull is returned by Gate.Acquire at once when the wait queue (of the site or of
// the whole backend) is full. The handler answers 503 with Retry-After.
var ErrQueueFull = errors.New("protect: backend busy: wait queue full")

// ErrWaitTimeout is returned by Gate.Acquire when no slot freed up within MaxWait. The
// handler answers 503 with Retry-After.
var ErrWaitTimeout = errors.New("protect: backend busy: no slot freed within the maximum wait")

// Default gate settings, used when the matching GateOptions field is zero.
const (
	DefaultQueueLen = 1024
	DefaultMaxWait  = 2 * time.Second
)

// GateOptions sets the caps of a Gate.
type GateOptions struct {
	// BackendCap is the most requests in flight to the whole backend, all sites together.
	// 0 (the default) means unlimited: only the per-site caps apply.
	BackendCap int
	// QueueLen is the most requests waiting for a slot, all sites together. 0 means
	// DefaultQueueLen (1024); a negative value means no queue: past a cap, ErrQueueFull at once.
	QueueLen int
	// SiteQueueLen is the most requests one site may have waiting, so that one flooded site
	// cannot fill the whole queue. 0 means QueueLen/8 (at least 1); it is never above QueueLen.
	SiteQueueLen int
	// MaxWait is the longest a request waits in the queue before ErrWaitTimeout.
	// 0 means DefaultMaxWait (2s).
	MaxWait time.Duration
}

// Gate caps the requests in flight per site and for the whole backend, and lets the
// requests past a cap wait briefly in a bounded queue. When a slot frees up, the waiters
// whose site is below its cap are admitted: priority waiters (known-good clients) before
// the others, then the site holding the fewest slots, then first come first served. When the
// whole queue is full, a newcomer from a site waiting less takes the place of the newest
// ordinary waiter of the site waiting most, so that floods on a few sites cannot fill the
// queue against everyone else. A site at its cap waits for its own
// requests to finish and never holds up the waiters of other sites.
//
// A Gate keeps state only for the sites that have requests in flight or waiting. Acquire
// and release cost O(log w) at most, w being the number of sites with waiters; nothing is
// proportional to the number of sites known. A Gate is safe for concurrent use.
type Gate struct {
	mu           sync.Mutex
	backendCap   int
	queueLen     int
	siteQueueLen int
	maxWait      time.Duration

	inflight int
	waiting  int
	seq      uint64
	served   uint64 // counts admissions, to order sites by when they were last served
	sites    map[string]*gateSite
	ready    readyHeap // sites with a waiter and room under their cap, oldest first waiter first
	free     []*gateSite
}

// gateSite is the state of one busy site. It exists only while the site has requests in
// flight or waiting.
type gateSite struct {
	name     string
	cap      int
	inflight int
	waiting  int
	queues   [2]waitList // [0] priority, [1] others
	index    int         // position in Gate.ready, -1 when not there
	served   uint64      // Gate.served when the site last got a slot (0: never)
}

// waiter is one request waiting for a slot.
type waiter struct {
	site       *gateSite
	class      int // 0 priority, 1 others
	seq        uint64
	ready      chan struct{} // closed when admitted, or when pushed out
	granted    bool
	pushedOut  bool // its place went to a site waiting less: ErrQueueFull
	prev, next *waiter
}

// maxFreeSites bounds the recycled site states kept to spare allocations.
const maxFreeSites = 256

// NewGate returns a Gate with the given caps (zero fields take their defaults).
func NewGate(opts GateOptions) *Gate {
	g := &Gate{sites: make(map[string]*gateSite)}
	g.setOptions(opts)
	return g
}

// setOptions applies opts with their defaults. The caller holds g.mu or owns g.
func (g *Gate) setOptions(opts GateOptions) {
	g.backendCap = max(opts.BackendCap, 0)
	g.queueLen = opts.QueueLen
	switch {
	case g.queueLen == 0:
		g.queueLen = DefaultQueueLen
	case g.queueLen < 0:
		g.queueLen = 0
	}
	g.siteQueueLen = opts.SiteQueueLen
	if g.siteQueueLen <= 0 {
		g.siteQueueLen = max(g.queueLen/8, 1)
	}
	g.siteQueueLen = min(g.siteQueueLen, g.queueLen)
	g.maxWait = opts.MaxWait
	if g.maxWait <= 0 {
		g.maxWait = DefaultMaxWait
	}
}

// Reconfigure changes the caps of a running Gate (on a config reload), keeping the
// requests in flight and waiting. Raised caps admit waiters at once; lowered caps apply
// as requests finish.
func (g *Gate) Reconfigure(opts GateOptions) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.setOptions(opts)
	g.dispatch()
}

// Acquire asks for a slot for a request to site. siteCap is the site's cap on requests in
// flight (0 = no site cap); priority marks known-good clients (a valid pass, a verified
// search engine), who are admitted before the others.
//
// It returns at once when the site is below siteCap and the backend below BackendCap.
// Otherwise the request waits, at most MaxWait, and Acquire returns ErrQueueFull (queue
// full, at once), ErrWaitTimeout (no slot within MaxWait) or ctx.Err() (ctx done while
// waiting). On success, the caller must call release once the request is answered;
// calling it again does nothing.
func (g *Gate) Acquire(ctx context.Context, site string, siteCap int, priority bool) (release func(), err error) {
	g.mu.Lock()
	s := g.sites[site]
	if s == nil {
		s = g.newSite(site)
	}
	if s.cap != siteCap {
		s.cap = siteCap
		g.fix(s)
		g.dispatch()
	}
	if s.room() && g.backendRoom() {
		// Nobody eligible is waiting: the queue invariant (see dispatch) guarantees that a
		// site with room and waiters is served as soon as the backend has room.
		s.inflight++
		g.inflight++
		g.served++
		s.served = g.served
		g.mu.Unlock()
		return g.slot(s), nil
	}
	if s.waiting >= g.siteQueueLen || (g.waiting >= g.queueLen && !g.pushOutLongest(s, priority)) {
		g.forgetIfIdle(s)
		g.mu.Unlock()
		return nil, ErrQueueFull
	}
	w := &waiter{site: s, class: 1, seq: g.seq, ready: make(chan struct{})}
	if priority {
		w.class = 0
	}
	g.seq++
	s.queues[w.class].push(w)
	s.waiting++
	g.waiting++
	g.fix(s)
	maxWait := g.maxWait
	g.mu.Unlock()

	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	select {
	case <-w.ready:
		if w.pushedOut {
			g.mu.Lock()
			g.forgetIfIdle(s)
			g.mu.Unlock()
			return nil, ErrQueueFull
		}
		return g.slot(s), nil
	case <-timer.C:
		err = ErrWaitTimeout
	case <-ctx.Done():
		err = ctx.Err()
	}

	g.mu.Lock()
	if w.granted {
		// Admitted while giving up. A timeout loses the race to the slot: use it. A done
		// context means nobody will use it: hand it to the next waiter.
		if err == ErrWaitTimeout {
			g.mu.Unlock()
			return g.slot(s), nil
		}
		g.releaseLocked(s)
		g.mu.Unlock()
		return nil, err
	}
	s.queues[w.class].remove(w)
	s.waiting--
	g.waiting--
	g.fix(s)
	g.forgetIfIdle(s)
	g.mu.Unlock()
	return nil, err
}

// pushOutLongest makes room in a full queue for a waiter of site s: the newest ordinary
// waiter of the site waiting most gives up its place (ErrQueueFull), if that site waits more
// than s will, or if the newcomer has priority. It reports whether room was made. Sites are
// looked at only when the whole queue is full, and only those with something waiting or in
// flight are known: the work is bounded by the concurrency, not by the number of sites.
func (g *Gate) pushOutLongest(s *gateSite, priority bool) bool {
	var longest *gateSite
	for _, o := range g.sites {
		if o.queues[1].tail != nil && (longest == nil || o.waiting > longest.waiting) {
			longest = o
		}
	}
	if longest == nil || (!priority && longest.waiting <= s.waiting+1) {
		return false
	}
	w := longest.queues[1].tail
	longest.queues[1].remove(w)
	longest.waiting--
	g.waiting--
	w.pushedOut = true
	close(w.ready)
	g.fix(longest)
	return true
}

// slot returns the release function of one admitted request of s.
func (g *Gate) slot(s *gateSite) func() {
	var done atomic.Bool
	return func() {
		if done.Swap(true) {
			return
		}
		g.mu.Lock()
		g.releaseLocked(s)
		g.mu.Unlock()
	}
}

// releaseLocked frees one slot of s and admits who may go next.
func (g *Gate) releaseLocked(s *gateSite) {
	s.inflight--
	g.inflight--
	g.fix(s)
	g.dispatch()
	g.forgetIfIdle(s)
}

// dispatch admits waiters while the backend has room. It keeps the queue invariant: after
// it, either no site with room has waiters, or the backend is full.
func (g *Gate) dispatch() {
	// Each turn admits one waiter, so the loop ends after at most g.waiting turns.
	for g.backendRoom() && len(g.ready) > 0 {
		s := g.ready[0]
		w := s.first()
		s.queues[w.class].remove(w)
		s.waiting--
		g.waiting--
		s.inflight++
		g.inflight++
		g.served++
		s.served = g.served
		w.granted = true
		close(w.ready)
		g.fix(s)
	}
}

// fix puts s in the ready heap, moves it or takes it out, according to whether it has
// waiters and room under its cap, and to its first waiter.
func (g *Gate) fix(s *gateSite) {
	eligible := s.waiting > 0 && s.room()
	switch {
	case eligible && s.index < 0:
		heap.Push(&g.ready, s)
	case eligible:
		heap.Fix(&g.ready, s.index)
	case s.index >= 0:
		heap.Remove(&g.ready, s.index)
	}
}

func (g *Gate) backendRoom() bool { return g.backendCap <= 0 || g.inflight < g.backendCap }

// newSite registers a site state for name, recycled when possible.
func (g *Gate) newSite(name string) *gateSite {
	var s *gateSite
	if n := len(g.free); n > 0 {
		s = g.free[n-1]
		g.free = g.free[:n-1]
	} else {
		s = new(gateSite)
	}
	*s = gateSite{name: name, index: -1}
	g.sites[name] = s
	return s
}

// forgetIfIdle drops the state of s when it has nothing in flight and nothing waiting.
func (g *Gate) forgetIfIdle(s *gateSite) {
	if s.inflight > 0 || s.waiting > 0 {
		return
	}
	delete(g.sites, s.name)
	if len(g.free) < maxFreeSites {
		*s = gateSite{index: -1}
		g.free = append(g.free, s)
	}
}

// Stats returns the requests of site in flight and waiting (0, 0 for an idle site).
func (g *Gate) Stats(site string) (inflight, waiting int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s := g.sites[site]; s != nil {
		return s.inflight, s.waiting
	}
	return 0, 0
}

// Saturated reports whether site is at its own cap: a load signal for the under-attack
// Detector (Sample.Saturated). A site below its cap whose requests wait because the whole
// backend is full is not saturated: the backend's trouble says nothing about this site.
func (g *Gate) Saturated(site string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.sites[site]
	return s != nil && s.cap > 0 && !s.room()
}

func (s *gateSite) room() bool { return s.cap <= 0 || s.inflight < s.cap }

// first is the waiter of s to admit next: the oldest priority one, else the oldest.
func (s *gateSite) first() *waiter {
	if w := s.queues[0].head; w != nil {
		return w
	}
	return s.queues[1].head
}

// waitList is a FIFO of waiters, linked through the waiters (removal in O(1)).
type waitList struct{ head, tail *waiter }

func (l *waitList) push(w *waiter) {
	w.prev, w.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = w
	} else {
		l.head = w
	}
	l.tail = w
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
}

// readyHeap orders the sites that can take a waiter: by their first waiter's priority
// class, then by the slots the site holds (fewest first), then by when the site was last
// served (longest ago first), then by arrival order.
type readyHeap []*gateSite

func (h readyHeap) Len() int { return len(h) }
func (h readyHeap) Less(i, j int) bool {
	a, b := h[i].first(), h[j].first()
	if a.class != b.class {
		return a.class < b.class
	}
	// Fair share: the site holding fewer slots goes first, so that a flooded site's long
	// queue of older waiters does not make a quiet site's visitor wait behind it.
	if h[i].inflight != h[j].inflight {
		return h[i].inflight < h[j].inflight
	}
	// Round robin: the site served least recently goes first, so that sites taking turns
	// at a slot do not starve one that has waited since.
	if h[i].served != h[j].served {
		return h[i].served < h[j].served
	}
	return a.seq < b.seq
}
func (h readyHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *readyHeap) Push(x any) {
	s := x.(*gateSite)
	s.index = len(*h)
	*h = append(*h, s)
}
func (h *readyHeap) Pop() any {
	old := *h
	n := len(old)
	s := old[n-1]
	old[n-1] = nil
	s.index = -1
	*h = old[:n-1]
	return s
}
