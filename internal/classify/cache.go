package classify

import (
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// uaCache remembers which rules a User-Agent matched. Most traffic repeats a few thousand
// User-Agents, so most requests skip pattern matching. Memory is bounded: a shard that fills
// up is emptied and starts again.
//
// In front of the shards, a direct-mapped table answers the User-Agents asked most often
// without a lock: reading a RWMutex writes its reader count, and a few browser User-Agents
// make most traffic, so two cores hand that cache line back and forth on most requests. A
// front slot holds the last entry found or put there with its User-Agent, compared whole.
type uaCache struct {
	front  [uaFrontSlots]atomic.Pointer[uaSlot]
	shards [uaCacheShards]uaShard
}

const (
	uaCacheShards   = 32
	uaCacheShardCap = 2048 // 64k User-Agents in all; each at most MaxUserAgent bytes
	uaFrontSlots    = 4096 // a pointer each: at most 4,096 entries more than the shards hold
)

// uaEntry is what the cache keeps for a User-Agent: the rules its User-Agent conditions
// match and the facts the signals need.
type uaEntry struct {
	rules ruleSet
	facts uaFacts
}

// A shard maps the User-Agent's hash, computed once per lookup, to the User-Agent and its
// entry (a map keyed by the string would hash it a second time). Two User-Agents with one hash
// take turns in the slot: the stored string is compared before an entry is used.
type uaShard struct {
	mu sync.RWMutex
	m  map[uint64]*uaSlot // shared with the front: promoting an entry copies a pointer
}

type uaSlot struct {
	ua string
	e  uaEntry
}

func newUACache() *uaCache {
	c := &uaCache{}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*uaSlot)
	}
	return c
}

func (c *uaCache) get(ua string) (uaEntry, bool) {
	h := xxhash.Sum64String(ua)
	front := &c.front[(h/uaCacheShards)%uaFrontSlots]
	if s := front.Load(); s != nil && s.ua == ua {
		return s.e, true
	}
	sh := &c.shards[h%uaCacheShards]
	sh.mu.RLock()
	s, ok := sh.m[h]
	sh.mu.RUnlock()
	if !ok || s.ua != ua {
		return uaEntry{}, false
	}
	front.Store(s)
	return s.e, true
}

func (c *uaCache) put(ua string, e uaEntry) {
	h := xxhash.Sum64String(ua)
	sh := &c.shards[h%uaCacheShards]
	sh.mu.Lock()
	if len(sh.m) >= uaCacheShardCap {
		sh.m = make(map[uint64]*uaSlot, uaCacheShardCap)
	}
	s := &uaSlot{ua: ua, e: e}
	sh.m[h] = s
	sh.mu.Unlock()
	c.front[(h/uaCacheShards)%uaFrontSlots].Store(s)
}
