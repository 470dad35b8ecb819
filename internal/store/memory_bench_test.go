package store

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"
)

// BenchmarkMemory measures the memory store alone (no Redis), single-threaded, on the two
// kinds of traffic a proxy sees:
//
//   - hot: one of 1,024 keys counted again and again (a crawler's or a site's budget);
//   - held: one of 100,000 keys held, counted again in an order that leaves the caches cold
//     (returning clients over many sites);
//   - fresh: a never-seen key every time (one fresh client address per request, as in the
//     overhead benchmark), in a table that stays full: each new key makes room by
//     dropping an expired or the least recently used counter;
//   - gc: one forced garbage collection with 500,000 counters held, i.e. the marking work
//     the store adds to every collection of the process (reported as ns/op).
func BenchmarkMemory(b *testing.B) {
	ctx := context.Background()
	rate := limiter.Rate{Period: time.Minute, Limit: 1 << 40}
	b.Run("hot", func(b *testing.B) {
		m := NewMemory(0)
		keys := make([][]byte, 1024)
		for i := range keys {
			keys[i] = []byte("fg:browsers#0:10.1." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256))
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := m.IncrementBytes(ctx, keys[i&1023], 1, rate); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("held", func(b *testing.B) { // counted again, but out of cache: 100,000 keys
		const keys = 100_000
		m := NewMemory(0)
		ks := make([][]byte, keys)
		for i := range ks {
			ks[i] = []byte(realisticKey(i))
			if _, err := m.IncrementBytes(ctx, ks[i], 1, rate); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i = (i + 7919) % keys // a stride that visits every key, far apart
			if _, err := m.IncrementBytes(ctx, ks[i], 1, rate); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fresh", func(b *testing.B) {
		const maxKeys = 200_000
		m := NewMemory(maxKeys)
		var buf []byte
		key := func(i int) []byte {
			buf = append(buf[:0], "fg:browsers#0:"...)
			buf = strconv.AppendInt(buf, int64(10+i>>24&127), 10)
			buf = append(buf, '.')
			buf = strconv.AppendInt(buf, int64(i>>16&255), 10)
			buf = append(buf, '.')
			buf = strconv.AppendInt(buf, int64(i>>8&255), 10)
			buf = append(buf, '.')
			buf = strconv.AppendInt(buf, int64(i&255), 10)
			return buf
		}
		n := 0
		for ; n < 2*maxKeys; n++ { // full, and past the first evictions
			if _, err := m.IncrementBytes(ctx, key(n), 1, rate); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.IncrementBytes(ctx, key(n), 1, rate); err != nil {
				b.Fatal(err)
			}
			n++
		}
	})
	b.Run("gc", func(b *testing.B) {
		const keys = 500_000
		m := NewMemory(2 * keys)
		for i := 0; i < keys; i++ {
			if _, err := m.Increment(ctx, realisticKey(i), 1, rate); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		for b.Loop() {
			runtime.GC()
		}
		b.ReportMetric(float64(ms.HeapAlloc)/keys, "heapB/key")
		runtime.KeepAlive(m)
	})
}
