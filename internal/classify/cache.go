package classify

import (
	"sync"

	"github.com/cespare/xxhash/v2"
)

// uaCache remembers which rules a User-Agent matched. Most traffic repeats a few thousand
// User-Agents, so most requests skip pattern matching. Memory is bounded: a shard that fills
// up is emptied and starts again.
type uaCache struct {
	shards [uaCacheShards]uaShard
}

const (
	uaCacheShards   = 32
	uaCacheShardCap = 2048 // 64k User-Agents in all; each at most MaxUserAgent bytes
)

// uaEntry is what the cache keeps for a User-Agent: the rules its User-Agent conditions
// match and the facts the signals need.
type uaEntry struct {
	rules ruleSet
	facts uaFacts
}

type uaShard struct {
	mu sync.RWMutex
	m  map[string]uaEntry
}

func newUACache() *uaCache {
	c := &uaCache{}
	for i := range c.shards {
		c.shards[i].m = make(map[string]uaEntry)
	}
	return c
}

func (c *uaCache) shard(ua string) *uaShard {
	return &c.shards[xxhash.Sum64String(ua)%uaCacheShards]
}

func (c *uaCache) get(ua string) (uaEntry, bool) {
	sh := c.shard(ua)
	sh.mu.RLock()
	s, ok := sh.m[ua]
	sh.mu.RUnlock()
	return s, ok
}

func (c *uaCache) put(ua string, s uaEntry) {
	sh := c.shard(ua)
	sh.mu.Lock()
	if len(sh.m) >= uaCacheShardCap {
		sh.m = make(map[string]uaEntry, uaCacheShardCap)
	}
	sh.m[ua] = s
	sh.mu.Unlock()
}
