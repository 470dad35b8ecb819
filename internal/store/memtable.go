package store

import (
	"hash/maphash"
	"sync"
	"time"
	"unsafe"
)

// memTable is the memory store's bounded, sharded table of counters: table's eviction
// order (counters whose windows have ended first, then the least recently used) built for
// the garbage collector and for never-seen keys. A proxy holds up to a million counters,
// and one fresh client address per request means a new counter per request:
//
//   - No pointers: a counter is a memNode, key and all, in pages of nodes; the LRU list
//     links nodes by index, and the index (memIndex) is a flat array of hash tags and
//     node indexes. The garbage collector marks none of it: a collection costs the
//     same with a million counters as with none.
//   - No allocation for a new key: its bytes are copied into the node (the first
//     inlineKey of them; the rest of a longer key into a spill slot), and the nodes and
//     slots of dropped counters are reused.
//
// The hash is maphash's, seeded per table, so clients cannot aim keys at one run of slots. Two
// keys with the same hash never share a counter: each has its own node and index slot, and
// a lookup compares the full key.
type memTable struct {
	shards []memShard
	seed   maphash.Seed
	// mask is applied to the hash a key is filed under: all ones, except in tests that
	// force keys to collide.
	mask uint64
}

// memShard is one lock's share of a memTable.
type memShard struct {
	mu    sync.Mutex
	index memIndex // hash → node
	nodes slab[memNode]
	spill slab[[spillKey]byte]
	head  int32 // most recently used node (0: none)
	tail  int32 // least recently used node
	n     int   // counters held
	max   int
}

// memNode is one counter: its window counts and its key, with the links of its shard's LRU
// list. Node index 0 is never used, so 0 means "none".
type memNode struct {
	hash uint64
	counts
	period       time.Duration
	newer, older int32 // LRU list: towards the head, towards the tail
	spill        int32 // spill slot with the key's bytes past inlineKey (0: none)
	klen         uint8
	key          [inlineKey]byte
}

// inlineKey is how many bytes of its key a node holds itself: 63 makes a node 120 bytes,
// and holds the usual budget keys (22 to 52 bytes) whole.
const inlineKey = 63

// spillKey is how many bytes of a key a spill slot holds: the rest of the longest key a
// store keeps (compactKey).
const spillKey = MaxKeyLen - inlineKey

// newMemTable returns a table holding at most maxKeys counters (at least 1).
func newMemTable(maxKeys int) *memTable {
	maxKeys = max(maxKeys, 1)
	n := 1
	for n*2 <= maxShards && n*2 <= maxKeys {
		n *= 2
	}
	t := &memTable{shards: make([]memShard, n), seed: maphash.MakeSeed(), mask: ^uint64(0)}
	for i := range t.shards {
		t.shards[i].max = min(maxKeys/n, maxSlab)
	}
	return t
}

// lookup returns key's hash and the shard that owns it.
func (t *memTable) lookup(key string) (uint64, *memShard) {
	h := maphash.String(t.seed, key)
	return h & t.mask, &t.shards[h&uint64(len(t.shards)-1)]
}

// len counts the counters (locking each shard in turn).
func (t *memTable) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += s.n
		s.mu.Unlock()
	}
	return n
}

// find returns the node of key (filed under h), or 0: the index's slots from h's home
// until an empty one, a node checked for each slot of h's tag.
func (s *memShard) find(h uint64, key string) int32 {
	x := &s.index
	if len(x.slots) == 0 {
		return 0
	}
	tag, m := tagOf(h), x.mask()
	for i := x.home(tag); ; i = (i + 1) & m {
		v := x.slots[i]
		if v == 0 {
			return 0
		}
		if uint32(v>>32) != tag {
			continue
		}
		node := int32(uint32(v))
		if n := s.nodes.at(node); n.hash == h && s.holds(n, key) {
			return node
		}
	}
}

// getOrInsert returns the counter of key (filed under h), marking it recently used, or
// inserts a zero one (as insert does): a never-seen key costs one hash (the caller's), the
// look-up that misses and the slot that files it.
func (s *memShard) getOrInsert(h uint64, key string, now int64) *memNode {
	if i := s.find(h, key); i != 0 {
		s.moveFront(i)
		return s.nodes.at(i)
	}
	return s.insert(h, key, now)
}

// holds reports whether n is the counter of key.
func (s *memShard) holds(n *memNode, key string) bool {
	if len(key) != int(n.klen) {
		return false
	}
	if len(key) <= inlineKey {
		return unsafe.String(&n.key[0], len(key)) == key
	}
	return unsafe.String(&n.key[0], inlineKey) == key[:inlineKey] &&
		unsafe.String(&s.spill.at(n.spill)[0], len(key)-inlineKey) == key[inlineKey:]
}

// peek returns the counter of key without touching its recency, or nil.
func (s *memShard) peek(h uint64, key string) *memNode {
	if i := s.find(h, key); i != 0 {
		return s.nodes.at(i)
	}
	return nil
}

// insert adds a zero counter for key (which must be absent, and at most MaxKeyLen long)
// and returns it. Before that it drops up to two counters whose windows ended by now from
// the cold end and, when the shard is full, its least recently used counter.
func (s *memShard) insert(h uint64, key string, now int64) *memNode {
	for k := 0; k < 2 && s.tail != 0 && s.nodes.at(s.tail).ended(now); k++ {
		s.drop(s.tail)
	}
	for s.n >= s.max && s.tail != 0 {
		s.drop(s.tail)
	}
	i := s.nodes.alloc()
	n := s.nodes.at(i)
	n.hash, n.klen = h, uint8(len(key))
	copy(n.key[:], key)
	if len(key) > inlineKey {
		n.spill = s.spill.alloc()
		copy(s.spill.at(n.spill)[:], key[inlineKey:])
	}
	s.index.add(tagOf(h), i)
	s.n++
	s.pushFront(i)
	return n
}

// ended reports a counter whose current and previous windows have both ended at now (unix
// nanoseconds): it counts nothing any more.
func (n *memNode) ended(now int64) bool {
	return n.period > 0 && now/int64(n.period) >= n.idx+2
}

// remove forgets the counter of key (filed under h), if held.
func (s *memShard) remove(h uint64, key string) {
	if i := s.find(h, key); i != 0 {
		s.drop(i)
	}
}

// drop unfiles node i from the index, unlinks it from the LRU list and recycles it.
func (s *memShard) drop(i int32) {
	n := s.nodes.at(i)
	s.index.remove(tagOf(n.hash), i)
	s.unlink(i)
	if n.spill != 0 {
		s.spill.release(n.spill)
	}
	s.nodes.release(i)
	s.n--
}

func (s *memShard) pushFront(i int32) {
	n := s.nodes.at(i)
	n.newer, n.older = 0, s.head
	if s.head != 0 {
		s.nodes.at(s.head).newer = i
	}
	s.head = i
	if s.tail == 0 {
		s.tail = i
	}
}

func (s *memShard) unlink(i int32) {
	n := s.nodes.at(i)
	if n.newer != 0 {
		s.nodes.at(n.newer).older = n.older
	} else {
		s.head = n.older
	}
	if n.older != 0 {
		s.nodes.at(n.older).newer = n.newer
	} else {
		s.tail = n.newer
	}
	n.newer, n.older = 0, 0
}

func (s *memShard) moveFront(i int32) {
	if s.head == i {
		return
	}
	s.unlink(i)
	s.pushFront(i)
}

// slab holds values of a pointer-free type in pages, addressed by an int32 index (0 is
// never handed out: it means "none"), recycling released ones. Pages never move, and the
// garbage collector marks only the page list, not the values.
type slab[T any] struct {
	pages [][]T
	next  int32 // index of the next never-used value
	free  []int32
}

// slabPage is the number of values of a slab page: 128 nodes are 15 KB.
const (
	slabPageBits = 7
	slabPage     = 1 << slabPageBits
	// maxSlab bounds a slab's size (and so a shard's) well inside int32 indexes.
	maxSlab = 1 << 30
)

// at returns value i (which must have been handed out).
func (s *slab[T]) at(i int32) *T {
	return &s.pages[i>>slabPageBits][i&(slabPage-1)]
}

// alloc returns the index of a zero value: a released one, or a new one.
func (s *slab[T]) alloc() int32 {
	if k := len(s.free); k > 0 {
		i := s.free[k-1]
		s.free = s.free[:k-1]
		return i
	}
	if s.next == 0 {
		s.next = 1
	}
	i := s.next
	if int(i>>slabPageBits) == len(s.pages) {
		s.pages = append(s.pages, make([]T, slabPage))
	}
	s.next++
	return i
}

// release zeroes value i and keeps it for alloc.
func (s *slab[T]) release(i int32) {
	var zero T
	*s.at(i) = zero
	s.free = append(s.free, i)
}
