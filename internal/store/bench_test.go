package store

import (
	"bufio"
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/floodgate-proxy/floodgate/internal/redistest"
	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
)

// BenchmarkStore compares the stores on one real redis-server with the same
// key mix: 16 goroutines per CPU, each op one Increment of one of 1,024
// keys (a budget that is never reached, so every op takes the full path).
// Besides ns/op it reports Redis commands per op from INFO commandstats
// (rediscmds/op, commands run inside Lua scripts included; connection setup
// excluded) and Redis calls per op (rediscalls/op: round-trip commands,
// i.e. EVALSHA/EVAL/other top-level commands).
func BenchmarkStore(b *testing.B) {
	srv := redistest.Start(b)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 64})
	defer client.Close()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "bench:" + strconv.Itoa(i)
	}
	rate := limiter.Rate{Period: 60e9, Limit: 1 << 40}

	run := func(b *testing.B, st limiter.Store, flush func() error) {
		ctx := context.Background()
		if err := client.ConfigResetStat(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		var seq atomic.Int64
		b.SetParallelism(16)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(1)) * 97
			for pb.Next() {
				if _, err := st.Increment(ctx, keys[i&1023], 1, rate); err != nil {
					b.Error(err)
					return
				}
				i++
			}
		})
		b.StopTimer()
		if err := flush(); err != nil {
			b.Fatal(err)
		}
		cmds, calls := commandStats(b, client)
		b.ReportMetric(float64(cmds)/float64(b.N), "rediscmds/op")
		b.ReportMetric(float64(calls)/float64(b.N), "rediscalls/op")
	}

	b.Run("memory", func(b *testing.B) {
		run(b, NewMemory(0), func() error { return nil })
	})
	b.Run("exact", func(b *testing.B) {
		st, err := NewExact(client, "benchexact", nil)
		if err != nil {
			b.Fatal(err)
		}
		run(b, st, func() error { return nil })
	})
	b.Run("batched", func(b *testing.B) {
		st := NewBatched(client, Options{KeyPrefix: "benchbatched"}, nil)
		run(b, st, st.Close) // Close flushes: its commands are counted
	})
}

// commandStats sums the calls of INFO commandstats: all commands, and the
// top-level ones (those not run by scripts). Connection setup and
// statistics commands are left out.
func commandStats(b testing.TB, c *redis.Client) (all, topLevel int64) {
	b.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	skip := map[string]bool{"info": true, "config|resetstat": true, "hello": true,
		"client|setinfo": true, "ping": true, "script|load": true}
	inScripts := map[string]bool{"incrby": true, "pexpire": true, "pttl": true, "get": true, "set": true}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		name, rest, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "cmdstat_"), ":calls=")
		if !ok || skip[name] {
			continue
		}
		n, err := strconv.ParseInt(strings.SplitN(rest, ",", 2)[0], 10, 64)
		if err != nil {
			b.Fatalf("commandstats line %q: %v", sc.Text(), err)
		}
		all += n
		if !inScripts[name] {
			topLevel += n
		}
	}
	return all, topLevel
}
