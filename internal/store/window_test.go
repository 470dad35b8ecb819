package store

import (
	"testing"
	"time"

	"github.com/ulule/limiter/v3"
)

// TestContextFor checks the sliding-window arithmetic directly. now is
// given as the time into an epoch-aligned one-minute window.
func TestContextFor(t *testing.T) {
	base := time.Unix(1_800_000_000-1_800_000_000%60, 0)
	for _, tc := range []struct {
		name          string
		into          time.Duration
		limit         int64
		cur, prev     int64
		wantReached   bool
		wantRemaining int64
		wantReset     time.Duration // from the window start, before rounding up
	}{
		{"empty", 0, 10, 0, 0, false, 10, time.Minute},
		{"only current", 20 * time.Second, 10, 4, 0, false, 6, time.Minute},
		{"previous fully weighted at window start", 0, 10, 0, 10, false, 0, time.Minute},
		{"previous weighted 3/4", 15 * time.Second, 10, 2, 10, false, 1, time.Minute},
		{"previous floor rounds down", 15 * time.Second, 10, 3, 10, false, 0, time.Minute},
		{"over, retry later in this window", 15 * time.Second, 10, 4, 10, true, 0, 24*time.Second + 1},
		{"over on current alone, retry next window", 30 * time.Second, 10, 20, 0, true, 0, time.Minute + 30*time.Second + 1},
		{"exactly at limit in current, previous tips it", 30 * time.Second, 10, 10, 2, true, 0, time.Minute + 1},
		{"limit zero", 0, 0, 1, 0, true, 0, 2 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rate := limiter.Rate{Period: time.Minute, Limit: tc.limit}
			now := base.Add(tc.into)
			got := contextFor(now, rate, tc.cur, tc.prev)
			want := limiter.Context{Limit: tc.limit, Remaining: tc.wantRemaining, Reached: tc.wantReached,
				Reset: ceilUnix(base.Add(tc.wantReset).UnixNano())}
			if got != want {
				t.Fatalf("contextFor = %+v, want %+v", got, want)
			}
		})
	}
}

func TestCeilUnix(t *testing.T) {
	for _, tc := range []struct{ ns, want int64 }{
		{0, 0}, {1, 1}, {int64(time.Second), 1}, {int64(time.Second) + 1, 2},
	} {
		if got := ceilUnix(tc.ns); got != tc.want {
			t.Fatalf("ceilUnix(%d) = %d, want %d", tc.ns, got, tc.want)
		}
	}
}
