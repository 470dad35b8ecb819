package challenge

import (
	"hash/maphash"
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
// Only challenge answers use it: an allowed request hashes its binding only when it carries a
// cookie, and a table shared with them would churn.
type bindingCache struct {
	seed  maphash.Seed
	slots [bindingSlots]atomic.Pointer[bindingEntry]
}

// bindingSlots bounds the table: 1,024 pairs (a few hundred User-Agents on a few sites), at
// most 1,024 small entries and the strings they hold, whatever the traffic.
const bindingSlots = 1024

// bindingEntry is a pair and its hash; never written once stored.
type bindingEntry struct {
	ua, host string
	h        [pass.HashLen]byte
}

func newBindingCache() *bindingCache { return &bindingCache{seed: maphash.MakeSeed()} }

// hash returns pass.BindingHash(ua, host).
func (bc *bindingCache) hash(ua, host string) [pass.HashLen]byte {
	slot := &bc.slots[(maphash.String(bc.seed, ua)+maphash.String(bc.seed, host))%bindingSlots]
	if e := slot.Load(); e != nil && e.ua == ua && e.host == host {
		return e.h
	}
	h := pass.BindingHash(ua, host)
	slot.Store(&bindingEntry{ua: ua, host: host, h: h})
	return h
}
