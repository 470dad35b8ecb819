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
	m  map[string]crossing
}

// crossing is a key reported over budget and the end of its window.
type crossing struct {
	key   string
	until time.Time
}

const crossedCap = 10000

func newCrossedSet() *crossedSet { return &crossedSet{m: make(map[string]crossing)} }

// first reports whether key is newly over budget for the window ending at reset. It returns
// key as a string: the one it holds when it has one, so that the refusals of a flood after
// the first make none.
func (c *crossedSet) first(key []byte, reset time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[string(key)]
	if ok && now().Before(e.until) {
		return e.key, false
	}
	if !ok {
		e.key = string(key)
	}
	if len(c.m) >= crossedCap {
		c.m = make(map[string]crossing)
	}
	c.m[e.key] = crossing{key: e.key, until: reset}
	return e.key, true
}
