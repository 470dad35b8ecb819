package challenge

import (
	"hash/maphash"
	"net/http"
	"sync/atomic"

	"github.com/floodgate-proxy/floodgate/internal/pass"
)

// A challenge page binds the pass it carries to the browser and the site: a SHA-256 of the
// User-Agent and host (pass.BindingHash), three blocks for a browser's User-Agent. A stealth
// flood is answered a challenge for every request, and its requests share a few browser
// User-Agents over a few sites: the hash was a tenth of a challenge answer's instructions
// (BenchmarkHandlerChallenge under callgrind, about 7,400 of 74,000). So the challenger
// remembers the hashes of recent pairs in a fixed table, each slot holding the pair it was
// made for — compared whole, so a hash is never another pair's — and made again on a miss.
//
// Challenge pages have a table of their own; the visitor cookies and passes of allowed
// requests another (Challenger.visits), so that neither churns the other's: a cookieless
// browser is given a visitor cookie on every page until it keeps one, and a flood of them
// (one browser User-Agent over many sites and addresses) hashed three SHA-256 blocks for
// each (BenchmarkHandlerDecision's browser-allowed profile: 6 % of its samples).
type bindingCache struct {
	seed  maphash.Seed
	slots []atomic.Pointer[bindingEntry]
}

// bindingSlots bounds a table: 1,024 pairs (a few hundred User-Agents on a few sites), at
// most 1,024 small entries and the strings they hold, whatever the traffic.
const bindingSlots = 1024

// visitBindingSlots is the allowed requests' table: a few browser User-Agents over the
// sites of a shared host (2,000 in the overhead benchmark).
const visitBindingSlots = 4096

// maxBindingPair is the longest User-Agent and host, together, a table keeps: a longer pair
// is hashed every time, so that a table pins at most slots × maxBindingPair bytes of
// clients' headers, whatever they send. Browsers' User-Agents are under 512 bytes
// (classify.MaxUserAgent), hosts at most 253.
const maxBindingPair = 768

// bindingEntry is a pair and its hash; never written once stored.
type bindingEntry struct {
	ua, host string
	h        [pass.HashLen]byte
}

// newBindingCache returns a table of n slots (a power of two).
func newBindingCache(n int) *bindingCache {
	return &bindingCache{seed: maphash.MakeSeed(), slots: make([]atomic.Pointer[bindingEntry], n)}
}

// hash returns pass.BindingHash(ua, host).
func (bc *bindingCache) hash(ua, host string) [pass.HashLen]byte {
	if len(ua)+len(host) > maxBindingPair {
		return pass.BindingHash(ua, host)
	}
	slot := &bc.slots[(maphash.String(bc.seed, ua)+maphash.String(bc.seed, host))&uint64(len(bc.slots)-1)]
	if e := slot.Load(); e != nil && e.ua == ua && e.host == host {
		return e.h
	}
	h := pass.BindingHash(ua, host)
	slot.Store(&bindingEntry{ua: ua, host: host, h: h})
	return h
}

// visitBinding returns the binding hash of r (bindingHash), from the table of allowed requests.
func (c *Challenger) visitBinding(r *http.Request) [pass.HashLen]byte {
	return c.visits.hash(r.UserAgent(), hostOf(r))
}
