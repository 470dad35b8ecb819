package classify

import (
	"sync"
	"sync/atomic"
)

// buildCache shares what building a classifier computes from its rules between every
// classifier built from the same rules in this process (each Caddy reload, each rule set of
// `floodgate replay --compare`): values are never changed once built, so they are safe to
// share. It holds at most max entries; past that it starts again empty rather than grow.
type buildCache[V any] struct {
	max  int64
	m    sync.Map // string → V
	size atomic.Int64
}

// get returns the value for key, building it with build on a miss.
func (c *buildCache[V]) get(key string, build func() V) V {
	if v, ok := c.m.Load(key); ok {
		return v.(V)
	}
	v := build()
	if c.size.Add(1) > c.max {
		c.m.Clear()
		c.size.Store(1)
	}
	c.m.Store(key, v)
	return v
}
