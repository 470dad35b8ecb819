package store

import (
	"context"
	"hash/maphash"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/ulule/limiter/v3"
)

// keyOf returns the key node n of shard s holds.
func keyOf(s *memShard, n *memNode) string {
	if int(n.klen) <= inlineKey {
		return string(n.key[:n.klen])
	}
	return string(n.key[:]) + string(s.spill.at(n.spill)[:int(n.klen)-inlineKey])
}

// checkMemTable checks that a table's index and LRU lists agree: every node on the LRU list
// is found by its key, in the shard its hash picks, and filed in the index exactly once,
// under its hash's tag, every filed node is on the LRU list, every slot is found from its
// home (no empty slot between), no key is held twice, and the counts match.
func checkMemTable(t testing.TB, tab *memTable) {
	t.Helper()
	for si := range tab.shards {
		s := &tab.shards[si]
		s.mu.Lock()
		onList := map[int32]bool{}
		keys := map[string]bool{}
		var newer int32
		for i := s.head; i != 0; i = s.nodes.at(i).older {
			n := s.nodes.at(i)
			if n.newer != newer {
				t.Fatalf("shard %d: node %d links back to %d, want %d", si, i, n.newer, newer)
			}
			k := keyOf(s, n)
			if keys[k] {
				t.Fatalf("shard %d: key %q held twice", si, k)
			}
			keys[k] = true
			h := maphash.String(tab.seed, k)
			if n.hash != h&tab.mask || &tab.shards[h&uint64(len(tab.shards)-1)] != s {
				t.Fatalf("shard %d: key %q filed under hash %x, want %x in shard %d", si, k, n.hash, h&tab.mask, h&uint64(len(tab.shards)-1))
			}
			if s.find(n.hash, k) != i {
				t.Fatalf("shard %d: key %q is not found at its node %d", si, k, i)
			}
			onList[i] = true
			newer = i
		}
		if newer != s.tail || len(onList) != s.n {
			t.Fatalf("shard %d: LRU list of %d nodes ending at %d; shard says %d nodes, tail %d", si, len(onList), newer, s.n, s.tail)
		}
		filed := map[int32]bool{}
		x := &s.index
		for i, v := range x.slots {
			if v == 0 {
				continue
			}
			node := int32(uint32(v))
			if !onList[node] || tagOf(s.nodes.at(node).hash) != uint32(v>>32) || filed[node] {
				t.Fatalf("shard %d: slot %d files node %d (on the LRU list: %v, hash %x, filed before: %v)", si, i, node, onList[node], s.nodes.at(node).hash, filed[node])
			}
			filed[node] = true
			for j := x.home(uint32(v >> 32)); j != i; j = (j + 1) & x.mask() {
				if x.slots[j] == 0 {
					t.Fatalf("shard %d: slot %d (node %d) not found from its home %d: slot %d is empty", si, i, node, x.home(uint32(v>>32)), j)
				}
			}
		}
		if len(filed) != s.n || x.n != s.n {
			t.Fatalf("shard %d: %d nodes filed (index says %d), %d held", si, len(filed), x.n, s.n)
		}
		s.mu.Unlock()
	}
}

// A node holds no pointer and stays at 120 bytes.
func TestMemNodeSize(t *testing.T) {
	if size := unsafe.Sizeof(memNode{}); size > 120 {
		t.Errorf("memNode is %d bytes, want at most 120", size)
	}
}

// TestMemoryCollidingHashes files keys under few hashes (every key under one hash, then
// under four), so that chains are long: every key still counts on its own counter, through
// counting, peeking, resets and evictions, like a reference model; the table stays
// consistent.
func TestMemoryCollidingHashes(t *testing.T) {
	for _, mask := range []uint64{0, 3} {
		t.Run("mask="+strconv.FormatUint(mask, 10), func(t *testing.T) {
			m, _ := newTestMemory(100_000)
			m.tab.mask = mask
			ctx := context.Background()
			rate := perMinute(1 << 30)
			keys := make([]string, 300)
			for i := range keys {
				keys[i] = "fg:k#0:" + strconv.Itoa(i)
				switch i % 5 {
				case 1: // spilled past the node's bytes
					keys[i] += "|" + strings.Repeat("h", 70)
				case 2: // compacted (longer than MaxKeyLen), differing only at the end
					keys[i] = strings.Repeat("x", 200) + keys[i]
				}
			}
			model := map[string]int64{}
			rnd := rand.New(rand.NewPCG(1, mask))
			for op := range 20_000 {
				k := keys[rnd.IntN(len(keys))]
				var got limiter.Context
				var err error
				switch r := rnd.IntN(10); {
				case r < 7:
					model[k] += int64(r + 1)
					got, err = m.Increment(ctx, k, int64(r+1), rate)
				case r < 9:
					got, err = m.PeekBytes(ctx, []byte(k), rate)
				default:
					delete(model, k)
					got, err = m.Reset(ctx, k, rate)
				}
				if err != nil || got.Remaining != rate.Limit-model[k] {
					t.Fatalf("op %d on %q: remaining %d, err %v; want %d", op, k, got.Remaining, err, rate.Limit-model[k])
				}
				if op%1000 == 0 {
					checkMemTable(t, m.tab)
				}
			}
			if m.Len() != len(model) {
				t.Fatalf("holds %d counters, want %d", m.Len(), len(model))
			}
			checkMemTable(t, m.tab)

			// Evictions unlink nodes from the middle and the ends of chains.
			small, _ := newTestMemory(640) // 64 shards of 10
			small.tab.mask = mask
			for i := range 5000 {
				if _, err := small.Increment(ctx, keys[i%len(keys)]+"/"+strconv.Itoa(i), 1, rate); err != nil {
					t.Fatal(err)
				}
				if _, err := small.Increment(ctx, "hot", 1, rate); err != nil {
					t.Fatal(err)
				}
				if i%500 == 0 {
					checkMemTable(t, small.tab)
				}
			}
			if got, _ := small.Peek(ctx, "hot", rate); got.Remaining != rate.Limit-5000 || small.Len() > 640 {
				t.Fatalf("hot key remaining %d (want %d), %d counters held (want at most 640)", got.Remaining, rate.Limit-5000, small.Len())
			}
			checkMemTable(t, small.tab)
		})
	}
}

// TestMemoryConcurrent counts from several goroutines at once, on shared keys and on keys
// of their own, in a table small enough to evict: every shared key ends with exactly the
// hits counted on it (no lost update, no two keys on one counter), the bound holds, and
// the table is consistent. Meaningful beyond "no panic" also without -race.
func TestMemoryConcurrent(t *testing.T) {
	const workers, rounds, shared = 8, 2000, 16
	m := NewMemory(4096)
	ctx := context.Background()
	rate := perMinute(1 << 30)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				if _, err := m.Increment(ctx, "shared:"+strconv.Itoa(r%shared), 1, rate); err != nil {
					t.Error(err)
					return
				}
				if _, err := m.IncrementBytes(ctx, []byte("own:"+strconv.Itoa(w)+":"+strconv.Itoa(r)), 1, rate); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for k := range shared {
		got, err := m.Peek(ctx, "shared:"+strconv.Itoa(k), rate)
		if want := rate.Limit - workers*rounds/shared; err != nil || got.Remaining != want {
			t.Errorf("shared key %d: remaining %d, err %v; want %d", k, got.Remaining, err, want)
		}
	}
	if n := m.Len(); n > 4096 {
		t.Errorf("holds %d counters, want at most 4096", n)
	}
	checkMemTable(t, m.tab)
}

// A new key whose insert first drops the only other counter on its hash's chain (keys
// forced to collide, one counter a shard) must not link to the dropped node, whose slot the
// new counter reuses: the chain head read by the look-up is stale once a drop ran.
func TestMemoryInsertAfterDroppingChainHead(t *testing.T) {
	ctx := context.Background()
	rate := perMinute(100)
	for _, why := range []string{"full", "ended"} {
		t.Run(why, func(t *testing.T) {
			m, clock := newTestMemory(64) // 64 shards of 1 counter
			if why == "ended" {
				m, clock = newTestMemory(6400) // room: the drop is of an ended window
			}
			m.tab.mask = 0 // every key filed under hash 0: one chain a shard
			// Two keys of one shard.
			shardOf := func(k string) uint64 { return maphash.String(m.tab.seed, k) & uint64(len(m.tab.shards)-1) }
			a, b := "a", ""
			for i := 0; b == ""; i++ {
				if k := "b" + strconv.Itoa(i); shardOf(k) == shardOf(a) {
					b = k
				}
			}
			if _, err := m.Increment(ctx, a, 1, rate); err != nil {
				t.Fatal(err)
			}
			if why == "ended" {
				clock.advance(3 * time.Minute) // a's windows have ended: inserting b drops it
			}
			if _, err := m.Increment(ctx, b, 1, rate); err != nil {
				t.Fatal(err)
			}
			if s := &m.tab.shards[shardOf(a)]; s.index.n != s.n {
				t.Fatalf("index files %d nodes, %d counters held", s.index.n, s.n)
			}
			if got, _ := m.Peek(ctx, b, rate); got.Remaining != 99 {
				t.Errorf("%s: remaining %d, want 99", b, got.Remaining)
			}
			if got, _ := m.Peek(ctx, a, rate); got.Remaining != 100 {
				t.Errorf("%s (dropped): remaining %d, want 100", a, got.Remaining)
			}
			checkMemTable(t, m.tab)
		})
	}
}
