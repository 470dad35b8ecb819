package store

import (
	"fmt"
	"math"
	"time"

	"github.com/ulule/limiter/v3"
)

// checkRate reports a rate or count the stores cannot work with.
func checkRate(count int64, rate limiter.Rate) error {
	if rate.Period <= 0 {
		return fmt.Errorf("store: rate period must be positive, got %v", rate.Period)
	}
	if rate.Limit < 0 {
		return fmt.Errorf("store: rate limit must be zero or more, got %d", rate.Limit)
	}
	if count < 0 {
		return fmt.Errorf("store: increment count must be zero or more, got %d", count)
	}
	return nil
}

// windowIndex returns the number of the epoch-aligned window holding t.
func windowIndex(t time.Time, period time.Duration) int64 {
	return t.UnixNano() / int64(period)
}

// slidingCount is the approximate number of hits in the period ending at
// now: cur plus prev weighted by the share of the previous window that is
// still inside the period.
func slidingCount(now time.Time, period time.Duration, cur, prev int64) int64 {
	if prev <= 0 {
		return cur
	}
	elapsed := now.UnixNano() % int64(period)
	weight := float64(int64(period)-elapsed) / float64(period)
	return cur + int64(float64(prev)*weight)
}

// contextFor turns window counts into the limiter.Context returned to
// callers (see the package doc for the meaning of Reset).
func contextFor(now time.Time, rate limiter.Rate, cur, prev int64) limiter.Context {
	count := slidingCount(now, rate.Period, cur, prev)
	if count <= rate.Limit {
		end := (windowIndex(now, rate.Period) + 1) * int64(rate.Period)
		return limiter.Context{
			Limit:     rate.Limit,
			Remaining: rate.Limit - count,
			Reset:     ceilUnix(end),
		}
	}
	return limiter.Context{
		Limit:   rate.Limit,
		Reached: true,
		Reset:   ceilUnix(retryAt(now, rate, cur, prev)),
	}
}

// retryAt returns the earliest time (unix nanoseconds) at which one more hit
// would be admitted, assuming no other hits arrive before then.
func retryAt(now time.Time, rate limiter.Rate, cur, prev int64) int64 {
	p := float64(rate.Period)
	start := windowIndex(now, rate.Period) * int64(rate.Period)
	limit := float64(rate.Limit)
	if rate.Limit <= 0 {
		return start + 2*int64(rate.Period)
	}
	if cur < rate.Limit && prev > 0 {
		// Still in this window once prev*(1-f) < limit-cur.
		f := 1 - (limit-float64(cur))/float64(prev)
		t := start + int64(math.Ceil(f*p)) + 1
		if n := now.UnixNano(); t < n {
			t = n
		}
		return t
	}
	// In the next window, where cur becomes prev and nothing is counted yet:
	// admitted once cur*(1-f) < limit.
	f := 1 - limit/float64(cur)
	return start + int64(rate.Period) + int64(math.Ceil(f*p)) + 1
}

// ceilUnix converts unix nanoseconds to unix seconds, rounding up so that a
// Retry-After computed from it is never too short.
func ceilUnix(ns int64) int64 {
	s := ns / int64(time.Second)
	if ns%int64(time.Second) > 0 {
		s++
	}
	return s
}

// counts are the hits of one key in the current and the previous window.
type counts struct {
	idx  int64 // window number of cur
	cur  int64
	prev int64
}

// roll moves the counts forward to window idx. A clock that went backwards
// leaves them as they are.
func (c *counts) roll(idx int64) {
	switch d := idx - c.idx; {
	case d <= 0:
		return
	case d == 1:
		c.prev, c.cur = c.cur, 0
	default:
		c.prev, c.cur = 0, 0
	}
	c.idx = idx
}
