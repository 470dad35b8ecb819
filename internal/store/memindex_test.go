package store

import (
	"math/rand/v2"
	"testing"
)

// The index against a map, through random adds and removes: tags drawn from few values
// (long runs, the home of many at the end of the slots: runs wrap around) or from all,
// through growth. Every filed node is found by its tag, every removed one is gone, and no
// empty slot lies between a slot and its home.
func TestMemIndexAgainstMap(t *testing.T) {
	for _, tags := range []uint32{1, 3, 40, 1 << 31} {
		rnd := rand.New(rand.NewPCG(uint64(tags), 7))
		var x memIndex
		want := map[int32]uint32{} // node → tag
		next := int32(1)
		for step := 0; step < 20_000; step++ {
			if len(want) > 0 && rnd.IntN(5) < 2 {
				for node, tag := range want { // map order: a random node
					x.remove(tag, node)
					delete(want, node)
					break
				}
			} else {
				tag := uint32(rnd.Uint64N(uint64(tags))) * 0x7fff_ffff
				x.add(tag, next)
				want[next] = tag
				next++
			}
			if step%997 != 0 {
				continue
			}
			if x.n != len(want) || x.n*2 > len(x.slots) {
				t.Fatalf("tags %d, step %d: index holds %d in %d slots, want %d at most half full", tags, step, x.n, len(x.slots), len(want))
			}
			for node, tag := range want {
				if !indexHas(&x, tag, node) {
					t.Fatalf("tags %d, step %d: node %d (tag %x) not found", tags, step, node, tag)
				}
			}
			for i, v := range x.slots {
				if v == 0 {
					continue
				}
				if tag, ok := want[int32(uint32(v))]; !ok || tag != uint32(v>>32) {
					t.Fatalf("tags %d, step %d: slot %d holds %x, not filed", tags, step, i, v)
				}
			}
		}
	}
}

// indexHas reports whether node is found under tag, probing from its home as find does.
func indexHas(x *memIndex, tag uint32, node int32) bool {
	if len(x.slots) == 0 {
		return false
	}
	for i := x.home(tag); x.slots[i] != 0; i = (i + 1) & x.mask() {
		if x.slots[i] == uint64(tag)<<32|uint64(uint32(node)) {
			return true
		}
	}
	return false
}
