package protect

import (
	"maps"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// now is the clock of this package; tests replace it.
var now = time.Now

// DefaultMaxQuarantined is the most sites a Quarantine holds when NewQuarantine gets 0.
const DefaultMaxQuarantined = 10000

// Entry describes one quarantined site.
type Entry struct {
	// Site is the host name, as given to Start.
	Site string
	// Since is when the quarantine started (extensions keep it).
	Since time.Time
	// Until is when the quarantine ends.
	Until time.Time
	// Reason says why the site was quarantined (for techs), as given to the first Start.
	Reason string
}

// Quarantine holds the sites quarantined after a compromised-site burst, each until a
// time. It only keeps the state; the policy (the site's POSTs get 429, its GETs flow) is
// the caller's. Expired entries are dropped lazily, and at most a fixed number of sites are
// held. A Quarantine is safe for concurrent use. Active, on the hot path, takes no lock: it
// reads an immutable map that writers (rare: a quarantine starts, is extended or ends)
// replace by a copy.
type Quarantine struct {
	mu    sync.Mutex // serialises writers
	max   int
	sites atomic.Pointer[map[string]Entry]
	// clock, when set, replaces the package clock (NewQuarantineAt).
	clock func() time.Time
}

// NewQuarantine returns an empty Quarantine holding at most maxSites sites
// (0 = DefaultMaxQuarantined). When it is full, Start drops the expired entries and then,
// if needed, the entry that ends soonest.
func NewQuarantine(maxSites int) *Quarantine {
	if maxSites <= 0 {
		maxSites = DefaultMaxQuarantined
	}
	q := &Quarantine{max: maxSites}
	m := map[string]Entry{}
	q.sites.Store(&m)
	return q
}

// Start quarantines site until the given time and reports whether this started a new
// quarantine (log and count it then). When site is already quarantined it returns false
// and only extends the end to until if that is later.
func (q *Quarantine) Start(site string, until time.Time, reason string) (started bool) {
	t := q.clockNow()
	q.mu.Lock()
	defer q.mu.Unlock()
	old := *q.sites.Load()
	if e, ok := old[site]; ok && t.Before(e.Until) {
		if until.After(e.Until) {
			e.Until = until
			m := maps.Clone(old)
			m[site] = e
			q.sites.Store(&m)
		}
		return false
	}
	if !until.After(t) {
		return false // ends before it starts: nothing to hold
	}
	m := maps.Clone(old)
	delete(m, site)
	if len(m) >= q.max {
		q.makeRoom(m, t)
	}
	m[site] = Entry{Site: site, Since: t, Until: until, Reason: reason}
	q.sites.Store(&m)
	return true
}

// makeRoom drops the expired entries, then the one ending soonest if still full. Only
// reached when the Quarantine is full, so its cost (one pass) is rare.
func (q *Quarantine) makeRoom(m map[string]Entry, t time.Time) {
	var soonest *Entry
	for site, e := range m {
		if !t.Before(e.Until) {
			delete(m, site)
			continue
		}
		if soonest == nil || e.Until.Before(soonest.Until) {
			soonest = &e
		}
	}
	if len(m) >= q.max && soonest != nil {
		delete(m, soonest.Site)
	}
}

// Active reports whether site is quarantined at time t (pass time.Now()).
func (q *Quarantine) Active(site string, t time.Time) bool {
	_, ok := q.Until(site, t)
	return ok
}

// Until returns when the quarantine of site ends, if site is quarantined at t.
func (q *Quarantine) Until(site string, t time.Time) (time.Time, bool) {
	e, ok := (*q.sites.Load())[site]
	if !ok || !t.Before(e.Until) {
		return time.Time{}, false
	}
	return e.Until, true
}

// End lifts the quarantine of site at once (a tech's decision) and reports whether it was
// held.
func (q *Quarantine) End(site string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	old := *q.sites.Load()
	if _, ok := old[site]; !ok {
		return false
	}
	m := maps.Clone(old)
	delete(m, site)
	q.sites.Store(&m)
	return true
}

// List returns the sites quarantined at time t, sorted by site, and drops the expired ones.
func (q *Quarantine) List(t time.Time) []Entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	old := *q.sites.Load()
	out := make([]Entry, 0, len(old))
	for _, e := range old {
		if t.Before(e.Until) {
			out = append(out, e)
		}
	}
	if len(out) < len(old) {
		m := make(map[string]Entry, len(out))
		for _, e := range out {
			m[e.Site] = e
		}
		q.sites.Store(&m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Site < out[j].Site })
	return out
}
