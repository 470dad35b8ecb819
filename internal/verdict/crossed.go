package verdict

import (
	"sync"
	"time"
)

// crossedSet remembers which counting keys were already reported over budget in their
// current window, so that a flood gives one log line per key and window, not one per request.
// Memory is bounded: when full, it forgets everything (at worst a few repeated lines).
type crossedSet struct {
	mu sync.Mutex
	m  map[string]time.Time
}

const crossedCap = 10000

func newCrossedSet() *crossedSet { return &crossedSet{m: make(map[string]time.Time)} }

// first reports whether key is newly over budget for the window ending at reset.
func (c *crossedSet) first(key string, reset time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if until, ok := c.m[key]; ok && now().Before(until) {
		return false
	}
	if len(c.m) >= crossedCap {
		c.m = make(map[string]time.Time)
	}
	c.m[key] = reset
	return true
}
