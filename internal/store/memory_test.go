package store

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"
)

func newTestMemory(maxKeys int) (*Memory, *fakeClock) {
	m := NewMemory(maxKeys)
	c := newFakeClock()
	m.now = c.now
	return m, c
}

func TestMemoryWindowSemantics(t *testing.T) {
	m, c := newTestMemory(0)
	runWindowCases(t, harness{store: m, now: c.now, wait: c.advance})
}

func TestMemoryRejectsBadInput(t *testing.T) {
	m := NewMemory(10)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		count int64
		rate  limiter.Rate
	}{
		{"zero period", 1, limiter.Rate{Limit: 1}},
		{"negative period", 1, limiter.Rate{Period: -time.Second, Limit: 1}},
		{"negative limit", 1, limiter.Rate{Period: time.Second, Limit: -1}},
		{"negative count", -1, limiter.Rate{Period: time.Second, Limit: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.Increment(ctx, "k", tc.count, tc.rate); err == nil {
				t.Fatalf("Increment(%d, %+v) succeeded, want an error", tc.count, tc.rate)
			}
		})
	}
}

// TestMemoryEvictionBound fills the store far beyond maxKeys while one key
// stays hot: the size bound holds and the hot key keeps its count.
func TestMemoryEvictionBound(t *testing.T) {
	const maxKeys = 6400
	m, _ := newTestMemory(maxKeys)
	ctx := context.Background()
	rate := perMinute(1_000_000)
	for i := 0; i < 20*maxKeys; i++ {
		if _, err := m.Increment(ctx, "cold:"+strconv.Itoa(i), 1, rate); err != nil {
			t.Fatal(err)
		}
		if i%4 == 0 {
			if _, err := m.Increment(ctx, "hot", 1, rate); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := m.Len(); n > maxKeys || n < maxKeys/2 {
		t.Fatalf("Len() = %d after %d keys, want at most %d and at least %d", n, 20*maxKeys, maxKeys, maxKeys/2)
	}
	got, err := m.Peek(ctx, "hot", rate)
	if err != nil {
		t.Fatal(err)
	}
	if want := rate.Limit - 5*maxKeys; got.Remaining != want {
		t.Fatalf("hot key Remaining = %d, want %d (its hits were evicted)", got.Remaining, want)
	}
}

// TestMemoryDropsExpiredFirst: counters whose windows ended make room
// before any live one is evicted.
func TestMemoryDropsExpiredFirst(t *testing.T) {
	m, c := newTestMemory(6400)
	ctx := context.Background()
	rate := perMinute(10)
	for i := 0; i < 1000; i++ {
		if _, err := m.Increment(ctx, "old:"+strconv.Itoa(i), 1, rate); err != nil {
			t.Fatal(err)
		}
	}
	c.advance(3 * time.Minute)
	for i := 0; i < 1000; i++ {
		if _, err := m.Increment(ctx, "new:"+strconv.Itoa(i), 1, rate); err != nil {
			t.Fatal(err)
		}
	}
	if n := m.Len(); n >= 1500 {
		t.Fatalf("Len() = %d, want < 1500: expired counters were not dropped", n)
	}
}

// TestMemorySlidingWindow checks the weighted previous window and the retry
// time derived from it.
func TestMemorySlidingWindow(t *testing.T) {
	m, c := newTestMemory(0)
	ctx := context.Background()
	rate := perMinute(10)
	if _, err := m.Increment(ctx, "k", 10, rate); err != nil {
		t.Fatal(err)
	}
	// 15s into the next window, 75% of the 10 previous hits still count.
	c.advance(time.Minute + 15*time.Second - time.Millisecond)
	got, err := m.Increment(ctx, "k", 1, rate)
	if err != nil {
		t.Fatal(err)
	}
	if got.Reached || got.Remaining != 10-1-7 {
		t.Fatalf("got reached=%v remaining=%d, want reached=false remaining=2", got.Reached, got.Remaining)
	}
	got, _ = m.Increment(ctx, "k", 2, rate)
	if got.Reached {
		t.Fatalf("3 + floor(7.5) = 10 hits should still be allowed, got reached")
	}
	got, _ = m.Increment(ctx, "k", 1, rate)
	if !got.Reached {
		t.Fatalf("4 + floor(7.5) = 11 hits should be refused")
	}
	// cur=4, prev=10: one more allowed once 10*(1-f) < 6, f > 0.4, just
	// after 24s into the window: 9s and a bit from now, 10s rounded up.
	now := c.now()
	if retry := got.Reset - now.Unix(); retry != 10 {
		t.Fatalf("Retry-After = %ds, want 10s", retry)
	}
	c.advance(9 * time.Second)
	if got, _ = m.Peek(ctx, "k", rate); got.Remaining != 0 {
		t.Fatalf("9s later 4 + floor(6.0) = 10 hits should leave nothing, got remaining %d", got.Remaining)
	}
	c.advance(time.Second)
	if got, _ = m.Peek(ctx, "k", rate); got.Remaining != 1 {
		t.Fatalf("at Reset 4 + floor(5.8) = 9 hits should leave room for one, got remaining %d", got.Remaining)
	}
}

// IncrementBytes copies a key it stores: the caller's buffer, overwritten at once, changes
// nothing, and the string and byte forms count the same counter.
func TestMemoryIncrementBytesCopiesNewKeys(t *testing.T) {
	m := NewMemory(0)
	rate := limiter.Rate{Period: time.Minute, Limit: 10}
	buf := []byte("fg:rule#0:1.2.3.4")
	if _, err := m.IncrementBytes(context.Background(), buf, 1, rate); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXXXXXXXXXXXXXX")
	if _, err := m.IncrementBytes(context.Background(), []byte("fg:rule#0:1.2.3.4"), 1, rate); err != nil {
		t.Fatal(err)
	}
	got, err := m.Peek(context.Background(), "fg:rule#0:1.2.3.4", rate)
	if err != nil || got.Remaining != 8 || m.Len() != 1 {
		t.Errorf("after two counts of one key through reused buffers: remaining %d (want 8), %d keys (want 1), err %v", got.Remaining, m.Len(), err)
	}
	if b, _ := m.PeekBytes(context.Background(), []byte("fg:rule#0:1.2.3.4"), rate); b != got {
		t.Errorf("PeekBytes %+v, Peek %+v", b, got)
	}
}

// A never-seen key costs no allocation of its own: its node is one the table dropped (or
// one of a page of nodes), its key is held in the node and, past inlineKey bytes, in a
// spill slot recycled the same way. Keys stay apart through the
// recycling: every key still held counts its own hits, and the table's index, chains and
// LRU list agree (checkMemTable).
func TestMemoryNewKeysRecycleWithoutAllocating(t *testing.T) {
	const maxKeys = 640
	m, _ := newTestMemory(maxKeys)
	ctx := context.Background()
	rate := perMinute(1_000)
	buf := make([]byte, 0, 128)
	key := func(i int) []byte {
		buf = append(buf[:0], "fg:browsers#0:90.1."...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		if i%7 == 0 { // some longer than a node holds (spilled)
			buf = append(buf, "|a-long-host-name-that-takes-the-key-past-the-inline-bytes.example.org"...)
		}
		return buf
	}
	n := 0
	count := func() {
		if _, err := m.IncrementBytes(ctx, key(n), 1, rate); err != nil {
			t.Fatal(err)
		}
		n++
	}
	for range 10 * maxKeys {
		count()
	}
	// The last keys are held, each with its one hit.
	for i := n - maxKeys/4; i < n; i++ {
		if got, err := m.PeekBytes(ctx, key(i), rate); err != nil || got.Remaining != rate.Limit-1 {
			t.Fatalf("key %q: remaining %d, err %v; want %d", key(i), got.Remaining, err, rate.Limit-1)
		}
	}
	checkMemTable(t, m.tab)
	if raceEnabled {
		return
	}
	if allocs := testing.AllocsPerRun(1000, count); allocs > 0.01 {
		t.Errorf("a new key costs %.2f allocations, want none (a seventh are longer than a node holds)", allocs)
	}
}

// atStore counts in a Memory on the system clock through IncrementBytesAt and PeekBytesAt,
// at the times of a fake clock: the caller's reading of the clock, as the decider passes a
// request's.
type atStore struct {
	*Memory
	now func() time.Time
}

func (s atStore) Increment(ctx context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	return s.IncrementBytesAt(ctx, []byte(key), count, rate, s.now())
}

func (s atStore) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return s.Increment(ctx, key, 1, rate)
}

func (s atStore) Peek(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return s.PeekBytesAt(ctx, []byte(key), rate, s.now())
}

// Reset forgets key (Memory.Reset) and reads its state at the fake clock's time.
func (s atStore) Reset(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	if _, err := s.Memory.Reset(ctx, key, rate); err != nil {
		return limiter.Context{}, err
	}
	return s.Peek(ctx, key, rate)
}

// TestMemoryCountsAtCallersTime: a store on the system clock counts at the time its caller
// passes (the window cases hold at a fake clock's times, hours from the system's), and reads
// the system clock when passed none.
func TestMemoryCountsAtCallersTime(t *testing.T) {
	c := newFakeClock()
	c.advance(-1000 * time.Hour) // far from the system clock: counting at it would fail the cases
	m := NewMemory(0)
	runWindowCases(t, harness{store: atStore{Memory: m, now: c.now}, now: c.now, wait: c.advance})

	rate := limiter.Rate{Period: time.Hour, Limit: 1}
	ctx := context.Background()
	if _, err := m.IncrementBytesAt(ctx, []byte("zero"), 1, rate, time.Time{}); err != nil {
		t.Fatal(err)
	}
	got, err := m.Peek(ctx, "zero", rate)
	if err != nil || got.Remaining != 0 {
		t.Errorf("counted at a zero time, then peeked on the system clock: %+v, %v; want 0 remaining", got, err)
	}
}

// TestMemoryOwnClockIgnoresCallersTime: a store on its own clock (NewMemoryAt, a replay of
// an old log) counts on it whatever time its caller passes.
func TestMemoryOwnClockIgnoresCallersTime(t *testing.T) {
	c := newFakeClock()
	m := NewMemoryAt(0, c.now)
	rate := limiter.Rate{Period: time.Minute, Limit: 2}
	ctx := context.Background()
	elsewhere := c.now().Add(-24 * time.Hour)
	for i, want := range []int64{1, 0} {
		got, err := m.IncrementBytesAt(ctx, []byte("k"), 1, rate, elsewhere.Add(time.Duration(i)*time.Hour))
		if err != nil || got.Remaining != want {
			t.Fatalf("hit %d: %+v, %v; want %d remaining (one window of the store's clock)", i+1, got, err, want)
		}
	}
	if got, _ := m.PeekBytesAt(ctx, []byte("k"), rate, elsewhere); got.Remaining != 0 {
		t.Errorf("peek at another time: %+v, want the store clock's window (0 remaining)", got)
	}
}
