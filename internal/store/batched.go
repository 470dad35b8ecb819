package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	"go.uber.org/zap"
)

// Defaults of Options.
const (
	// DefaultSyncInterval is the default Options.SyncInterval.
	DefaultSyncInterval = 100 * time.Millisecond
	// DefaultSyncTimeout is the default Options.Timeout.
	DefaultSyncTimeout = 250 * time.Millisecond
	// DefaultKeyPrefix is the default Options.KeyPrefix and the prefix
	// NewExact uses when given "".
	DefaultKeyPrefix = "floodgate"
	// maxBackoff caps the wait between sync attempts while Redis is down.
	maxBackoff = 5 * time.Second
)

// Options configure a Batched store. The zero value is usable: WithDefaults
// fills every unset field.
type Options struct {
	// SyncInterval is how often local counts are pushed to Redis and the
	// global totals read back. Shorter means a smaller overshoot (see
	// Batched) and more Redis commands. Default 100ms.
	SyncInterval time.Duration
	// Timeout bounds one sync (all its pipelined batches). A sync that
	// fails or takes longer marks Redis down; requests never wait on it.
	// Default 250ms.
	Timeout time.Duration
	// KeyPrefix starts every Redis key the store writes, so several
	// floodgate deployments can share one Redis. It must not contain '{' or
	// '}' (the store adds its own hash tag). All proxies sharing budgets
	// must use the same prefix. Default "floodgate".
	KeyPrefix string
	// MaxKeys bounds the number of counters kept locally; the least
	// recently used go first. Default 1,000,000. A counter costs about 220
	// bytes with a 32-byte key, at most about 350 with the longest
	// (MaxKeyLen) key: 1,000,000 live keys measured 207 MB of RSS.
	MaxKeys int
	// Peers is the number of proxies sharing the Redis, which sizes each
	// one's share of a key's remaining allowance. 0 (default): discovered
	// through Redis (each proxy announces itself every 2 s). Set it only
	// to pin the count; a value below the real count lets the fleet
	// overshoot by up to that factor near a limit.
	Peers int
}

// WithDefaults returns o with every unset (zero or negative) field set to
// its default.
func (o Options) WithDefaults() Options {
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultSyncTimeout
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	return o
}

// Validate reports options that cannot work. Zero values are fine (they
// mean "default").
func (o Options) Validate() error {
	var errs []error
	if o.SyncInterval < 0 {
		errs = append(errs, fmt.Errorf("sync interval must be positive, got %v", o.SyncInterval))
	}
	if o.SyncInterval > 0 && o.SyncInterval < time.Millisecond {
		errs = append(errs, fmt.Errorf("sync interval must be at least 1ms, got %v", o.SyncInterval))
	}
	if o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("sync timeout must be positive, got %v", o.Timeout))
	}
	if strings.ContainsAny(o.KeyPrefix, "{}") {
		errs = append(errs, fmt.Errorf("key prefix must not contain '{' or '}', got %q", o.KeyPrefix))
	}
	if o.MaxKeys < 0 {
		errs = append(errs, fmt.Errorf("max keys must be zero (default) or more, got %d", o.MaxKeys))
	}
	if o.Peers < 0 {
		errs = append(errs, fmt.Errorf("peers must be zero (discover) or more, got %d", o.Peers))
	}
	return errors.Join(errs...)
}

// Batched counts locally and shares its counts through Redis in batches,
// and shares out exactly what is left of a budget when a key nears it.
//
// # Counting: local while far from the limit, through Redis near it
//
// Each key's window counts are the global totals read back from Redis at
// the last exchange (G) plus this process's hits that Redis has not
// acknowledged yet (U, "unsynced"). A proxy may hold at most an allowance
//
//	a = floor(free / (20 × N)) + 1   (0 when free is 0)
//
// of unsynced hits for a key, where free = limit − G (sliding count of the
// known totals) and N is the number of proxies sharing the Redis (each
// proxy announces itself every 2 s; see peers). While U stays within a, a
// request is decided locally and never touches Redis. A request that would
// take U past a goes to Redis synchronously (the "direct path"): one Lua
// call adds the key's unsynced hits (this one included) and returns the
// global totals, and the decision is made on them. Only one direct call per
// key is in flight; other requests for that key wait for its answer, then
// decide again. A key found over its limit is answered from a cached
// verdict until its retry time, without Redis.
//
// Overshoot bound. Every proxy's unseen hits for a key are at most its
// allowance, so the fleet admits at most about
//
//	limit + limit/20 + N = limit × 1.05 + N
//
// per window, whatever the request rate: a faster attacker only makes the
// key reach the direct path sooner. (The old bound of a purely batched
// store, limit + 2 × SyncInterval × r × (N−1), grew with the rate r.)
//
// Redis commands. Keys far from their limit are not synced at all: a key
// is queued for the background sync (every SyncInterval) only once its
// unsynced hits reach half its allowance, or when it is over its limit (so
// the others learn it), or while Redis is down (to resync afterwards). A
// client address seen once, against a budget of 300/min, costs Redis
// nothing; its hit is counted locally and forgotten with the window. The
// price is that a key's small local counts are not seen by the other
// proxies — which the allowance already accounts for.
//
// Redis down or slow: a direct call waits at most Timeout, and the first
// failure marks Redis down; from then on every request is decided locally
// (each proxy enforces the limits on its own traffic only, so a fleet of N
// admits up to N × limit), syncs back off exponentially (up to 5s), one
// log line marks each change between healthy and down, Healthy reports the
// state, and counts made meanwhile are pushed when Redis answers again. If
// Redis lost its data (restart without persistence), every proxy restores
// at least its own pushed counts for the live windows. A sync that times
// out after Redis applied it is pushed again: the error is an overcount,
// never an undercount. No request waits on Redis for longer than Timeout.
//
// Windows are aligned to the unix epoch, so proxies need synchronised
// clocks (NTP). Redis keys are
// "<prefix>:{<bucket>}:<key>:<period ms>:<window number>", where the
// bucket (one of 16, from a hash of the key) is a Redis Cluster hash tag:
// one Lua call only touches keys of one slot. Keys longer than MaxKeyLen
// are shortened to a prefix and a hash (see compactKey).
type Batched struct {
	client redis.UniversalClient
	opts   Options
	log    *zap.Logger
	now    func() time.Time

	tab *table[bEntry]
	// dirty[i] lists the entries of shard i waiting to be synced; guarded
	// by that shard's lock.
	dirty [][]dirtyRef

	healthy atomic.Bool
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	syncMu  sync.Mutex // serialises syncs (loop, Close) and Reset's deletes
	next    int        // shard the next sync starts from (round robin)
	batch   int        // window counters per push, adapted (see syncOnce)

	// id names this process in the peers set; peers is the number of
	// proxies sharing the Redis, last read (at least 1).
	id    string
	peers atomic.Int64
}

// bEntry is the local state of one key. It is kept small (80 bytes; 112
// with its table node) because a proxy tracks a million of them: counts
// are int32 (saturating), the previous window's number is idx-1, and the
// key lives in the table node only.
type bEntry struct {
	// direct is closed when the direct call in flight for this key ends;
	// nil when none is.
	direct  chan struct{}
	period  time.Duration
	limit   int64
	blocked int64 // unix ns until which the key is known to be over its limit
	idx     int64 // window number of cur; prev is idx-1
	cur     slot
	prev    slot
	// curRead and prevRead: the window's global total must be (re)read at
	// the next sync.
	curRead, prevRead bool
	queued            bool // in its shard's dirty list
	gone              bool // dropped from the table; pending syncs are discarded
}

// slot is one window of a key as this process knows it.
type slot struct {
	global   int32 // total read back from Redis (includes our acknowledged hits)
	inflight int32 // our hits sent in a running sync or direct call
	pending  int32 // our hits not sent yet
	// mine is our hits Redis acknowledged for this window. A push asks
	// Redis to hold at least mine + its delta (restoring a lost key), never
	// more: another push of ours may be in flight at the same time.
	mine int32
}

func (s *slot) total() int64 { return int64(s.global) + int64(s.inflight) + int64(s.pending) }

// add32 returns a+d, saturated to the int32 range (a window count of two
// billion hits is over every limit anyway).
func add32(a int32, d int64) int32 {
	return int32(min(max(int64(a)+d, math.MinInt32), math.MaxInt32))
}

// unsynced counts this process's hits of the key that Redis has not
// acknowledged: the others cannot see them.
func (e *bEntry) unsynced() int64 {
	return int64(e.cur.inflight) + int64(e.cur.pending) + int64(e.prev.inflight) + int64(e.prev.pending)
}

// shareDivisor sets the overshoot: all proxies' unsynced hits together are
// at most free/shareDivisor (+1 each), i.e. 5% of the limit.
const shareDivisor = 20

// allowance is the number of unsynced hits this process may hold for e at
// now: its share of what the known global totals leave of the limit.
func (e *bEntry) allowance(now time.Time, peers int64) int64 {
	free := e.limit - slidingCount(now, e.period, int64(e.cur.global), int64(e.prev.global))
	if free <= 0 {
		return 0
	}
	return free/(shareDivisor*max(peers, 1)) + 1
}

// roll moves e forward to window idx; a new previous window is marked for
// one more read so late pushes of other proxies are seen.
func (e *bEntry) roll(idx int64) {
	switch d := idx - e.idx; {
	case d <= 0:
		return
	case d == 1:
		e.prev = e.cur
	default:
		e.prev = slot{}
	}
	e.cur = slot{}
	e.idx = idx
	e.curRead, e.prevRead = true, true
	e.blocked = 0
}

// NewBatched returns a Batched store on client and starts its sync loop;
// call Close to flush and stop it. opts are completed with WithDefaults; a
// KeyPrefix with braces has them replaced by '_' (Validate reports it). log
// may be nil.
func NewBatched(client redis.UniversalClient, opts Options, log *zap.Logger) *Batched {
	opts = opts.WithDefaults()
	opts.KeyPrefix = strings.NewReplacer("{", "_", "}", "_").Replace(opts.KeyPrefix)
	if log == nil {
		log = zap.NewNop()
	}
	b := &Batched{
		client: client,
		opts:   opts,
		log:    log,
		now:    time.Now,
		tab:    newTable[bEntry](opts.MaxKeys),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		id:     newProxyID(),
	}
	b.peers.Store(assumedPeers)
	if opts.Peers > 0 {
		b.peers.Store(int64(opts.Peers))
	}
	b.dirty = make([][]dirtyRef, len(b.tab.shards))
	b.tab.dead = func(e *bEntry) bool {
		return !e.queued && windowIndex(b.now(), e.period) >= e.idx+2
	}
	b.tab.removed = func(e *bEntry) { e.gone = true }
	b.healthy.Store(true)
	go b.loop()
	return b
}

// Options returns the options in effect (defaults filled in).
func (b *Batched) Options() Options { return b.opts }

// Healthy reports whether the last sync with Redis succeeded.
func (b *Batched) Healthy() bool { return b.healthy.Load() }

// Len returns the number of keys held locally.
func (b *Batched) Len() int { return b.tab.len() }

// Increment counts count hits for key and returns the resulting state.
// Far from the limit it answers from local state; near it, it asks Redis
// (see Batched), waiting at most Timeout in all.
func (b *Batched) Increment(ctx context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	if err := checkRate(count, rate); err != nil {
		return limiter.Context{}, err
	}
	key = compactKey(key)
	deadline := time.Now().Add(b.opts.Timeout)
	for {
		now := b.now()
		i, s := b.tab.shard(key)
		s.mu.Lock()
		e := b.entry(s, key, now, rate)
		if n := now.UnixNano(); n < e.blocked {
			// Cached verdict: still over the limit. The hit counts, and
			// is pushed so the other proxies see the key is spent.
			e.cur.pending = add32(e.cur.pending, count)
			b.queue(i, key, e)
			until := e.blocked
			s.mu.Unlock()
			return limiter.Context{Limit: rate.Limit, Reached: true, Reset: ceilUnix(until)}, nil
		}
		u, a := e.unsynced()+count, e.allowance(now, b.peers.Load())
		if u <= a || !b.healthy.Load() || !time.Now().Before(deadline) {
			// Within this proxy's share (or Redis is away): decide locally.
			e.cur.pending = add32(e.cur.pending, count)
			// Past half its share a key is pushed in the background, so
			// that a busy key rarely needs the direct path, and a key with
			// a share of one (a tiny limit: a challenge answer's single
			// use) reaches the other proxies within a sync interval.
			if 2*u > a || !b.healthy.Load() {
				b.queue(i, key, e)
			}
			c := b.decide(e, now, rate)
			s.mu.Unlock()
			return c, nil
		}
		if cur, prev := e.cur.total()+count, e.prev.total(); slidingCount(now, rate.Period, cur, prev) > rate.Limit {
			// Over the limit even on what is known locally: no need to ask.
			e.cur.pending = add32(e.cur.pending, count)
			b.queue(i, key, e)
			c := b.decide(e, now, rate)
			s.mu.Unlock()
			return c, nil
		}
		if wait := e.direct; wait != nil {
			// Another request is asking Redis about this key: wait for
			// its answer, then decide again on the fresh totals.
			s.mu.Unlock()
			t := time.NewTimer(time.Until(deadline))
			select {
			case <-wait:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		e.cur.pending = add32(e.cur.pending, count)
		c, ok := b.directCall(ctx, i, key, s, e, deadline) // unlocks s
		if ok {
			return c, nil
		}
		// Redis failed: the hit is counted locally; decide on that.
		s.mu.Lock()
		c = b.decide(e, b.now(), rate)
		s.mu.Unlock()
		return c, nil
	}
}

// entry returns key's entry in shard s (locked), created or brought up to
// date with now and rate.
func (b *Batched) entry(s *shard[bEntry], key string, now time.Time, rate limiter.Rate) *bEntry {
	idx := windowIndex(now, rate.Period)
	e := s.get(key)
	if e == nil {
		e = b.tab.insert(s, key)
	}
	if e.period != rate.Period { // a new entry (period 0), or the key's period changed
		if e.queued || e.direct != nil {
			// The old entry is still referenced by a sync; start afresh.
			e.gone = true
			s.delete(key)
			e = b.tab.insert(s, key)
		}
		*e = bEntry{period: rate.Period, idx: idx, curRead: true, prevRead: true}
	}
	e.roll(idx)
	if e.limit != rate.Limit { // the budget changed (config reload): verdict stale
		e.limit, e.blocked = rate.Limit, 0
	}
	return e
}

// queue puts e in shard i's dirty list (shard locked).
func (b *Batched) queue(i int, key string, e *bEntry) {
	if !e.queued && !e.gone {
		e.queued = true
		b.dirty[i] = append(b.dirty[i], dirtyRef{e: e, key: key})
	}
}

// dirtyRef is an entry waiting to be synced, with its key.
type dirtyRef struct {
	e   *bEntry
	key string
}

// decide returns e's state at now (shard locked), caching a Reached
// verdict until its retry time.
func (b *Batched) decide(e *bEntry, now time.Time, rate limiter.Rate) limiter.Context {
	cur, prev := e.cur.total(), e.prev.total()
	c := contextFor(now, rate, cur, prev)
	if c.Reached {
		e.blocked = retryAt(now, rate, cur, prev)
	}
	return c
}

// directCall pushes e's unsynced hits to Redis and decides on the totals it
// returns. It is called with shard s locked and returns with it unlocked;
// ok is false when Redis did not answer by deadline (the hits are then
// back in pending and Redis is marked down).
func (b *Batched) directCall(ctx context.Context, i int, key string, s *shard[bEntry], e *bEntry, deadline time.Time) (limiter.Context, bool) {
	done := make(chan struct{})
	e.direct = done
	ops := b.takeOps(i, key, e, nil)
	rate := limiter.Rate{Period: e.period, Limit: e.limit}
	s.mu.Unlock()

	cctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	err := b.push(cctx, ops)
	cancel()
	if err != nil {
		b.setHealth(err, 0)
	}
	s.mu.Lock()
	close(done)
	e.direct = nil
	if err != nil {
		s.mu.Unlock()
		return limiter.Context{}, false
	}
	c := b.decide(e, b.now(), rate)
	s.mu.Unlock()
	return c, true
}

// Get counts one hit for key, like Increment(ctx, key, 1, rate).
func (b *Batched) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return b.Increment(ctx, key, 1, rate)
}

// Peek returns the local view of key without counting a hit. It does not
// ask Redis: a key this process has not seen reads as unused.
func (b *Batched) Peek(_ context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	if err := checkRate(0, rate); err != nil {
		return limiter.Context{}, err
	}
	key = compactKey(key)
	now := b.now()
	var cur, prev int64
	_, s := b.tab.shard(key)
	s.mu.Lock()
	if e := s.peek(key); e != nil && e.period == rate.Period {
		c := *e
		c.roll(windowIndex(now, rate.Period))
		cur, prev = c.cur.total(), c.prev.total()
	}
	s.mu.Unlock()
	return contextFor(now, rate, cur, prev), nil
}

// Reset forgets key locally and deletes its current and previous window in
// Redis (bounded by Timeout). Other proxies keep their last read of the
// key until its windows end. The local reset happens even when Redis fails;
// the error says so.
func (b *Batched) Reset(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	if err := checkRate(0, rate); err != nil {
		return limiter.Context{}, err
	}
	key = compactKey(key)
	now := b.now()
	_, s := b.tab.shard(key)
	s.mu.Lock()
	if e := s.delete(key); e != nil {
		e.gone = true
	}
	s.mu.Unlock()
	idx := windowIndex(now, rate.Period)
	// Not during a sync: a push in flight could recreate the keys.
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
	defer cancel()
	err := b.client.Del(ctx, b.redisKey(key, rate.Period, idx), b.redisKey(key, rate.Period, idx-1)).Err()
	res := contextFor(now, rate, 0, 0)
	if err != nil {
		return res, fmt.Errorf("store: key reset locally, but deleting it in Redis failed: %w", err)
	}
	return res, nil
}

// Close pushes the counts not yet synced (bounded by Timeout), stops the
// sync loop and returns the flush error, if any. It does not close the
// Redis client. Calls after the first return nil.
func (b *Batched) Close() error {
	err := errClosed
	b.once.Do(func() {
		close(b.stop)
		<-b.done
		err = b.syncOnce()
		if err == nil {
			b.leave()
		}
	})
	if err == errClosed {
		return nil
	}
	return err
}

var errClosed = errors.New("closed")

// redisKey names the Redis counter of key's window idx.
func (b *Batched) redisKey(key string, period time.Duration, idx int64) string {
	var sb strings.Builder
	sb.Grow(len(b.opts.KeyPrefix) + len(key) + 40)
	sb.WriteString(b.opts.KeyPrefix)
	sb.WriteString(":{")
	bkt := bucket(key)
	sb.WriteByte(hexDigit(bkt))
	sb.WriteString("}:")
	sb.WriteString(key)
	sb.WriteByte(':')
	sb.WriteString(strconv.FormatInt(period.Milliseconds(), 10))
	sb.WriteByte(':')
	sb.WriteString(strconv.FormatInt(idx, 10))
	return sb.String()
}

// numBuckets is the number of hash-tag buckets; part of the key naming, so
// it must be the same on every proxy.
const numBuckets = 16

// bucket hashes key (FNV-1a, stable across processes) to a bucket.
func bucket(key string) int {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % numBuckets)
}

func hexDigit(n int) byte { return "0123456789abcdef"[n] }

var _ limiter.Store = (*Batched)(nil)
