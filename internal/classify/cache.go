package classify

import (
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// uaCache remembers which rules a User-Agent matched. Most traffic repeats a few thousand
// User-Agents, so most requests skip pattern matching. It is a direct-mapped table: the
// User-Agent's hash picks one slot, which holds the last User-Agent put there. A lookup is
// one hash and one atomic load, no lock: a read-write lock's reader count is written by every
// lookup, and on the few User-Agents of most traffic those writes went to the same shards
// from every core. Memory is bounded: uaCacheSlots entries, each a User-Agent of at most
// MaxUserAgent bytes; two User-Agents on one slot take turns in it.
type uaCache struct {
	slots [uaCacheSlots]atomic.Pointer[uaSlot]
}

// uaCacheSlots is the number of User-Agents the cache holds at most (a power of two).
const uaCacheSlots = 1 << 16

// uaEntry is what the cache keeps for a User-Agent: the rules its User-Agent conditions
// match and the facts the signals need.
type uaEntry struct {
	rules ruleSet
	facts uaFacts
}

// uaSlot is a User-Agent and its entry; never modified once stored.
type uaSlot struct {
	ua string
	e  uaEntry
}

func newUACache() *uaCache { return new(uaCache) }

// slot returns the slot of ua.
func (c *uaCache) slot(ua string) *atomic.Pointer[uaSlot] {
	return &c.slots[xxhash.Sum64String(ua)&(uaCacheSlots-1)]
}

func (c *uaCache) get(ua string) (uaEntry, bool) {
	s := c.slot(ua).Load()
	if s == nil || s.ua != ua {
		return uaEntry{}, false
	}
	return s.e, true
}

func (c *uaCache) put(ua string, e uaEntry) {
	c.slot(ua).Store(&uaSlot{ua: ua, e: e})
}
