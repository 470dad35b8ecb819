package challenge

import (
	"context"
	"sync"
	"time"

	"github.com/ulule/limiter/v3"
)

// SeenSet remembers keys for a while so that a proof-of-work answer is used
// only once. The counter store can implement it (SET NX with an expiry).
type SeenSet interface {
	// FirstUse records key for ttl and reports whether it was not already
	// recorded (true: first use). An error means the set could not tell.
	// Callers pass the same ttl for every use of a key.
	FirstUse(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// DefaultSeenSize is the capacity of the in-memory SeenSet New makes when
// Config.Seen is nil.
const DefaultSeenSize = 1 << 16

// MemorySeen is an in-memory SeenSet holding at most a fixed number of keys.
// When full, it forgets the oldest-recorded key first; with challenges that
// live minutes, replaying an answer after that takes max fresh solved
// challenges in between, each a proof of work. It is safe for concurrent use
// and only knows what this process saw: share one through the counter store
// when several floodgate instances serve the same sites.
type MemorySeen struct {
	mu    sync.Mutex
	max   int
	until map[string]time.Time // key -> forget after
	order []seenEntry          // ring buffer, oldest at head
	head  int
}

type seenEntry struct {
	key   string
	until time.Time
}

// NewMemorySeen returns an empty MemorySeen for at most max keys (at least 1).
func NewMemorySeen(max int) *MemorySeen {
	if max < 1 {
		max = 1
	}
	return &MemorySeen{max: max, until: make(map[string]time.Time)}
}

// FirstUse implements SeenSet.
func (m *MemorySeen) FirstUse(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	t := now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if u, ok := m.until[key]; ok && t.Before(u) {
		return false, nil
	}
	// Forget expired keys at the head, and the oldest one when full.
	for len(m.order)-m.head > 0 {
		e := m.order[m.head]
		if t.Before(e.until) && len(m.until) < m.max {
			break
		}
		if u, ok := m.until[e.key]; ok && u.Equal(e.until) {
			delete(m.until, e.key)
		}
		m.order[m.head] = seenEntry{}
		m.head++
	}
	if m.head > 0 && m.head >= len(m.order)/2 { // compact the ring
		m.order = append(m.order[:0], m.order[m.head:]...)
		m.head = 0
	}
	u := t.Add(ttl)
	m.until[key] = u
	m.order = append(m.order, seenEntry{key, u})
	return true, nil
}

// Len returns the number of keys currently remembered.
func (m *MemorySeen) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.until)
}

// StoreSeen is a SeenSet kept in a counter store (the limiter.Store budgets use), so that an
// answer is single use across every proxy sharing the store (within one sync interval for a
// batched store).
//
// A counter store counts in epoch-aligned windows of a fixed period and reads a key as the
// current window plus the previous one weighted by its overlap, rounded down. A key's period
// must therefore never change between calls (a new period starts the key afresh: the bug that
// let one answer pass three times), and a use in the previous window must still count after
// rounding. So each use counts 2 against a limit of 2 in windows of twice ttl: a second use
// within ttl of the first finds the first weighted by at least one half, 2 + 1 > 2.
type StoreSeen struct {
	Store limiter.Store
}

// FirstUse implements SeenSet. ttl must be the same for every call with a key (the
// challenges' lifetime, not what is left of it).
func (s StoreSeen) FirstUse(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	lc, err := s.Store.Increment(ctx, "seen:"+key, 2, limiter.Rate{Limit: 2, Period: 2 * ttl})
	if err != nil {
		return true, err
	}
	return !lc.Reached, nil
}
