package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// syncScript adds our deltas to the window counters of one hash-tag bucket
// and returns their totals. ARGV holds, per key, delta, mine (our hits
// Redis acknowledged for that window, plus this delta) and the TTL in ms. A
// counter below mine lost its data (Redis restarted): it is raised to mine.
const syncScript = `
local out = {}
for i = 1, #KEYS do
  local d = tonumber(ARGV[3*i-2])
  local mine = tonumber(ARGV[3*i-1])
  local ttl = ARGV[3*i]
  local v
  if d > 0 then
    v = redis.call('INCRBY', KEYS[i], d)
  else
    v = tonumber(redis.call('GET', KEYS[i]) or '0')
  end
  if v < mine then
    redis.call('SET', KEYS[i], mine, 'PX', ttl)
    v = mine
  elseif d > 0 and v == d then
    redis.call('PEXPIRE', KEYS[i], ttl)
  end
  out[i] = v
end
return out
`

var script = redis.NewScript(syncScript)

const (
	// maxSyncKeys and minSyncKeys bound the window counters sent in one
	// push. The size in between adapts (see syncOnce) so that a push takes
	// about a quarter of the Timeout on the Redis at hand: a resync after
	// an outage, or a flood of keys, is spread over several pushes instead
	// of timing out.
	maxSyncKeys   = 10_000
	minSyncKeys   = 100
	startSyncKeys = 1_000
	// maxPushesPerSync bounds the pushes one sync makes back to back while
	// keys are waiting (the rest waits for the next interval).
	maxPushesPerSync = 16
	// maxScriptKeys bounds the keys of one Lua call, so Redis is never
	// blocked long by one script.
	maxScriptKeys = 500
	// ttlSlack is added to the 2 periods a window counter must live, to
	// allow for clock differences between proxies.
	ttlSlack = 10 * time.Second
)

// syncOp is one window counter of one key in a sync.
type syncOp struct {
	shard  int
	bucket int
	e      *bEntry
	idx    int64
	delta  int64
	mine   int64
	read   bool   // the slot's read flag before the sync took it
	key    string // the store's key (to queue it again on failure)
	rkey   string // the Redis key of the window counter
}

// loop runs syncs every SyncInterval, backing off while Redis fails.
func (b *Batched) loop() {
	defer close(b.done)
	wait := b.opts.SyncInterval
	timer := time.NewTimer(0) // the first round announces this proxy at once
	defer timer.Stop()
	var lastBeat time.Time
	for {
		select {
		case <-b.stop:
			return
		case <-timer.C:
		}
		err := b.syncOnce()
		if err == nil && b.opts.Peers == 0 && time.Since(lastBeat) >= heartbeatEvery {
			ctx, cancel := context.WithTimeout(context.Background(), b.opts.Timeout)
			if err = b.heartbeat(ctx); err == nil {
				lastBeat = time.Now()
			} else {
				b.setHealth(err, 0)
			}
			cancel()
		}
		if err != nil {
			wait = min(max(wait*2, b.opts.SyncInterval), maxBackoff)
		} else {
			wait = b.opts.SyncInterval
		}
		timer.Reset(wait)
	}
}

// syncOnce pushes pending deltas, reads back totals and updates the health
// state (logging each change once). Without anything to send while Redis is
// down, it only PINGs to notice the recovery.
//
// It sends the waiting keys in pushes of b.batch window counters, each
// bounded by Timeout, back to back until none is left, SyncInterval has
// passed or maxPushesPerSync were made. After each push the size is
// adapted to aim at Timeout/4: doubled when a push took less than half
// that, scaled down when it took longer. A push that times out with more
// than minSyncKeys counters is taken as too big, not as Redis down: the
// size is cut by four and the counters go back in the queue (if Redis had
// applied them, they are counted twice: an overcount, never an
// undercount). Only a failure at the smallest size, in a sync where no push
// got through, marks Redis down.
func (b *Batched) syncOnce() error {
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	if b.batch == 0 {
		b.batch = startSyncKeys
	}
	start := time.Now()
	pushed := 0
	for round := 0; round < maxPushesPerSync; round++ {
		ops := b.collect(b.batch)
		if len(ops) == 0 {
			if round == 0 && !b.healthy.Load() {
				ctx, cancel := context.WithTimeout(context.Background(), b.opts.Timeout)
				err := b.client.Ping(ctx).Err()
				cancel()
				b.setHealth(err, 0)
				return err
			}
			break
		}
		ctx, cancel := context.WithTimeout(context.Background(), b.opts.Timeout)
		t0 := time.Now()
		err := b.push(ctx, ops)
		took := time.Since(t0)
		cancel()
		if err != nil {
			if isDeadline(err) && b.healthy.Load() {
				if len(ops) > minSyncKeys {
					b.batch = max(minSyncKeys, len(ops)/4)
					continue
				}
				if pushed > 0 {
					// Redis answered earlier pushes of this sync: it is
					// busy, not gone. The rest waits for the next sync.
					break
				}
			}
			b.setHealth(err, pushed)
			return err
		}
		pushed += len(ops)
		target := b.opts.Timeout / 4
		switch {
		case took < target/2:
			b.batch = min(maxSyncKeys, b.batch*2)
		case took > target:
			b.batch = max(minSyncKeys, int(float64(len(ops))*float64(target)/float64(took)))
		}
		if time.Since(start) > b.opts.SyncInterval {
			break
		}
	}
	b.setHealth(nil, pushed)
	return nil
}

// isDeadline reports a push that ran out of time (as opposed to refused).
func isDeadline(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

func (b *Batched) setHealth(err error, n int) {
	if err != nil {
		if b.healthy.CompareAndSwap(true, false) {
			b.log.Warn("redis unreachable: counting locally, each proxy enforces limits on its own traffic until it returns",
				zap.Error(describeRedisErr(err)), zap.Duration("retry_max_backoff", maxBackoff))
		}
		return
	}
	if b.healthy.CompareAndSwap(false, true) {
		b.log.Info("redis reachable again: counters resynced", zap.Int("window_counters_pushed", n))
	}
}

// collect takes the dirty entries (at most limit window counters, give or
// take one entry's two) and moves their pending hits in flight.
func (b *Batched) collect(limit int) []syncOp {
	var ops []syncOp
	n := len(b.tab.shards)
	start := b.next
	b.next = (b.next + 1) % n
	for k := 0; k < n && len(ops) < limit; k++ {
		i := (start + k) % n
		s := &b.tab.shards[i]
		s.mu.Lock()
		list := b.dirty[i]
		taken := 0
		for _, d := range list {
			if len(ops) >= limit {
				break
			}
			taken++
			d.e.queued = false
			if d.e.gone {
				continue
			}
			ops = b.takeOps(i, d.key, d.e, ops)
		}
		rest := list[taken:]
		if len(rest) == 0 {
			b.dirty[i] = list[:0]
		} else {
			b.dirty[i] = append(list[:0], rest...)
		}
		s.mu.Unlock()
	}
	return ops
}

// takeOps appends the sync operations of e (shard i, locked) to ops and
// moves its pending hits in flight. The current window is always read
// back (the key is in use); the previous one only while it has hits to
// push or a read due.
func (b *Batched) takeOps(i int, key string, e *bEntry, ops []syncOp) []syncOp {
	bk := bucket(key)
	for w := 0; w < 2; w++ {
		sl, rd, idx := &e.cur, &e.curRead, e.idx
		if w == 1 {
			sl, rd, idx = &e.prev, &e.prevRead, e.idx-1
			if sl.pending == 0 && !*rd {
				continue
			}
		}
		op := syncOp{shard: i, bucket: bk, e: e, idx: idx, delta: int64(sl.pending),
			mine: int64(sl.mine) + int64(sl.pending), read: *rd,
			key: key, rkey: b.redisKey(key, e.period, idx)}
		sl.inflight = add32(sl.inflight, int64(sl.pending))
		sl.pending = 0
		*rd = false
		ops = append(ops, op)
	}
	return ops
}

// push sends ops, one Lua call per bucket and chunk, in one pipeline, then
// applies the totals or puts failed deltas back.
func (b *Batched) push(ctx context.Context, ops []syncOp) error {
	var groups [numBuckets][]int
	for j := range ops {
		groups[ops[j].bucket] = append(groups[ops[j].bucket], j)
	}
	type call struct {
		ops  []int
		keys []string
		args []any
		cmd  *redis.Cmd
	}
	var calls []*call
	for _, g := range groups {
		for len(g) > 0 {
			n := min(len(g), maxScriptKeys)
			c := &call{ops: g[:n]}
			for _, j := range c.ops {
				op := &ops[j]
				ttl := (2*op.e.period + ttlSlack).Milliseconds()
				c.keys = append(c.keys, op.rkey)
				c.args = append(c.args, op.delta, op.mine, ttl)
			}
			calls = append(calls, c)
			g = g[n:]
		}
	}
	run := func(cs []*call, eval bool) {
		pipe := b.client.Pipeline()
		for _, c := range cs {
			if eval {
				c.cmd = script.Eval(ctx, pipe, c.keys, c.args...)
			} else {
				c.cmd = script.EvalSha(ctx, pipe, c.keys, c.args...)
			}
		}
		// Per-command errors are read below. A pipeline that failed as a
		// whole (refused credentials, say) may leave its commands without
		// an error of their own: give them the pipeline's.
		if _, err := pipe.Exec(ctx); err != nil {
			for _, c := range cs {
				if c.cmd.Err() == nil && c.cmd.Val() == nil {
					c.cmd.SetErr(err)
				}
			}
		}
	}
	run(calls, false)
	var again []*call
	for _, c := range calls {
		if err := c.cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			again = append(again, c)
		}
	}
	if len(again) > 0 {
		run(again, true)
	}
	var firstErr error
	failed := 0
	for _, c := range calls {
		totals, err := parseTotals(c.cmd, len(c.ops))
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			failed += len(c.ops)
		}
		b.apply(ops, c.ops, totals)
	}
	if firstErr != nil {
		return fmt.Errorf("store: syncing %d of %d counters with Redis failed: %w", failed, len(ops), firstErr)
	}
	return nil
}

func parseTotals(cmd *redis.Cmd, n int) ([]int64, error) {
	if cmd == nil {
		return nil, errors.New("command not sent")
	}
	res, err := cmd.Result()
	if err != nil {
		return nil, err
	}
	arr, ok := res.([]any)
	if !ok || len(arr) != n {
		return nil, fmt.Errorf("sync script returned %T of length %d, want %d integers", res, len(arr), n)
	}
	out := make([]int64, n)
	for i, v := range arr {
		switch x := v.(type) {
		case int64:
			out[i] = x
		case string:
			if out[i], err = strconv.ParseInt(x, 10, 64); err != nil {
				return nil, fmt.Errorf("sync script returned %q, want an integer", x)
			}
		default:
			return nil, fmt.Errorf("sync script returned %T, want an integer", v)
		}
	}
	return out, nil
}

// apply lands the result of one Lua call: totals on success, or the
// deltas back into pending (and the entries back in the queue) when totals
// is nil.
func (b *Batched) apply(ops []syncOp, idxs []int, totals []int64) {
	for k, j := range idxs {
		op := &ops[j]
		s := &b.tab.shards[op.shard]
		s.mu.Lock()
		e := op.e
		var sl *slot
		var rd *bool
		switch {
		case e.gone:
		case e.idx == op.idx:
			sl, rd = &e.cur, &e.curRead
		case e.idx-1 == op.idx:
			sl, rd = &e.prev, &e.prevRead
		}
		if sl != nil {
			sl.inflight = add32(sl.inflight, -op.delta)
			if totals != nil {
				// Within a window counts only grow: never go below what
				// we already knew (Redis may have lost data; the script
				// restores at least our own hits). Not global+delta: a
				// direct call and a background sync may push the same
				// slot at once, and each total already holds both deltas.
				sl.global = max(sl.global, add32(0, totals[k]))
				sl.mine = add32(sl.mine, op.delta)
			} else {
				sl.pending = add32(sl.pending, op.delta)
				*rd = *rd || op.read
				b.queue(op.shard, op.key, e)
			}
		}
		s.mu.Unlock()
	}
}
