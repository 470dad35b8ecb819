package store

import "math/bits"

// memIndex is a memShard's index from a key's hash to its node: open addressing with
// linear probing over one flat slice of 8-byte slots, each the upper 32 bits of the hash
// (its tag) and the node's index. A look-up reads one cache line of slots in the usual
// case, where a Go map of a shard's thousands of counters reads a directory entry, a table
// and a group (three lines, each a likely miss over a million counters), before the node.
//
// A slot's home is computed from its tag alone, so that removing one (backward shift)
// needs no node's hash. Two keys with the same hash have a slot each: a look-up checks
// every slot of the tag, and the node holds the full hash and key. The index keeps at
// most half its slots full, doubling as it fills; it never shrinks (nor did the map).
type memIndex struct {
	slots []uint64 // tag<<32 | node; 0: empty (node 0 is never used)
	n     int      // slots in use
	shift uint8    // 32 - log2(len(slots))
}

// minIndexSlots is an index's first size.
const minIndexSlots = 16

// tagOf is the tag h is filed under.
func tagOf(h uint64) uint32 { return uint32(h >> 32) }

// home is the first slot a tag is looked for in (Fibonacci hashing of the tag: keys the
// tests force onto few hashes still spread).
func (x *memIndex) home(tag uint32) int {
	return int((tag * 0x9E3779B9) >> x.shift)
}

// mask is the slot count less one.
func (x *memIndex) mask() int { return len(x.slots) - 1 }

// add files node under tag (a node is filed once).
func (x *memIndex) add(tag uint32, node int32) {
	if (x.n+1)*2 > len(x.slots) {
		x.grow()
	}
	x.put(uint64(tag)<<32 | uint64(uint32(node)))
	x.n++
}

// put stores slot value s in the first empty slot from its home.
func (x *memIndex) put(s uint64) {
	m := x.mask()
	i := x.home(uint32(s >> 32))
	for x.slots[i] != 0 {
		i = (i + 1) & m
	}
	x.slots[i] = s
}

// grow doubles the slots (or makes the first ones) and files every node again.
func (x *memIndex) grow() {
	old := x.slots
	size := max(minIndexSlots, 2*len(old))
	x.slots = make([]uint64, size)
	x.shift = uint8(32 - bits.TrailingZeros(uint(size)))
	for _, s := range old {
		if s != 0 {
			x.put(s)
		}
	}
}

// remove unfiles node from tag (it must be filed), shifting back the slots after it that
// would no longer be found (linear probing's deletion: no tombstones).
func (x *memIndex) remove(tag uint32, node int32) {
	want := uint64(tag)<<32 | uint64(uint32(node))
	m := x.mask()
	i := x.home(tag)
	for x.slots[i] != want {
		i = (i + 1) & m
	}
	x.n--
	// Slot i is now a hole: move into it the first later slot of the run whose home is not
	// cyclically in (i, j], until the run ends.
	for j := (i + 1) & m; ; j = (j + 1) & m {
		s := x.slots[j]
		if s == 0 {
			break
		}
		h := x.home(uint32(s >> 32))
		// s stays where it is when its home lies cyclically in (i, j].
		if (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			x.slots[i] = s
			i = j
		}
	}
	x.slots[i] = 0
}
