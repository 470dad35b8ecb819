package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/redistest"
	"github.com/ulule/limiter/v3"
)

// freshAddressCommands sends requests of browser traffic from fresh
// addresses (a residential botnet, or simply many visitors) through
// proxies Batched stores on one real redis-server: each request counts
// against the shipped browser budgets, 300/min per address and 1200/min
// per /24, for a random address. It returns the Redis commands executed
// per request (INFO commandstats, commands inside scripts included).
func freshAddressCommands(t testing.TB, proxies, requests int) float64 {
	srv := redistest.Start(t)
	admin := newClient(t, srv.Addr)
	stores := make([]*Batched, proxies)
	for i := range stores {
		stores[i] = NewBatched(newClient(t, srv.Addr), Options{}, nil)
	}
	ctx := context.Background()
	if err := admin.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	perIP := limiter.Rate{Period: time.Minute, Limit: 300}
	perPrefix := limiter.Rate{Period: time.Minute, Limit: 1200}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < requests; i++ {
		a := rng.Uint32()
		ip := fmt.Sprintf("%d.%d.%d.%d", a>>24, a>>16&255, a>>8&255, a&255)
		prefix := fmt.Sprintf("%d.%d.%d.0/24", a>>24, a>>16&255, a>>8&255)
		s := stores[i%proxies]
		for _, k := range []struct {
			key  string
			rate limiter.Rate
		}{{"browser:0:ip:" + ip, perIP}, {"browser:1:prefix:" + prefix, perPrefix}} {
			if got, err := s.Increment(ctx, k.key, 1, k.rate); err != nil || got.Reached {
				t.Fatalf("request %d: %+v, %v", i, got, err)
			}
		}
		if i%1000 == 999 { // a sync of each proxy every 1,000 requests: fresh keys must not be in it
			for _, s := range stores {
				if err := s.syncOnce(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, s := range stores {
		if err := s.Close(); err != nil { // Close flushes: its commands count
			t.Fatal(err)
		}
	}
	all, _ := commandStats(t, admin)
	return float64(all) / float64(requests)
}

// TestFreshAddressesCostRedisNothing: addresses seen once are counted
// locally and never synced, so Redis runs at most 0.01 commands per
// request (only the proxies' heartbeats). Before, every new key was synced:
// about 3 commands per request.
func TestFreshAddressesCostRedisNothing(t *testing.T) {
	per := freshAddressCommands(t, 2, 20_000)
	t.Logf("Redis commands per request, 2 proxies, 20,000 requests from fresh addresses: %.4f", per)
	if per > 0.01 {
		t.Fatalf("%.4f Redis commands per request, want at most 0.01", per)
	}
}

// BenchmarkFreshAddresses reports Redis commands per request for browser
// traffic from fresh addresses (see freshAddressCommands).
func BenchmarkFreshAddresses(b *testing.B) {
	b.ReportMetric(freshAddressCommands(b, 2, max(b.N, 1000)), "rediscmds/req")
}
