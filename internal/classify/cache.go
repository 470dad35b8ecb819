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
	uaCacheShardCap = 2048 // 64k User-Agents in all
	uaCacheMaxLen   = 512  // longer User-Agents are matched every time, not kept
)

type uaShard struct {
	mu sync.RWMutex
	m  map[string]ruleSet
}

func newUACache() *uaCache {
	c := &uaCache{}
	for i := range c.shards {
		c.shards[i].m = make(map[string]ruleSet)
	}
	return c
}

func (c *uaCache) shard(ua string) *uaShard {
	return &c.shards[xxhash.Sum64String(ua)%uaCacheShards]
}

func (c *uaCache) get(ua string) (ruleSet, bool) {
	if len(ua) > uaCacheMaxLen {
		return nil, false
	}
	sh := c.shard(ua)
	sh.mu.RLock()
	s, ok := sh.m[ua]
	sh.mu.RUnlock()
	return s, ok
}

func (c *uaCache) put(ua string, s ruleSet) {
	if len(ua) > uaCacheMaxLen {
		return
	}
	sh := c.shard(ua)
	sh.mu.Lock()
	if len(sh.m) >= uaCacheShardCap {
		sh.m = make(map[string]ruleSet, uaCacheShardCap)
	}
	sh.m[ua] = s
	sh.mu.Unlock()
}
