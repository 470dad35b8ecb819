package store

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/redistest"
	"github.com/ulule/limiter/v3"
)

// rssBytes reads this process's resident set size from /proc.
func rssBytes(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// realisticKey is the i-th of a mix of budget keys as the decider builds
// them: browsers per address (IPv4 and IPv6) and per /24, and bots per
// bot+host. 22 to 52 bytes, 37 on average.
func realisticKey(i int) string {
	j := i / 4 // unique per kind
	switch i % 4 {
	case 0:
		return fmt.Sprintf("browser#0:%d.%d.%d.%d", 11+j>>24, j>>16&255, j>>8&255, j&255)
	case 1:
		return fmt.Sprintf("browser#0:2a01:e0a:1f2:%x:%x::%x", j>>16&0xffff, j&0xffff, j%97)
	case 2:
		return fmt.Sprintf("browser#1:%d.%d.%d.0/24", 11+j>>16, j>>8&255, j&255)
	default:
		return fmt.Sprintf("GPTBot#0:GPTBot|www.site-%d.member-host.example", j)
	}
}

// fillRSS counts one hit for n live keys and returns the RSS growth and
// the average key length. The GC runs at its default pace; the RSS is what
// the kernel reports after a forced collection.
func fillRSS(t testing.TB, st limiter.Store, n int) (grew int64, keyLen float64) {
	runtime.GC()
	debug.FreeOSMemory()
	before := rssBytes(t)
	ctx := context.Background()
	rate := limiter.Rate{Period: time.Minute, Limit: 300}
	total := 0
	for i := 0; i < n; i++ {
		k := realisticKey(i)
		total += len(k)
		if _, err := st.Increment(ctx, k, 1, rate); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	return rssBytes(t) - before, float64(total) / float64(n)
}

// sizedStore is a store that reports how many keys it holds.
type sizedStore interface {
	limiter.Store
	Len() int
}

// TestMemoryPerKey measures the RSS of 1,000,000 live keys of realistic
// length in the memory store and in the batched store's local table
// (against a real Redis, which these keys, far from their limits, never
// reach). Target: at most 256 MB for a million keys, i.e. 268 bytes a key.
func TestMemoryPerKey(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("fills a million keys; a measurement (not under -race, which inflates memory)")
	}
	const n = 1_000_000
	const budget = 256 << 20
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) sizedStore
	}{
		{"memory", func(t *testing.T) sizedStore {
			return NewMemory(2 * n) // room to spare: shards fill unevenly
		}},
		{"batched", func(t *testing.T) sizedStore {
			srv := redistest.Start(t)
			st := NewBatched(newClient(t, srv.Addr), Options{MaxKeys: 2 * n}, nil)
			t.Cleanup(func() { _ = st.Close() })
			return st
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.store(t)
			grew, kl := fillRSS(t, st, n)
			t.Logf("%s store: %d keys (%.0f bytes on average): RSS +%d MB, %d bytes/key", tc.name, st.Len(), kl, grew>>20, grew/n)
			if st.Len() != n {
				t.Fatalf("holds %d keys, want %d", st.Len(), n)
			}
			if grew > budget {
				t.Errorf("RSS grew by %d MB for %d keys, want at most 256 MB", grew>>20, n)
			}
			runtime.KeepAlive(st)
		})
	}
}
