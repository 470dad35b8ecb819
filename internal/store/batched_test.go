package store

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/redistest"
	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// manual is a SyncInterval long enough that only the test syncs.
const manual = time.Hour

// newTestBatched returns a Batched store on client whose windows follow
// clock (a fresh fake clock when nil), closed at the end of the test.
func newTestBatched(t testing.TB, client redis.UniversalClient, opts Options, clock *fakeClock, log *zap.Logger) *Batched {
	t.Helper()
	b := NewBatched(client, opts, log)
	if clock == nil {
		clock = newFakeClock()
	}
	b.now = clock.now
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func newClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestBatchedWindowSemantics(t *testing.T) {
	s := redistest.Start(t)
	clock := newFakeClock()
	b := newTestBatched(t, newClient(t, s.Addr), Options{SyncInterval: 5 * time.Millisecond}, clock, nil)
	runWindowCases(t, harness{store: b, now: clock.now, wait: func(d time.Duration) {
		clock.advance(d)
		// A sync across the window change, besides the background ones every 5 ms.
		if err := b.syncOnce(); err != nil {
			t.Fatalf("sync after the clock moved %v: %v", d, err)
		}
	}})
}

func TestBatchedOptions(t *testing.T) {
	got := Options{}.WithDefaults()
	want := Options{SyncInterval: 100 * time.Millisecond, Timeout: 250 * time.Millisecond, KeyPrefix: "floodgate", MaxKeys: 1_000_000}
	if got != want {
		t.Fatalf("defaults = %+v, want %+v", got, want)
	}
	for _, tc := range []struct {
		name string
		o    Options
		ok   bool
	}{
		{"zero is fine", Options{}, true},
		{"explicit values", Options{SyncInterval: time.Second, Timeout: time.Second, KeyPrefix: "fg:prod", MaxKeys: 10}, true},
		{"negative interval", Options{SyncInterval: -1}, false},
		{"sub-millisecond interval", Options{SyncInterval: time.Microsecond}, false},
		{"negative timeout", Options{Timeout: -time.Second}, false},
		{"braces in prefix", Options{KeyPrefix: "fg{x}"}, false},
		{"negative max keys", Options{MaxKeys: -5}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	b := NewBatched(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), Options{KeyPrefix: "a{b}"}, nil)
	defer b.Close()
	if p := b.Options().KeyPrefix; p != "a_b_" {
		t.Fatalf("KeyPrefix with braces became %q, want a_b_", p)
	}
}

// TestBatchedFarFromLimitStaysLocal: a key far from its limit costs Redis
// nothing until its unsynced hits reach half this proxy's share; then it
// is pushed by the background sync, where the documented key lives.
func TestBatchedFarFromLimitStaysLocal(t *testing.T) {
	s := redistest.Start(t)
	c := newClient(t, s.Addr)
	clock := newFakeClock()
	a := newTestBatched(t, c, Options{SyncInterval: manual, Peers: 2}, clock, nil)
	ctx := context.Background()
	rate := perMinute(1000) // share: 1000/(20×2) + 1 = 26 unsynced hits
	for i := 0; i < 13; i++ {
		if got, err := a.Increment(ctx, "k", 1, rate); err != nil || got.Remaining != int64(999-i) {
			t.Fatalf("hit %d: %+v, %v", i, got, err)
		}
	}
	if err := a.syncOnce(); err != nil {
		t.Fatal(err)
	}
	if n := c.DBSize(ctx).Val(); n != 0 {
		t.Fatalf("13 hits on a 1000/min key put %d keys in Redis, want none (13 is within half the share of 26)", n)
	}
	a.Increment(ctx, "k", 1, rate) // 14 > 26/2: queued for the next sync
	if err := a.syncOnce(); err != nil {
		t.Fatal(err)
	}
	key := a.redisKey("k", time.Minute, windowIndex(clock.now(), time.Minute))
	if v, err := c.Get(ctx, key).Int64(); err != nil || v != 14 {
		t.Fatalf("Redis %s = %d, %v; want 14", key, v, err)
	}
	if ttl := c.PTTL(ctx, key).Val(); ttl <= time.Minute || ttl > 2*time.Minute+ttlSlack {
		t.Fatalf("TTL of %s = %v, want within (1m, 2m10s]", key, ttl)
	}
}

// TestBatchedNearLimitAsksRedis: near its limit a key is decided on
// Redis's totals, so two proxies admit the limit plus at most one hit each,
// and the previous window read back from Redis still weighs.
func TestBatchedNearLimitAsksRedis(t *testing.T) {
	s := redistest.Start(t)
	c := newClient(t, s.Addr)
	clock := newFakeClock()
	opts := Options{SyncInterval: manual, Peers: 2}
	a := newTestBatched(t, c, opts, clock, nil)
	b := newTestBatched(t, newClient(t, s.Addr), opts, clock, nil)
	ctx := context.Background()
	rate := perMinute(10) // share: 10/(20×2) + 1 = 1 unsynced hit
	for i := 0; i < 10; i++ {
		if got, _ := a.Increment(ctx, "k", 1, rate); got.Reached {
			t.Fatalf("a's hit %d of 10 refused", i+1)
		}
	}
	key := a.redisKey("k", time.Minute, windowIndex(clock.now(), time.Minute))
	if v, _ := c.Get(ctx, key).Int64(); v != 10 {
		t.Fatalf("after a's 10 hits Redis holds %d, want 10 (every hit past the share of 1 asks Redis)", v)
	}
	if got, _ := b.Increment(ctx, "k", 1, rate); got.Reached {
		t.Fatal("b's first hit, within its share of one unsynced hit, was refused")
	}
	if got, _ := b.Increment(ctx, "k", 1, rate); !got.Reached {
		t.Fatalf("b's second hit was admitted (remaining %d): Redis holds 11 of 10", got.Remaining)
	}
	if v, _ := c.Get(ctx, key).Int64(); v != 12 {
		t.Fatalf("after b's 2 hits Redis holds %d, want 12", v)
	}
	// Half way through the next window a new proxy reads the previous
	// window (12) when its second hit asks Redis: 2 + floor(12 × 0.5) = 8.
	clock.advance(time.Minute + 30*time.Second - time.Millisecond)
	n := newTestBatched(t, c, opts, clock, nil)
	n.Increment(ctx, "k", 1, rate)
	if got, _ := n.Increment(ctx, "k", 1, rate); got.Reached || got.Remaining != 2 {
		t.Fatalf("new proxy half a window later: reached=%v remaining %d, want 2 left (previous window of 12 read from Redis)", got.Reached, got.Remaining)
	}
}

// admitRun sends perTick requests for key to each store, then syncs each,
// for ticks rounds, and returns how many were admitted in total.
func admitRun(t *testing.T, stores []*Batched, key string, rate limiter.Rate, ticks, perTick int) int {
	t.Helper()
	ctx := context.Background()
	admitted := 0
	for tick := 0; tick < ticks; tick++ {
		for i := 0; i < perTick; i++ {
			for _, s := range stores { // interleaved, as under a load balancer
				got, err := s.Increment(ctx, key, 1, rate)
				if err != nil {
					t.Fatal(err)
				}
				if !got.Reached {
					admitted++
				}
			}
		}
		for _, s := range stores {
			if err := s.syncOnce(); err != nil {
				t.Fatalf("sync: %v", err)
			}
		}
	}
	return admitted
}

// TestBatchedOvershootBound is issue 3's scenario with syncs driven by the
// test: two proxies, a 600/min budget, 1,000 requests to each spread over
// 10s (100 req/s each), one sync per 100ms. The documented bound is
// limit × 1.05 + N = 632.
func TestBatchedOvershootBound(t *testing.T) {
	s := redistest.Start(t)
	clock := newFakeClock()
	var stores []*Batched
	for i := 0; i < 2; i++ {
		stores = append(stores, newTestBatched(t, newClient(t, s.Addr), Options{SyncInterval: manual, Peers: 2}, clock, nil))
	}
	admitted := admitRun(t, stores, "bot:gptbot", perMinute(600), 100, 10)
	if admitted < 600 || admitted > 632 {
		t.Fatalf("admitted %d of 2000, want between 600 and 632", admitted)
	}
	t.Logf("admitted %d of 2000 (limit 600, bound 632)", admitted)
}

// BenchmarkBatchedOvershootRealTime runs TestBatchedOvershootBound's scenario with the
// background sync loops: two proxies, 1,000 requests each at a paced 500 req/s, default
// 100ms interval. Documented bound: 600 × 1.05 + 2 = 632, whatever the rate (the purely
// batched store's bound grew with it: 700 here; without sharing the two would admit 1,200). How close a run comes depends on the machine keeping pace, so it is a
// benchmark reporting the overshoot (go test -run - -bench OvershootRealTime -benchtime 1x
// ./internal/store/); TestBatchedOvershootBound holds the bound with syncs driven by the test.
func BenchmarkBatchedOvershootRealTime(b *testing.B) {
	for range b.N {
		total := overshootRealTime(b)
		b.ReportMetric(float64(total-600), "overshoot")
		b.ReportMetric(float64(total), "admitted")
	}
}

func overshootRealTime(tb testing.TB) int {
	s := redistest.Start(tb)
	clock := newFakeClock() // frozen: no window boundary during the run
	rate := perMinute(600)
	var admitted [2]int
	var wg sync.WaitGroup
	for i := range admitted {
		b := newTestBatched(tb, newClient(tb, s.Addr), Options{}, clock, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(2 * time.Millisecond) // drops ticks: never faster than 500/s
			defer tick.Stop()
			for n := 0; n < 1000; n++ {
				<-tick.C
				got, err := b.Increment(context.Background(), "bot:gptbot", 1, rate)
				if err == nil && !got.Reached {
					admitted[i]++
				}
			}
		}()
	}
	wg.Wait()
	return admitted[0] + admitted[1]
}

// TestBatchedCluster carries the sharing test on a 3-node Redis Cluster:
// keys of all 16 buckets, so every node and the hash tags are exercised.
func TestBatchedCluster(t *testing.T) {
	addrs := redistest.StartCluster(t, 3)
	url := "redis+cluster://" + addrs[0] + "," + addrs[1] + "," + addrs[2]
	clock := newFakeClock()
	var stores []*Batched
	for i := 0; i < 2; i++ {
		c, err := ParseRedisURL(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		stores = append(stores, newTestBatched(t, c, Options{SyncInterval: manual, Timeout: 2 * time.Second, Peers: 2}, clock, nil))
	}
	ctx := context.Background()
	rate := perMinute(1000) // share 1000/(20×2) + 1 = 26: each count below goes to Redis at once
	const keys = 64
	seen := map[int]bool{}
	for k := 0; k < keys; k++ {
		key := "site:" + strconv.Itoa(k)
		seen[bucket(key)] = true
		for i, s := range stores {
			if _, err := s.Increment(ctx, key, int64(100+k+i), rate); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(seen) != numBuckets {
		t.Fatalf("test keys cover %d buckets, want %d", len(seen), numBuckets)
	}
	for k := 0; k < keys; k++ {
		want := int64(2*k + 201) // (100+k) + (101+k)
		got, _ := stores[1].Peek(ctx, "site:"+strconv.Itoa(k), rate)
		if got.Remaining != rate.Limit-want {
			t.Fatalf("second store, key %d: remaining %d, want %d", k, got.Remaining, rate.Limit-want)
		}
	}
	admitted := admitRun(t, stores, "bot:gptbot", perMinute(600), 100, 10)
	if admitted < 600 || admitted > 632 {
		t.Fatalf("cluster: admitted %d of 2000, want between 600 and 632", admitted)
	}
}

// TestBatchedRedisDown stops Redis mid-run: counting goes on locally, the
// health flips once each way with one log line each, and after Redis comes
// back empty the counters are restored and shared again.
func TestBatchedRedisDown(t *testing.T) {
	s := redistest.Start(t)
	core, logs := observer.New(zapcore.InfoLevel)
	clock := newFakeClock()
	c := newClient(t, s.Addr)
	a := newTestBatched(t, c, Options{SyncInterval: manual, Timeout: 200 * time.Millisecond}, clock, zap.New(core))
	ctx := context.Background()
	rate := perMinute(100)
	inc := func(n int) limiter.Context {
		t.Helper()
		var got limiter.Context
		for i := 0; i < n; i++ {
			var err error
			if got, err = a.Increment(ctx, "k", 1, rate); err != nil {
				t.Fatalf("Increment while Redis is %v: %v", a.Healthy(), err)
			}
		}
		return got
	}
	inc(30)
	if err := a.syncOnce(); err != nil || !a.Healthy() {
		t.Fatalf("first sync: %v, healthy=%v", err, a.Healthy())
	}

	s.Stop()
	for round := 0; round < 3; round++ {
		inc(20)
		if err := a.syncOnce(); err == nil {
			t.Fatalf("sync %d with Redis stopped succeeded", round)
		}
		if a.Healthy() {
			t.Fatalf("Healthy() = true with Redis stopped")
		}
	}
	// Local enforcement while down: 90 counted, 10 more admitted, then refused.
	if got := inc(10); got.Reached || got.Remaining != 0 {
		t.Fatalf("100th hit while down: reached=%v remaining=%d, want admitted with 0 left", got.Reached, got.Remaining)
	}
	if got := inc(1); !got.Reached {
		t.Fatalf("101st hit while down was admitted; local counting lost hits")
	}

	s.Restart() // empty: no persistence
	if err := a.syncOnce(); err != nil || !a.Healthy() {
		t.Fatalf("sync after restart: %v, healthy=%v", err, a.Healthy())
	}
	key := a.redisKey("k", time.Minute, windowIndex(clock.now(), time.Minute))
	if v, err := c.Get(ctx, key).Int64(); err != nil || v != 101 {
		t.Fatalf("after resync Redis holds %d (%v), want all 101 hits (30 before, 71 during the outage)", v, err)
	}
	// A proxy that never saw the key admits at most its share (100/(20×2)
	// + 1 = 3) before Redis tells it the budget is spent.
	other := newTestBatched(t, newClient(t, s.Addr), Options{SyncInterval: manual, Peers: 2}, clock, nil)
	admitted := 0
	for i := 0; i < 10; i++ {
		if got, _ := other.Increment(ctx, "k", 1, rate); !got.Reached {
			admitted++
		}
	}
	if admitted > 3 {
		t.Fatalf("another proxy admitted %d of 10 hits on the resynced, spent key; want at most its share of 3", admitted)
	}

	checkOneLinePerChange(t, logs)
}

// TestBatchedHungRedis points a store at a server that accepts connections
// and never answers: a sync gives up with a timeout, and Increments made
// while it hangs all complete (they never wait on Redis).
func TestBatchedHungRedis(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // hold, never answer
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	c := newClient(t, l.Addr().String())
	b := newTestBatched(t, c, Options{SyncInterval: manual, Timeout: 100 * time.Millisecond}, nil, nil)
	ctx := context.Background()
	rate := perMinute(50)
	b.Increment(ctx, "k", 1, rate)
	syncErr := make(chan error, 1)
	go func() { syncErr <- b.syncOnce() }()
	admitted := 0
	for i := 0; i < 99; i++ {
		got, err := b.Increment(ctx, "k", 1, rate)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Reached {
			admitted++
		}
	}
	if admitted != 49 {
		t.Fatalf("admitted %d while the sync hangs, want 49 (limit 50, one hit before)", admitted)
	}
	err = <-syncErr
	if err == nil || !(errors.Is(err, context.DeadlineExceeded) || isTimeout(err)) {
		t.Fatalf("sync against a hung Redis returned %v, want a timeout", err)
	}
	if b.Healthy() {
		t.Fatal("Healthy() = true after a timed-out sync")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestBatchedEvictionBound(t *testing.T) {
	b := NewBatched(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), Options{SyncInterval: manual, MaxKeys: 640}, nil)
	defer b.Close()
	ctx := context.Background()
	for i := 0; i < 10_000; i++ {
		if _, err := b.Increment(ctx, "k"+strconv.Itoa(i), 1, perMinute(5)); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.Len(); n > 640 {
		t.Fatalf("Len() = %d, want at most 640", n)
	}
	ops := b.collect(maxSyncKeys)
	if len(ops) > 2*640 {
		t.Fatalf("sync would send %d counters for at most 640 keys: evicted keys are still queued", len(ops))
	}
}

// TestBatchedSentinel reaches the master through a real Sentinel, by URL.
func TestBatchedSentinel(t *testing.T) {
	m := redistest.Start(t)
	sen := redistest.StartSentinel(t, "mymaster", m.Addr)
	c, err := ParseRedisURL("redis+sentinel://" + sen.Addr + "/mymaster/0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	clock := newFakeClock()
	b := newTestBatched(t, c, Options{SyncInterval: manual, Timeout: 2 * time.Second}, clock, nil)
	ctx := context.Background()
	if _, err := b.Increment(ctx, "k", 7, perMinute(10)); err != nil {
		t.Fatal(err)
	}
	if err := b.syncOnce(); err != nil {
		t.Fatalf("sync through sentinel: %v", err)
	}
	key := b.redisKey("k", time.Minute, windowIndex(clock.now(), time.Minute))
	if v, err := newClient(t, m.Addr).Get(ctx, key).Int64(); err != nil || v != 7 {
		t.Fatalf("master holds %s = %d (%v), want 7", key, v, err)
	}
}

// TestBatchedLimitChangeDropsVerdict: a cached "over the limit" verdict does
// not outlive a raised limit (a config reload).
func TestBatchedLimitChangeDropsVerdict(t *testing.T) {
	b := newTestBatched(t, redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), Options{SyncInterval: manual}, nil, nil)
	ctx := context.Background()
	b.Increment(ctx, "k", 3, perMinute(2))
	if got, _ := b.Increment(ctx, "k", 1, perMinute(2)); !got.Reached {
		t.Fatal("4 hits on 2/min were admitted")
	}
	if got, _ := b.Increment(ctx, "k", 1, perMinute(10)); got.Reached || got.Remaining != 5 {
		t.Fatalf("after raising the limit to 10: reached=%v remaining=%d, want admitted with 5 left", got.Reached, got.Remaining)
	}
}

// TestBatchedManyKeysNeverTimeOut is issue 10's row: a flood of distinct
// keys (30,000 waiting for one sync) on a healthy Redis. With a Timeout
// tight enough that one push of them all would not make it (60ms), the
// pushes are sized to fit: Redis never counts as down, nothing is logged,
// and every key reaches Redis.
func TestBatchedManyKeysNeverTimeOut(t *testing.T) {
	s := redistest.Start(t)
	c := newClient(t, s.Addr)
	core, logs := observer.New(zapcore.InfoLevel)
	clock := newFakeClock()
	b := newTestBatched(t, c, Options{SyncInterval: manual, Timeout: 60 * time.Millisecond, Peers: 2}, clock, zap.New(core))
	ctx := context.Background()
	rate := perMinute(1000) // share 26: 14 hits are queued, and decided locally
	const keys = 30_000
	for i := 0; i < keys; i++ {
		if got, err := b.Increment(ctx, "flood:"+strconv.Itoa(i), 14, rate); err != nil || got.Reached {
			t.Fatalf("key %d: %+v %v", i, got, err)
		}
	}
	syncs := 0
	for ; syncs < 200 && c.DBSize(ctx).Val() < keys; syncs++ {
		if err := b.syncOnce(); err != nil {
			t.Fatalf("sync %d on a healthy Redis: %v (batch size %d)", syncs, err, b.batch)
		}
		if !b.Healthy() {
			t.Fatalf("Redis marked down after sync %d", syncs)
		}
	}
	if n := c.DBSize(ctx).Val(); n != keys {
		t.Fatalf("after %d syncs Redis holds %d keys, want %d", syncs, n, keys)
	}
	if v, _ := c.Get(ctx, b.redisKey("flood:12345", time.Minute, windowIndex(clock.now(), time.Minute))).Int64(); v != 14 {
		t.Fatalf("flood:12345 = %d in Redis, want 14", v)
	}
	if n := logs.Len(); n != 0 {
		t.Fatalf("%d log lines on a healthy Redis, want none: %v", n, logs.All())
	}
	t.Logf("30,000 keys pushed in %d syncs; push size settled at %d counters", syncs, b.batch)
}
