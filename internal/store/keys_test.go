package store

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
)

func TestCompactKey(t *testing.T) {
	short := strings.Repeat("a", MaxKeyLen)
	if got := compactKey(short); got != short {
		t.Fatalf("a key of MaxKeyLen bytes was changed to %q", got)
	}
	long := "GPTBot#0:GPTBot|" + strings.Repeat("x", 16<<10)
	got := compactKey(long)
	if len(got) > MaxKeyLen || !strings.HasPrefix(got, long[:keptPrefix]+"#") {
		t.Fatalf("16 KB key became %d bytes %q, want at most %d starting with its first %d bytes", len(got), got, MaxKeyLen, keptPrefix)
	}
	if compactKey(long) != got {
		t.Fatal("compactKey is not stable")
	}
	// Keys that differ only past the kept prefix, even in their last byte,
	// stay apart.
	if compactKey(long+"y") == got || compactKey(long[:len(long)-1]+"y") == got {
		t.Fatal("two long keys differing at the end share a counter")
	}
}

// TestLongKeysCostBoundedMemory is issue 10's attack: 16 KB Host headers
// become part of budget keys. The stores keep a bounded form of each key,
// so 5,000 such keys hold well under the 80 MB their raw bytes would, and
// each still counts on its own.
func TestLongKeysCostBoundedMemory(t *testing.T) {
	rate := limiter.Rate{Period: time.Minute, Limit: 2}
	ctx := context.Background()
	host := strings.Repeat("h", 16<<10)
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) limiter.Store
	}{
		{"memory", func(t *testing.T) limiter.Store { return NewMemory(0) }},
		{"batched", func(t *testing.T) limiter.Store {
			// No Redis: every key is decided locally; only the table is measured.
			return newTestBatched(t, redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), Options{SyncInterval: manual}, nil, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.store(t)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			const n = 5000
			for i := 0; i < n; i++ {
				key := "browser#0:" + strconv.Itoa(i) + "|" + host
				if got, err := st.Increment(ctx, key, 1, rate); err != nil || got.Remaining != 1 {
					t.Fatalf("key %d: %+v %v, want a fresh counter with 1 left", i, got, err)
				}
			}
			// The same long key counts on.
			key := "browser#0:7|" + host
			if got, _ := st.Increment(ctx, key, 1, rate); got.Remaining != 0 {
				t.Fatalf("second hit on a long key: remaining %d, want 0", got.Remaining)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			t.Logf("%s: %d keys of 16 KB: heap +%d KB (%d bytes/key)", tc.name, n, grew>>10, grew/n)
			if grew > n*1024 {
				t.Fatalf("heap grew by %d bytes for %d long keys, want under 1 KB a key", grew, n)
			}
			runtime.KeepAlive(st)
		})
	}
}
