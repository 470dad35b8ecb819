package protect

import (
	"sort"
	"sync"
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
// held. A Quarantine is safe for concurrent use; Active, on the hot path, takes a read lock.
type Quarantine struct {
	mu    sync.RWMutex
	max   int
	sites map[string]*Entry
}

// NewQuarantine returns an empty Quarantine holding at most maxSites sites
// (0 = DefaultMaxQuarantined). When it is full, Start drops the expired entries and then,
// if needed, the entry that ends soonest.
func NewQuarantine(maxSites int) *Quarantine {
	if maxSites <= 0 {
		maxSites = DefaultMaxQuarantined
	}
	return &Quarantine{max: maxSites, sites: make(map[string]*Entry)}
}

// Start quarantines site until the given time and reports whether this started a new
// quarantine (log and count it then). When site is already quarantined it returns false
// and only extends the end to until if that is later.
func (q *Quarantine) Start(site string, until time.Time, reason string) (started bool) {
	t := now()
	q.mu.Lock()
	defer q.mu.Unlock()
	if e := q.sites[site]; e != nil && t.Before(e.Until) {
		if until.After(e.Until) {
			e.Until = until
		}
		return false
	}
	if !until.After(t) {
		return false // ends before it starts: nothing to hold
	}
	delete(q.sites, site)
	if len(q.sites) >= q.max {
		q.makeRoom(t)
	}
	q.sites[site] = &Entry{Site: site, Since: t, Until: until, Reason: reason}
	return true
}

// makeRoom drops the expired entries, then the one ending soonest if still full. Only
// reached when the Quarantine is full, so its cost (one pass) is rare.
func (q *Quarantine) makeRoom(t time.Time) {
	var soonest *Entry
	for site, e := range q.sites {
		if !t.Before(e.Until) {
			delete(q.sites, site)
			continue
		}
		if soonest == nil || e.Until.Before(soonest.Until) {
			soonest = e
		}
	}
	if len(q.sites) >= q.max && soonest != nil {
		delete(q.sites, soonest.Site)
	}
}

// Active reports whether site is quarantined at time t (pass time.Now()).
func (q *Quarantine) Active(site string, t time.Time) bool {
	q.mu.RLock()
	e := q.sites[site]
	active := e != nil && t.Before(e.Until)
	q.mu.RUnlock()
	return active
}

// End lifts the quarantine of site at once (a tech's decision) and reports whether it was
// held.
func (q *Quarantine) End(site string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	_, ok := q.sites[site]
	delete(q.sites, site)
	return ok
}

// List returns the sites quarantined at time t, sorted by site, and drops the expired ones.
func (q *Quarantine) List(t time.Time) []Entry {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]Entry, 0, len(q.sites))
	for site, e := range q.sites {
		if !t.Before(e.Until) {
			delete(q.sites, site)
			continue
		}
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Site < out[j].Site })
	return out
}
