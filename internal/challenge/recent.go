package challenge

import (
	"hash/maphash"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/floodgate-proxy/floodgate/internal/pass"
)

// recentChallenges remembers, approximately, which clients (network and binding) were
// served a cookie challenge in the last recentWindow, so that the page can refresh at once
// for a browser that keeps cookies (it comes back with its pass: the page one round trip
// later) while a client that drops them is slowed to one reload a second instead of a
// tight loop. It is a fixed table of recentSlots words, 32 KiB whatever the traffic; a
// collision only delays someone's refresh by a second.
type recentChallenges struct {
	seed  maphash.Seed
	slots [recentSlots]atomic.Uint64 // tag (upper 40 bits of the hash) | milliseconds (24 bits)
}

const (
	recentSlots  = 4096
	recentWindow = 3 * time.Second
	msBits       = 24
	msMask       = 1<<msBits - 1
)

func newRecentChallenges() *recentChallenges {
	return &recentChallenges{seed: maphash.MakeSeed()}
}

// seen records a cookie challenge for the client (network prefix, binding hash bh) at t and reports whether it was served
// one within recentWindow before.
func (rc *recentChallenges) seen(prefix netip.Prefix, bh [pass.HashLen]byte, t time.Time) bool {
	var h maphash.Hash
	h.SetSeed(rc.seed)
	p := prefix.Masked()
	a := p.Addr().As16()
	h.Write(a[:])
	h.WriteByte(byte(p.Bits()))
	h.Write(bh[:])
	sum := h.Sum64()
	tag := sum &^ msMask
	ms := uint64(t.UnixMilli()) & msMask
	slot := &rc.slots[sum%recentSlots]
	old := slot.Swap(tag | ms)
	return old&^msMask == tag && (ms-old)&msMask < uint64(recentWindow/time.Millisecond)
}
