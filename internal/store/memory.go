package store

import (
	"context"
	"time"
	"unsafe"

	"github.com/ulule/limiter/v3"
)

// DefaultMaxKeys is the number of counters a store keeps when asked for 0.
const DefaultMaxKeys = 1_000_000

// Memory is the embedded, single-process store: approximate sliding window
// counters (see the package doc) in a bounded, sharded table. It holds at
// most maxKeys counters; when a shard is full, counters whose windows have
// ended go first, then the least recently used one. Evicting a live counter
// forgets its hits, so size maxKeys above the number of keys active within
// two periods. Safe for concurrent use.
//
// Memory is bounded in bytes, not only in keys: a key longer than
// MaxKeyLen is kept as a prefix and a hash (compactKey), so a counter costs
// about 170 bytes with a key of up to 63 bytes and at most about 240
// whatever a client sends (measured: TestMemoryPerKey,
// TestLongKeysCostBoundedMemory). Its counters hold no pointers (see
// memTable): the garbage collector does not scan them, and a never-seen key
// costs no allocation.
type Memory struct {
	tab *memTable
	// now is the store's clock; nil: the system clock, which the *At methods take from their
	// caller (one reading per request instead of one per counter).
	now func() time.Time
}

// NewMemory returns a Memory store holding at most maxKeys counters
// (DefaultMaxKeys when maxKeys <= 0).
func NewMemory(maxKeys int) *Memory {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Memory{tab: newMemTable(maxKeys)}
}

// Len returns the number of counters held.
func (m *Memory) Len() int { return m.tab.len() }

// Increment counts count hits for key and returns the resulting state.
func (m *Memory) Increment(_ context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	return m.increment(key, count, rate, m.clock(time.Time{}))
}

// IncrementBytes is Increment with the key as bytes, which it copies only to store a new
// counter: counting a key it holds makes no string. The caller may reuse key at once.
func (m *Memory) IncrementBytes(ctx context.Context, key []byte, count int64, rate limiter.Rate) (limiter.Context, error) {
	return m.IncrementBytesAt(ctx, key, count, rate, time.Time{})
}

// IncrementBytesAt is IncrementBytes at now, the caller's reading of the system clock
// (zero: the store reads it). A store on another clock (NewMemoryAt) reads its own.
func (m *Memory) IncrementBytesAt(_ context.Context, key []byte, count int64, rate limiter.Rate, now time.Time) (limiter.Context, error) {
	return m.increment(unsafe.String(unsafe.SliceData(key), len(key)), count, rate, m.clock(now))
}

// PeekBytes is Peek with the key as bytes (not kept).
func (m *Memory) PeekBytes(ctx context.Context, key []byte, rate limiter.Rate) (limiter.Context, error) {
	return m.PeekBytesAt(ctx, key, rate, time.Time{})
}

// PeekBytesAt is PeekBytes at now, as IncrementBytesAt.
func (m *Memory) PeekBytesAt(_ context.Context, key []byte, rate limiter.Rate, now time.Time) (limiter.Context, error) {
	return m.peek(unsafe.String(unsafe.SliceData(key), len(key)), rate, m.clock(now))
}

// clock is the time to count at: the store's own clock's, else at (the system clock's
// reading by the caller), else the system clock's.
func (m *Memory) clock(at time.Time) time.Time {
	switch {
	case m.now != nil:
		return m.now()
	case at.IsZero():
		return time.Now()
	}
	return at
}

// increment counts for key, which it does not keep (a new counter holds a copy of its
// bytes), at now.
func (m *Memory) increment(key string, count int64, rate limiter.Rate, now time.Time) (limiter.Context, error) {
	if err := checkRate(count, rate); err != nil {
		return limiter.Context{}, err
	}
	key = compactKey(key)
	idx := windowIndex(now, rate.Period)
	h, s := m.tab.lookup(key)
	s.mu.Lock()
	c := s.getOrInsert(h, key, now.UnixNano())
	if c.period != rate.Period { // new key, or the key's rate changed period
		c.period, c.counts = rate.Period, counts{idx: idx}
	}
	c.roll(idx)
	c.cur += count
	cur, prev := c.cur, c.prev
	s.mu.Unlock()
	return contextFor(now, rate, cur, prev), nil
}

// Get counts one hit for key, like Increment(ctx, key, 1, rate).
func (m *Memory) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return m.Increment(ctx, key, 1, rate)
}

// Peek returns the state of key without counting a hit.
func (m *Memory) Peek(_ context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return m.peek(key, rate, m.clock(time.Time{}))
}

// peek reads key's state at now.
func (m *Memory) peek(key string, rate limiter.Rate, now time.Time) (limiter.Context, error) {
	if err := checkRate(0, rate); err != nil {
		return limiter.Context{}, err
	}
	key = compactKey(key)
	var cur, prev int64
	h, s := m.tab.lookup(key)
	s.mu.Lock()
	if c := s.peek(h, key); c != nil && c.period == rate.Period {
		cs := c.counts
		cs.roll(windowIndex(now, rate.Period))
		cur, prev = cs.cur, cs.prev
	}
	s.mu.Unlock()
	return contextFor(now, rate, cur, prev), nil
}

// Reset forgets every hit of key.
func (m *Memory) Reset(_ context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	if err := checkRate(0, rate); err != nil {
		return limiter.Context{}, err
	}
	key = compactKey(key)
	h, s := m.tab.lookup(key)
	s.mu.Lock()
	s.remove(h, key)
	s.mu.Unlock()
	return contextFor(m.clock(time.Time{}), rate, 0, 0), nil
}

var _ limiter.Store = (*Memory)(nil)
