package store

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// fakeClock is a settable clock for the stores' now field.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// newFakeClock starts 1ms into an hour, so windows of up to an hour start
// with the test.
func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Unix(1_800_000_000-1_800_000_000%3600, int64(time.Millisecond))}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness is a store under test plus its notion of time.
type harness struct {
	store limiter.Store
	now   func() time.Time
	wait  func(time.Duration) // lets time pass (fake or real)
}

// step is one call in a window-semantics case.
type step struct {
	op            string // "inc", "get", "peek", "reset", "wait"
	key           string // "" means "a"
	n             int64  // count for inc
	d             time.Duration
	wantReached   bool
	wantRemaining int64 // checked unless op is "wait"
}

// windowCase is a sequence of calls against one fresh set of keys.
type windowCase struct {
	name  string
	rate  limiter.Rate
	steps []step
}

var perMinute = func(n int64) limiter.Rate { return limiter.Rate{Period: time.Minute, Limit: n} }

// windowCases hold for every store: the sliding window of Memory and
// Batched and the fixed window of Exact agree on them.
var windowCases = []windowCase{
	{name: "counts down to the limit then refuses", rate: perMinute(3), steps: []step{
		{op: "inc", n: 1, wantRemaining: 2},
		{op: "inc", n: 1, wantRemaining: 1},
		{op: "inc", n: 1, wantRemaining: 0},
		{op: "inc", n: 1, wantReached: true},
		{op: "inc", n: 1, wantReached: true},
	}},
	{name: "counts larger than one", rate: perMinute(5), steps: []step{
		{op: "inc", n: 3, wantRemaining: 2},
		{op: "inc", n: 3, wantReached: true},
	}},
	{name: "zero count changes nothing", rate: perMinute(5), steps: []step{
		{op: "inc", n: 2, wantRemaining: 3},
		{op: "inc", n: 0, wantRemaining: 3},
	}},
	{name: "peek does not count", rate: perMinute(2), steps: []step{
		{op: "peek", wantRemaining: 2},
		{op: "inc", n: 1, wantRemaining: 1},
		{op: "peek", wantRemaining: 1},
		{op: "peek", wantRemaining: 1},
		{op: "inc", n: 1, wantRemaining: 0},
		{op: "inc", n: 1, wantReached: true},
		{op: "peek", wantReached: true},
	}},
	{name: "get counts one hit", rate: perMinute(2), steps: []step{
		{op: "get", wantRemaining: 1},
		{op: "get", wantRemaining: 0},
		{op: "get", wantReached: true},
	}},
	{name: "reset forgets the hits", rate: perMinute(1), steps: []step{
		{op: "inc", n: 1, wantRemaining: 0},
		{op: "inc", n: 1, wantReached: true},
		{op: "reset", wantRemaining: 1},
		{op: "inc", n: 1, wantRemaining: 0},
	}},
	{name: "keys are independent", rate: perMinute(1), steps: []step{
		{op: "inc", key: "a", n: 1, wantRemaining: 0},
		{op: "inc", key: "b", n: 1, wantRemaining: 0},
		{op: "inc", key: "a", n: 1, wantReached: true},
		{op: "peek", key: "b", wantRemaining: 0},
		{op: "peek", key: "c", wantRemaining: 1},
	}},
	{name: "limit zero refuses the first hit", rate: perMinute(0), steps: []step{
		{op: "inc", n: 1, wantReached: true},
	}},
	{name: "hits are forgotten two periods later", rate: limiter.Rate{Period: time.Second, Limit: 2}, steps: []step{
		{op: "inc", n: 1, wantRemaining: 1},
		{op: "inc", n: 1, wantRemaining: 0},
		{op: "inc", n: 1, wantReached: true},
		{op: "wait", d: 2100 * time.Millisecond},
		{op: "inc", n: 1, wantRemaining: 1},
	}},
}

// runWindowCases runs windowCases against the store h. Keys are unique per
// case and per run, so one store (and one Redis) serves all cases.
func runWindowCases(t *testing.T, h harness) {
	t.Helper()
	ctx := context.Background()
	for ci, tc := range windowCases {
		t.Run(tc.name, func(t *testing.T) {
			for si, st := range tc.steps {
				key := st.key
				if key == "" {
					key = "a"
				}
				key = t.Name() + ":" + strconv.Itoa(ci) + ":" + key
				var (
					got limiter.Context
					err error
				)
				switch st.op {
				case "inc":
					got, err = h.store.Increment(ctx, key, st.n, tc.rate)
				case "get":
					got, err = h.store.Get(ctx, key, tc.rate)
				case "peek":
					got, err = h.store.Peek(ctx, key, tc.rate)
				case "reset":
					got, err = h.store.Reset(ctx, key, tc.rate)
				case "wait":
					h.wait(st.d)
					continue
				default:
					t.Fatalf("step %d: unknown op %q", si, st.op)
				}
				if err != nil {
					t.Fatalf("step %d %s: %v", si, st.op, err)
				}
				if got.Reached != st.wantReached || got.Remaining != st.wantRemaining || got.Limit != tc.rate.Limit {
					t.Fatalf("step %d %s %s: got reached=%v remaining=%d limit=%d, want reached=%v remaining=%d limit=%d",
						si, st.op, key, got.Reached, got.Remaining, got.Limit, st.wantReached, st.wantRemaining, tc.rate.Limit)
				}
				checkReset(t, si, got, h.now(), tc.rate)
			}
		})
	}
}

// checkReset holds Reset to its contract: in the future (rounded to whole
// seconds) and at most two periods away when reached, one otherwise.
func checkReset(t *testing.T, si int, got limiter.Context, now time.Time, rate limiter.Rate) {
	t.Helper()
	period := int64(rate.Period / time.Second)
	lo, hi := now.Unix(), now.Unix()+period+1
	if got.Reached {
		lo, hi = now.Unix()+1, now.Unix()+2*period+1
	}
	if got.Reset < lo || got.Reset > hi {
		t.Fatalf("step %d: Reset = %d (now %d), want within [%d, %d]", si, got.Reset, now.Unix(), lo, hi)
	}
}

// checkOneLinePerChange holds a store to one log line per change of Redis's
// health: exactly one warning (it went away) and one info (it came back).
func checkOneLinePerChange(t *testing.T, logs *observer.ObservedLogs) {
	t.Helper()
	var warns, infos int
	for _, e := range logs.All() {
		switch e.Level {
		case zapcore.WarnLevel:
			warns++
		case zapcore.InfoLevel:
			infos++
		}
	}
	if warns != 1 || infos != 1 {
		t.Fatalf("log lines: %d warnings, %d infos, want exactly one of each (one per state change): %v", warns, infos, logs.All())
	}
}
