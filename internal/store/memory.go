package store

import (
	"context"
	"strings"
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
// about 170 bytes with a 32-byte key and at most about 300 whatever a
// client sends (measured: TestMemoryPerKey, TestLongKeysCostBoundedMemory).
type Memory struct {
	tab *table[memCounter]
	now func() time.Time
}

type memCounter struct {
	period time.Duration
	counts
	// key holds the bytes of the counter's key when it is at most inlineKey long (most
	// are, 22 to 52 bytes): the table's key is then a string over them, and a new counter
	// makes no string of its own. The table recycles nodes, key and all.
	key [inlineKey]byte
}

// inlineKey is how long a key memCounter holds itself.
const inlineKey = 56

// NewMemory returns a Memory store holding at most maxKeys counters
// (DefaultMaxKeys when maxKeys <= 0).
func NewMemory(maxKeys int) *Memory {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	m := &Memory{tab: newTable[memCounter](maxKeys), now: time.Now}
	m.tab.recycle = true
	m.tab.dead = func(c *memCounter) bool {
		return windowIndex(m.now(), c.period) >= c.idx+2
	}
	return m
}

// Len returns the number of counters held.
func (m *Memory) Len() int { return m.tab.len() }

// Increment counts count hits for key and returns the resulting state.
func (m *Memory) Increment(_ context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	return m.increment(key, true, count, rate)
}

// IncrementBytes is Increment with the key as bytes, which it copies only to store a new
// counter: counting a key it holds makes no string. The caller may reuse key at once.
func (m *Memory) IncrementBytes(_ context.Context, key []byte, count int64, rate limiter.Rate) (limiter.Context, error) {
	return m.increment(unsafe.String(unsafe.SliceData(key), len(key)), false, count, rate)
}

// PeekBytes is Peek with the key as bytes (not kept).
func (m *Memory) PeekBytes(ctx context.Context, key []byte, rate limiter.Rate) (limiter.Context, error) {
	return m.Peek(ctx, unsafe.String(unsafe.SliceData(key), len(key)), rate)
}

// increment counts for key; owned says the key string may be kept as it is (else a new
// counter stores a copy).
func (m *Memory) increment(key string, owned bool, count int64, rate limiter.Rate) (limiter.Context, error) {
	if err := checkRate(count, rate); err != nil {
		return limiter.Context{}, err
	}
	key = compactKey(key)
	now := m.now()
	idx := windowIndex(now, rate.Period)
	_, s := m.tab.shard(key)
	s.mu.Lock()
	c := s.get(key)
	if c == nil {
		c = m.tab.insertFunc(s, func(c *memCounter) string {
			switch {
			case len(key) <= inlineKey:
				n := copy(c.key[:], key)
				return unsafe.String(&c.key[0], n)
			case !owned:
				return strings.Clone(key)
			}
			return key
		})
	}
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
	if err := checkRate(0, rate); err != nil {
		return limiter.Context{}, err
	}
	key = compactKey(key)
	now := m.now()
	var cur, prev int64
	_, s := m.tab.shard(key)
	s.mu.Lock()
	if c := s.peek(key); c != nil && c.period == rate.Period {
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
	_, s := m.tab.shard(key)
	s.mu.Lock()
	m.tab.remove(s, key)
	s.mu.Unlock()
	return contextFor(m.now(), rate, 0, 0), nil
}

var _ limiter.Store = (*Memory)(nil)
