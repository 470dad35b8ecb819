package challenge

import (
	"context"
	"sync"
	"time"
)

// SeenSet remembers keys for a while so that a proof-of-work answer is used
// only once. The counter store can implement it (SET NX with an expiry).
type SeenSet interface {
	// FirstUse records key for ttl and reports whether it was not already
	// recorded (true: first use). An error means the set could not tell.
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
