package store

import (
	"hash/maphash"
	"sync"
)

// maxShards is the number of lock shards of a table (fewer for tiny tables,
// so that the key bound stays exact).
const maxShards = 64

// table is a bounded, sharded map from key to *V with least-recently-used
// eviction. Callers lock a shard, then use its methods. Every operation is
// O(1); there is no background goroutine. Batched's local counters live in one
// (its sync keeps pointers to entries); Memory has its own, pointer-free memTable.
type table[V any] struct {
	shards []shard[V]
	seed   maphash.Seed
	// dead reports entries that may be dropped before any live one (for
	// example counters whose windows have both ended). May be nil.
	dead func(v *V) bool
	// removed is called, with the shard locked, for every entry the table
	// drops on its own. May be nil.
	removed func(v *V)
}

// shard is one lock's share of a table: a map plus an intrusive LRU list.
type shard[V any] struct {
	mu   sync.Mutex
	m    map[string]*node[V]
	head *node[V] // most recently used
	tail *node[V] // least recently used
	max  int
}

type node[V any] struct {
	key        string
	val        V
	prev, next *node[V]
}

// newTable returns a table holding at most maxKeys entries (at least 1).
func newTable[V any](maxKeys int) *table[V] {
	if maxKeys < 1 {
		maxKeys = 1
	}
	n := 1
	for n*2 <= maxShards && n*2 <= maxKeys {
		n *= 2
	}
	t := &table[V]{shards: make([]shard[V], n), seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*node[V])
		t.shards[i].max = maxKeys / n
	}
	return t
}

// shard returns the index and the shard that own key.
func (t *table[V]) shard(key string) (int, *shard[V]) {
	i := int(maphash.String(t.seed, key) & uint64(len(t.shards)-1))
	return i, &t.shards[i]
}

// len counts the entries (locking each shard in turn).
func (t *table[V]) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// get returns the entry of key, marking it recently used, or nil.
func (s *shard[V]) get(key string) *V {
	n := s.m[key]
	if n == nil {
		return nil
	}
	s.moveFront(n)
	return &n.val
}

// peek returns the entry of key without touching its recency, or nil.
func (s *shard[V]) peek(key string) *V {
	if n := s.m[key]; n != nil {
		return &n.val
	}
	return nil
}

// insert adds a zero entry for key (which must be absent) and returns it.
// Before that it drops up to two dead entries from the cold end and, when
// the shard is full, its least recently used entry.
func (t *table[V]) insert(s *shard[V], key string) *V {
	n := t.add(s)
	n.key = key
	s.m[key] = n
	return &n.val
}

// add makes room as insert says and links a new node, for its caller to key and map.
func (t *table[V]) add(s *shard[V]) *node[V] {
	for i := 0; i < 2 && s.tail != nil && t.dead != nil && t.dead(&s.tail.val); i++ {
		t.drop(s, s.tail)
	}
	for len(s.m) >= s.max && s.tail != nil {
		t.drop(s, s.tail)
	}
	n := new(node[V])
	s.pushFront(n)
	return n
}

// delete removes key from the shard, if present, and returns its entry.
func (s *shard[V]) delete(key string) *V {
	n := s.m[key]
	if n == nil {
		return nil
	}
	delete(s.m, key)
	s.unlink(n)
	return &n.val
}

func (t *table[V]) drop(s *shard[V], n *node[V]) {
	delete(s.m, n.key)
	s.unlink(n)
	if t.removed != nil {
		t.removed(&n.val)
	}
}

func (s *shard[V]) pushFront(n *node[V]) {
	n.prev, n.next = nil, s.head
	if s.head != nil {
		s.head.prev = n
	}
	s.head = n
	if s.tail == nil {
		s.tail = n
	}
}

func (s *shard[V]) unlink(n *node[V]) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		s.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		s.tail = n.prev
	}
	n.prev, n.next = nil, nil
}

func (s *shard[V]) moveFront(n *node[V]) {
	if s.head == n {
		return
	}
	s.unlink(n)
	s.pushFront(n)
}
