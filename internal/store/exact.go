package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	limiterredis "github.com/ulule/limiter/v3/drivers/store/redis"
	"go.uber.org/zap"
)

// Exact is ulule/limiter's stock Redis store: exact fixed-window counting
// (the window starts at a key's first hit and lasts one period), one Redis
// round trip per call. Keys are prefix + ":" + key.
//
// It starts without Redis and fails open like the batched store: until
// Redis answers (its Lua scripts loaded), and whenever a call fails, calls
// return an error at once or within the caller's deadline, which the
// decider counts as a store error and lets the request through. The first
// attempt to reach Redis is made at start (bounded by startTimeout); the
// next ones at most every exactRetry, from a request, so there is no
// background goroutine. One log line marks each change between reachable
// and unreachable, naming refused credentials as such.
type Exact struct {
	client redis.UniversalClient
	prefix string
	log    *zap.Logger

	inner   atomic.Pointer[limiter.Store] // nil until the scripts are loaded
	healthy atomic.Bool
	loading sync.Mutex // one load attempt at a time
	nextTry atomic.Int64
}

// Exact-mode retry pacing.
const (
	exactStartTimeout = time.Second
	exactRetry        = time.Second
)

// errNotReady is returned while the exact store has not reached Redis yet.
var errNotReady = errors.New("store: Redis not reachable yet (exact mode): request passed uncounted")

// NewExact returns the exact store on client. It tries to reach Redis now
// (for at most a second) but never fails for want of it: see Exact. log may
// be nil. An empty prefix means DefaultKeyPrefix.
func NewExact(client redis.UniversalClient, prefix string, log *zap.Logger) (*Exact, error) {
	if client == nil {
		return nil, errors.New("store: NewExact needs a Redis client, got nil")
	}
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	if log == nil {
		log = zap.NewNop()
	}
	e := &Exact{client: client, prefix: prefix, log: log}
	e.healthy.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), exactStartTimeout)
	defer cancel()
	_, _ = e.ready(ctx) // a failure is logged (once) by setHealth
	return e, nil
}

// Healthy reports whether the last call to Redis succeeded.
func (e *Exact) Healthy() bool { return e.healthy.Load() }

// ready returns the inner store, loading it if due.
func (e *Exact) ready(ctx context.Context) (limiter.Store, error) {
	if st := e.inner.Load(); st != nil {
		return *st, nil
	}
	if time.Now().UnixNano() < e.nextTry.Load() || !e.loading.TryLock() {
		return nil, errNotReady
	}
	defer e.loading.Unlock()
	if st := e.inner.Load(); st != nil {
		return *st, nil
	}
	e.nextTry.Store(time.Now().Add(exactRetry).UnixNano())
	// ulule's constructor loads its scripts without a deadline: bound it.
	type result struct {
		st  limiter.Store
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := limiterredis.NewStoreWithOptions(e.client, limiter.StoreOptions{Prefix: e.prefix})
		done <- result{st, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			e.setHealth(r.err)
			return nil, fmt.Errorf("store: preparing the exact Redis store: %w", describeRedisErr(r.err))
		}
		e.inner.Store(&r.st)
		e.setHealth(nil)
		return r.st, nil
	case <-ctx.Done():
		err := fmt.Errorf("store: preparing the exact Redis store: %w", ctx.Err())
		e.setHealth(err)
		return nil, err
	}
}

func (e *Exact) setHealth(err error) {
	if err != nil {
		if e.healthy.CompareAndSwap(true, false) {
			e.log.Warn("redis unreachable (exact mode): requests pass uncounted until it returns (retried every second)",
				zap.Error(describeRedisErr(err)))
		}
		return
	}
	if e.healthy.CompareAndSwap(false, true) {
		e.log.Info("redis reachable again (exact mode): counting resumed")
	}
}

// do runs f on the inner store, recording Redis's health.
func (e *Exact) do(ctx context.Context, f func(limiter.Store) (limiter.Context, error)) (limiter.Context, error) {
	st, err := e.ready(ctx)
	if err != nil {
		return limiter.Context{}, err
	}
	c, err := f(st)
	if err != nil && !errors.Is(ctx.Err(), context.Canceled) { // a client that left says nothing of Redis
		e.setHealth(err)
		return c, describeRedisErr(err)
	}
	if err == nil {
		e.setHealth(nil)
	}
	return c, err
}

// Increment counts count hits for key in Redis.
func (e *Exact) Increment(ctx context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	key = compactKey(key)
	return e.do(ctx, func(st limiter.Store) (limiter.Context, error) { return st.Increment(ctx, key, count, rate) })
}

// Get counts one hit for key.
func (e *Exact) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	key = compactKey(key)
	return e.do(ctx, func(st limiter.Store) (limiter.Context, error) { return st.Get(ctx, key, rate) })
}

// Peek returns the state of key without counting.
func (e *Exact) Peek(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	key = compactKey(key)
	return e.do(ctx, func(st limiter.Store) (limiter.Context, error) { return st.Peek(ctx, key, rate) })
}

// Reset forgets key.
func (e *Exact) Reset(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	key = compactKey(key)
	return e.do(ctx, func(st limiter.Store) (limiter.Context, error) { return st.Reset(ctx, key, rate) })
}

var _ limiter.Store = (*Exact)(nil)

// describeRedisErr names the errors a tech can fix, so that a log line
// says what is wrong rather than how it failed: refused credentials first.
func describeRedisErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, sign := range []string{"WRONGPASS", "NOAUTH", "invalid password", "invalid username-password"} {
		if strings.Contains(msg, sign) {
			return fmt.Errorf("Redis refused floodgate's credentials: check the user:password of the store URL (%w)", err)
		}
	}
	return err
}
